"""What a GPU's compute buffer gains when weights stay in RAM or the model spans GPUs.

The compute buffer of ``sizing.compute_buffer`` is the graph of one fully offloaded
device. llama.cpp's scheduler (``ggml_backend_sched`` in ``ggml/src/ggml-backend.cpp``)
adds two things to it, both modelled here after its rules:

* **Weight copies under partial offload.** ``ggml_backend_sched_split_graph`` gives an op
  whose weight sits in a host buffer to a GPU backend when that backend's ``offload_op``
  accepts it, and the weight becomes an input of the GPU split, copied into the GPU's
  compute buffer (llama.cpp PR #6083). CUDA/HIP accept it for batches of 32 or more
  (``ggml_backend_cuda_device_offload_op`` in ``ggml/src/ggml-cuda/ggml-cuda.cu``:
  ``min_batch_size = 32``, ``MUL_MAT_ID`` counted by ``ne[2]``); Vulkan and SYCL have the
  same rule. The reserve graph runs ``n_ubatch`` tokens, so with ``-ub`` ≥ 32 the buffer
  holds the host-resident matmul weights of one layer's split: the largest such layer.
  gguf-parser-go #45 measured 1.2–2.7× the full-offload buffer for partial offloads.
* **Pipeline-parallel input copies.** With several GPUs, every layer offloaded, layer
  split and no tensor overrides (``llama_context`` in ``src/llama-context.cpp`` sets
  ``pipeline_parallel`` only then), the scheduler keeps ``GGML_SCHED_MAX_COPIES`` (4)
  copies of each split's inputs so micro-batches overlap. A device's inputs are the
  residual stream (``n_ubatch × n_embd`` F32) and the attention masks (``n_kv × n_ubatch``,
  F16 with flash attention): three extra copies, about 0.4 GiB per device at 128K.

Unified memory (Apple, Strix Halo, DGX Spark) copies nothing: host and GPU share the
pages. Pure functions of per-layer traffic; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from sizing.core.traffic import LayerTraffic

OP_OFFLOAD_MIN_BATCH = 32  # ggml-cuda.cu ggml_backend_cuda_device_offload_op
OP_OFFLOAD_BACKENDS = frozenset({"cuda", "rocm", "vulkan", "sycl"})
SCHED_MAX_COPIES = 4  # GGML_SCHED_MAX_COPIES (ggml/include/ggml-backend.h)
KV_PAD = 256
MASK_BYTES = 2  # F16 mask with flash attention (llama-graph.cpp build_attn_inp_kq_mask)


def weight_copy_bytes(
    host_layers: Iterable[LayerTraffic],
    host_expert_layers: Iterable[LayerTraffic],
    *,
    backend: str,
    n_ubatch: int,
    unified: bool = False,
) -> int:
    """Bytes of host-resident weights the GPU copies into its compute buffer for the
    largest layer: whole layers left on the CPU, or the experts of ``--n-cpu-moe`` layers."""
    if not copies_weights(backend=backend, n_ubatch=n_ubatch, unified=unified):
        return 0
    per_layer: dict[int, int] = {}
    for layer in host_layers:
        per_layer[layer.index] = layer.dense_bytes + layer.expert_bytes
    for layer in host_expert_layers:
        per_layer.setdefault(layer.index, layer.expert_bytes)
    return max(per_layer.values(), default=0)


def copies_weights(*, backend: str, n_ubatch: int, unified: bool = False) -> bool:
    """Whether the GPU copies host-resident weights into its compute buffer at all
    (``weight_copy_bytes`` is then the largest host layer, else 0)."""
    return not unified and backend in OP_OFFLOAD_BACKENDS and n_ubatch >= OP_OFFLOAD_MIN_BATCH


def pipeline_input_bytes(layers: Iterable[LayerTraffic], *, hidden_size: int, ctx: int, n_ubatch: int) -> int:
    """One copy of a device's split inputs: the residual stream and the attention masks."""
    ls = list(layers)
    cells_full = -(-ctx // KV_PAD) * KV_PAD
    masks = 0
    if any(layer.window is None for layer in ls):
        masks += cells_full * n_ubatch * MASK_BYTES
    windows = [layer.window for layer in ls if layer.window is not None]
    if windows:
        swa = min(cells_full, -(-(max(windows) + n_ubatch) // KV_PAD) * KV_PAD)
        masks += swa * n_ubatch * MASK_BYTES
    return n_ubatch * hidden_size * 4 + masks


def pipeline_copy_bytes(layers: Iterable[LayerTraffic], *, hidden_size: int, ctx: int, n_ubatch: int) -> int:
    """Extra bytes per GPU for the scheduler's other copies of its split inputs."""
    return (SCHED_MAX_COPIES - 1) * pipeline_input_bytes(layers, hidden_size=hidden_size, ctx=ctx, n_ubatch=n_ubatch)


def pipeline_parallel(
    n_gpus: int, *, all_layers_on_gpu: bool, split_mode: str, tensor_overrides: bool, unified: bool = False
) -> bool:
    """llama_context's condition for a pipeline-parallel scheduler."""
    return n_gpus > 1 and all_layers_on_gpu and split_mode == "layer" and not tensor_overrides and not unified

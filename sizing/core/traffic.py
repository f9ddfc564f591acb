"""The traffic model: what a decoded token reads and computes, per layer and per device.

Placement assigns layers and experts to devices; speed turns each device's work into
time. Both need the same per-layer bytes and FLOPs, so they live here, below both.
Pure: no I/O.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from sizing.errors import SizingError
from sizing.core.arch import ModelArch
from sizing.core.fastmodel import build
from sizing.core.tensors import TensorSpec, tensor_role


DeviceKind = Literal["gpu", "cpu", "unified"]


#: ggml weight types a GPU multiplies without dequantizing
FLOAT_MATRIX_TYPES = frozenset({"F16", "BF16", "F32"})


class DeviceRate(BaseModel):
    """What a device can stream and compute, as its datasheet states it."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: DeviceKind
    backend: str = Field(description="llama.cpp backend driving it: cuda, metal, rocm, …")
    bandwidth_gbs: float = Field(gt=0)
    matmul_tflops: float | None = Field(
        None, gt=0, description="dense FP16 matrix peak, FP16 accumulate (sizing.core.gpu.matrix_peak_tflops)"
    )
    bf16_tflops: float | None = Field(
        None,
        gt=0,
        description=(
            "dense BF16 matrix peak: BF16 tensor products accumulate in FP32 only, so the stated "
            "FP32-accumulate figure (half of matmul_tflops on GeForce boards, equal elsewhere)"
        ),
    )
    threads: int | None = Field(None, gt=0, description="CPU threads used (CPU devices)")
    clock_ghz: float | None = Field(
        None,
        gt=0,
        description=(
            "CPU: the highest clock the system states for a core (max turbo where the OS knows it, "
            "else the nominal clock a VM reports); a thread's decode rate scales with it"
        ),
    )
    family: str | None = Field(None, description="GPU architecture, e.g. 'xe-hpg' (Alchemist)")
    cpu_vendor: str | None = Field(
        None,
        description=(
            "CPU: the CPUID vendor ('GenuineIntel', 'AuthenticAMD'): llama.cpp's decode kernels "
            "rank the weight types differently on each maker's cores (speed_calibration's "
            "decode_kernel_speed_by_vendor); None: the default table"
        ),
    )
    hbm: bool = Field(
        False,
        description=(
            "stacked HBM memory (A100, H100, MI300X): decode reaches a smaller share of its datasheet "
            "bandwidth than on a GDDR card (sizing.core.speed.estimate.effective_bandwidth)"
        ),
    )
    gpu_cores: int | None = Field(None, gt=0, description="Apple GPU cores (prefill scales with them)")
    chip: str | None = Field(
        None,
        description=(
            "the device's id in data/gpus.yaml: a chip whose own prompt runs are in the speed data "
            "has its own prompt factors (a handheld's iGPU and a mini PC's of one architecture "
            "run at very different power)"
        ),
    )
    board_power_w: float | None = Field(
        None,
        gt=0,
        description=(
            "board power limit (TDP): a long prompt keeps the matrix units busy, and a card whose "
            "power is low for its peak runs them at lower clocks (prefill_gflops_per_watt)"
        ),
    )
    vector_tflops: float | None = Field(
        None,
        gt=0,
        description=(
            "FP32 vector peak (shaders × 2 × boost clock) of a GPU without matrix units that "
            "llama.cpp uses: its matrix products run on the shader ALUs"
        ),
    )


class LayerTraffic(BaseModel):
    """One transformer block: what it holds, what a token reads, what a token costs."""

    model_config = ConfigDict(frozen=True)

    index: int
    dense_bytes: int = Field(description="attention, dense/shared FFN, norms: read every token")
    expert_bytes: int = Field(0, description="all routed experts (resident)")
    expert_fraction: float = Field(0.0, description="n_experts_used / n_experts")
    kv_bytes_per_cell: float = Field(0.0, description="K+V bytes per cached token, one sequence")
    window: int | None = Field(None, description="sliding window: cells read are capped here")
    active_params: float = Field(description="parameters one token multiplies by")
    attn_flops_per_cell: float = Field(0.0, description="attention FLOPs per cached token")
    attn_heads: int = Field(0, description="query heads that attend over the cache (0: no attention)")

    @property
    def total_bytes(self) -> int:
        return self.dense_bytes + self.expert_bytes

    def expert_read_bytes(self, n_tokens: int = 1) -> float:
        """Expert bytes a step of ``n_tokens`` touches: distinct experts hit by the batch."""
        if not self.expert_bytes:
            return 0.0
        touched = 1.0 - (1.0 - self.expert_fraction) ** max(1, n_tokens)
        return self.expert_bytes * touched


class ModelTraffic(BaseModel):
    """A model as per-layer traffic, which placement splits across devices."""

    model_config = ConfigDict(frozen=True)

    layers: tuple[LayerTraffic, ...]
    embd_bytes: int = Field(0, description="token embeddings: resident, one row read per token")
    output_bytes: int = Field(0, description="output projection (or tied embeddings): read every token")
    output_params: int = 0
    other_bytes: int = Field(0, description="final norm and other model-level tensors")
    idle_bytes: int = Field(0, description="resident but not run while decoding (e.g. MTP blocks)")
    hidden_size: int = Field(0, description="n_embd: sizes the activations devices pass on")
    output_tied: bool = Field(
        False,
        description=(
            "the output projection is the embedding matrix: llama.cpp loads it a second time "
            "(TENSOR_DUPLICATED) where the output layer runs"
        ),
    )

    matrix_types: tuple[tuple[str, float], ...] = Field(
        (),
        description=(
            "share of the blocks' matrix parameters per ggml type (what a prompt token multiplies "
            "by; the output projection runs for the last token only): CPU kernels run at "
            "different speeds per type (sizing.core.speed.cpu)"
        ),
    )
    read_types: tuple[tuple[str, float], ...] = Field(
        (),
        description=(
            "share of the matrix bytes a decoded token reads per ggml type (the blocks, their active "
            "experts and the output projection): a CPU thread's matrix-vector kernels stream some "
            "types faster than others (sizing.core.speed.cpu.decode_kernel_factor)"
        ),
    )
    experts_float: bool = Field(
        False, description="routed experts stored unquantized (F16/BF16/F32): see DeviceWork.experts_float"
    )
    expert_type: str = Field(
        "", description="the ggml type most routed-expert weights are stored in: see DeviceWork.expert_type"
    )
    kv_quantized: bool = Field(False, description="the cache's K or V is a quantized type: see DeviceWork.kv_quantized")

    @property
    def total_bytes(self) -> int:
        """Bytes of the file's tensors (the tied output counted once)."""
        out = 0 if self.output_tied else self.output_bytes
        return (
            self.embd_bytes + out + self.other_bytes + self.idle_bytes + sum(layer.total_bytes for layer in self.layers)
        )

    @property
    def active_params(self) -> float:
        return self.output_params + sum(layer.active_params for layer in self.layers)

    @property
    def read_bytes_per_token(self) -> float:
        """Weight bytes one decoded token reads (embedding: one row, neglected)."""
        return (
            self.output_bytes
            + self.other_bytes
            + sum(layer.dense_bytes + layer.expert_read_bytes(1) for layer in self.layers)
        )


class DeviceWork(BaseModel):
    """The share of one token's work that lands on one device."""

    model_config = ConfigDict(frozen=True)

    device: DeviceRate
    layers: int = 0
    dense_bytes: float = Field(0.0, description="weights read every token")
    expert_bytes: float = Field(0.0, description="routed-expert weights resident here")
    expert_fraction: float = 0.0
    kv_full_per_cell: float = Field(0.0, description="KV bytes per cached token (full-attention layers)")
    kv_windowed: tuple[tuple[float, int], ...] = Field(
        (), description="(KV bytes per cell, window) for sliding-window layers"
    )
    flops_per_token: float = 0.0
    attn_flops_per_cell: float = Field(0.0, description="attention FLOPs per cached token, every layer's")
    attn_heads_per_cell: float = Field(0.0, description="query heads attending over each cached token, every layer's")
    attn_windowed: tuple[tuple[float, float, int], ...] = Field(
        (),
        description=(
            "(attention FLOPs per cell, query heads, window) of the sliding-window layers (part of "
            "attn_flops_per_cell and attn_heads_per_cell): a query there attends to at most its window's cells"
        ),
    )
    expert_flops_per_token: float = Field(
        0.0, ge=0, description="the routed-expert share of flops_per_token (small gathered matrix products)"
    )
    moe_layers: int = Field(
        0,
        ge=0,
        description=(
            "layers whose routed experts run here: each pays a fixed cost per token (router, "
            "top-k, gathered expert products, weighting) that its bytes do not describe"
        ),
    )
    experts_float: bool = Field(
        False,
        description=(
            "its routed experts are stored unquantized (F16/BF16/F32): llama.cpp's GPU backends "
            "gather quantized experts into one matrix kernel, while float experts take a slower "
            "path whose fixed cost per expert product is larger (moe_prefill_tokens_float)"
        ),
    )
    expert_type: str = Field(
        "",
        description=(
            "the ggml type most of its routed-expert weights are stored in ('' without experts): "
            "some backends' gathered expert kernels cost a type of their own per MoE layer "
            "(BackendCalibration.moe_layer_launch_ms_by_type)"
        ),
    )
    matrix_types: tuple[tuple[str, float], ...] = Field(
        (), description="share of the matrix parameters per ggml type (the model's mix)"
    )
    read_types: tuple[tuple[str, float], ...] = Field(
        (), description="share of a decoded token's matrix bytes per ggml type (the model's, as ModelTraffic)"
    )
    output_flops_per_token: float = Field(
        0.0,
        ge=0,
        description=(
            "the output projection's share of flops_per_token: a prompt needs logits for its "
            "last token only (llama.cpp computes n_outputs = 1), so prefill pays it once"
        ),
    )
    repacked: bool = Field(
        True,
        description=(
            "on a CPU: its weights run through CPU_REPACK's interleaved kernels where their type "
            "has one (False beside most GPUs, whose pinned host buffer takes them first, and "
            "with --no-repack: sizing.core.placement.host_repacks)"
        ),
    )
    offload_link_gbs: float | None = Field(
        None,
        description=(
            "host layers next to a GPU: llama.cpp copies their weights over this link to run "
            "large prompt batches on the GPU, so such a batch costs that copy and the GPU's products"
        ),
    )

    kv_quantized: bool = Field(
        False,
        description=(
            "the cache's K or V is a quantized type (q8_0, q4_0...): a GPU's attention kernel "
            "dequantizes each cached row it reads, which costs time its bytes do not show "
            "(BackendCalibration.decode_kv_quant_scale)"
        ),
    )

    def weight_read_bytes(self, n_tokens: int = 1) -> float:
        return self.dense_bytes + self.expert_read_bytes(n_tokens)

    def expert_read_bytes(self, n_tokens: int = 1) -> float:
        """Routed-expert bytes a step of ``n_tokens`` touches: distinct experts hit by the batch."""
        if not self.expert_bytes:
            return 0.0
        return self.expert_bytes * (1.0 - (1.0 - self.expert_fraction) ** max(1, n_tokens))

    def kv_read_bytes(self, depth: int) -> float:
        """KV bytes one sequence reads to attend over ``depth`` cached tokens."""
        total = self.kv_full_per_cell * depth
        for per_cell, window in self.kv_windowed:
            total += per_cell * min(depth, window)
        return total

    def attention_flops(self, depth: float) -> float:
        """Attention FLOPs one query spends over ``depth`` cached tokens (Q·K and the
        weighted sum of V, every head): a sliding-window layer's cells stop at its window."""
        total = self.attn_flops_per_cell * depth
        for per_cell, _, window in self.attn_windowed:
            total -= per_cell * max(0.0, depth - window)
        return total

    def attention_head_cells(self, depth: float) -> float:
        """(query head, cached cell) pairs one query visits at ``depth``: a CPU pays a fixed
        cost for each (a softmax step) on top of the FLOPs."""
        total = self.attn_heads_per_cell * depth
        for _, heads, window in self.attn_windowed:
            total -= heads * max(0.0, depth - window)
        return total


def model_traffic(
    arch: ModelArch, tensors: Sequence[TensorSpec], kv_type_k: str = "f16", kv_type_v: str = "f16"
) -> ModelTraffic:
    """Per-layer traffic from typed tensors (from a GGUF header or the quant recipe)."""
    if any(t.ggml_type is None for t in tensors):
        raise SizingError("model_traffic needs typed tensors (apply the quant recipe first)")
    triples = [(t.name, t.shape, t.ggml_type) for t in tensors]
    return _traffic_of(arch, _weight_bytes(arch, triples), kv_type_k, kv_type_v)  # type: ignore[arg-type]


def recipe_traffic(arch: ModelArch, quant: str, kv_type_k: str = "f16", kv_type_v: str = "f16") -> ModelTraffic:
    """``model_traffic`` of ``arch`` typed by ``quant``'s recipe, from a cache of the per-layer
    bytes (a model seen again, at any KV types, is not typed again)."""
    return _traffic_of(arch, _recipe_bytes(arch, quant), kv_type_k, kv_type_v)


class _WeightBytes(NamedTuple):
    """The tensor pass of ``model_traffic``: what does not depend on the KV cache types.
    Per-layer values in arrays (8 bytes each): ~1.5 KiB for a 40-layer model."""

    dense: array
    expert: array
    params: array
    embd: int
    output: int
    output_params: int
    other: int
    idle: int
    tied: bool
    mix: tuple[tuple[str, float], ...]
    experts_float: bool = False
    read_mix: tuple[tuple[str, float], ...] = ()
    expert_type: str = ""


# Every catalog model at every quant of the ladder (159 x 7) fits, at ~1.5 KiB each.
@lru_cache(maxsize=2048)
def _recipe_bytes(arch: ModelArch, quant: str) -> _WeightBytes:
    from sizing.core.quant import recipe_types

    return _weight_bytes(arch, recipe_types(arch, quant))


def _weight_bytes(arch: ModelArch, tensors: Iterable[tuple[str, tuple[int, ...], str]]) -> _WeightBytes:
    from sizing.core.quant import _nbytes as nbytes

    n = arch.n_layers
    dense = [0] * n
    expert = [0] * n
    params = [0.0] * n
    frac = arch.n_experts_used / arch.n_experts if arch.is_moe else 0.0
    embd = output = other = idle = 0
    output_params = 0
    tied_params = 0
    type_params: dict[str, float] = {}
    type_read: dict[str, float] = {}
    embd_type = output_type = ""
    expert_params = float_expert_params = 0.0
    expert_type_params: dict[str, float] = {}
    for name, shape, typ in tensors:
        b = nbytes(typ, shape)
        i, is_expert, n_elements, weight, matrix = tensor_role(name, shape)
        if matrix and weight and 0 <= i < n:
            share = frac if is_expert else 1.0  # a token multiplies by its active experts only
            type_params[str(typ)] = type_params.get(str(typ), 0.0) + n_elements * share
            type_read[str(typ)] = type_read.get(str(typ), 0.0) + b * share
        if 0 <= i < n:
            if is_expert:
                expert[i] += b
                params[i] += n_elements * frac if weight else 0
                if weight and matrix:
                    expert_params += n_elements
                    key = str(typ).upper()
                    expert_type_params[key] = expert_type_params.get(key, 0.0) + n_elements
                    if str(typ).upper() in FLOAT_MATRIX_TYPES:
                        float_expert_params += n_elements
            else:
                dense[i] += b
                params[i] += n_elements if weight else 0
        elif name.startswith("token_embd"):
            embd += b
            tied_params = n_elements
            embd_type = str(typ)
        elif name.startswith("output.weight"):
            output += b
            output_params = n_elements
            output_type = str(typ)
        elif i >= n:  # e.g. multi-token-prediction blocks: resident, not run while decoding
            idle += b
        else:
            other += b
    tied = False
    if not output:  # no output.weight: llama.cpp reuses token_embd as the output projection
        output_params = tied_params
        output = embd  # read in full each token, from its own copy where the output runs
        output_type = embd_type
        tied = True
    all_params = sum(type_params.values())
    mix = tuple(sorted((k, v / all_params) for k, v in type_params.items())) if all_params else ()
    if output and output_type:
        type_read[output_type] = type_read.get(output_type, 0.0) + output
    all_read = sum(type_read.values())
    read_mix = tuple(sorted((k, v / all_read) for k, v in type_read.items())) if all_read else ()
    return _WeightBytes(
        array("q", dense),
        array("q", expert),
        array("d", params),
        embd,
        output,
        output_params,
        other,
        idle,
        tied,
        mix,
        experts_float=bool(expert_params) and float_expert_params * 2 >= expert_params,
        read_mix=read_mix,
        expert_type=max(expert_type_params, key=lambda t: expert_type_params[t]) if expert_type_params else "",
    )


UNQUANTIZED_KV = ("f16", "bf16", "f32")


def _traffic_of(arch: ModelArch, w: _WeightBytes, kv_type_k: str, kv_type_v: str) -> ModelTraffic:
    from sizing.core.quant import kv_bytes_per_element

    n = arch.n_layers
    dense, expert, params = w.dense, w.expert, w.params
    frac = arch.n_experts_used / arch.n_experts if arch.is_moe else 0.0
    bk, bv = kv_bytes_per_element(kv_type_k), kv_bytes_per_element(kv_type_v)
    swa = arch.swa_flags
    att = arch.attention_flags  # recurrent and FFN-only blocks read no KV
    layers = []
    for i in range(n):
        heads = arch.n_heads if att[i] else 0
        if not att[i]:
            kv_cell, attn = 0.0, 0.0
        elif arch.is_mla:
            width = arch.kv_lora_rank + arch.qk_rope_head_dim
            kv_cell = width * bk
            attn = 2.0 * arch.n_heads * (width + arch.kv_lora_rank)
        else:
            kv_cell = arch.n_kv_heads * (arch.head_dim_k * bk + arch.head_dim_v * bv)
            attn = 2.0 * arch.n_heads * (arch.head_dim_k + arch.head_dim_v)
        layers.append(  # every field given, each already of its type: no validation needed
            build(
                LayerTraffic,
                index=i,
                dense_bytes=dense[i],
                expert_bytes=expert[i],
                expert_fraction=frac if expert[i] else 0.0,
                kv_bytes_per_cell=kv_cell,
                window=arch.sliding_window if swa[i] else None,
                active_params=params[i],
                attn_flops_per_cell=attn,
                attn_heads=heads,
            )
        )
    return ModelTraffic(
        layers=tuple(layers),
        embd_bytes=w.embd,
        output_bytes=w.output,
        output_params=w.output_params,
        other_bytes=w.other,
        idle_bytes=w.idle,
        output_tied=w.tied,
        hidden_size=arch.hidden_size,
        matrix_types=w.mix,
        read_types=w.read_mix,
        experts_float=w.experts_float,
        expert_type=w.expert_type,
        kv_quantized=any(t.lower() not in UNQUANTIZED_KV for t in (kv_type_k, kv_type_v)),
    )


def single_device_work(traffic: ModelTraffic, device: DeviceRate) -> DeviceWork:
    """Everything on one device (a GPU that holds the whole model, a Mac, a CPU)."""
    return work_for_layers(traffic, device, traffic.layers, with_output=True)


def work_for_layers(
    traffic: ModelTraffic,
    device: DeviceRate,
    layers: Iterable[LayerTraffic],
    *,
    with_output: bool = False,
    experts: bool = True,
    dense: bool = True,
) -> DeviceWork:
    """The work of some layers (optionally only their dense or only their expert part)."""
    d = e = kv_full = flops = attn = eflops = 0.0
    frac = 0.0
    windowed: dict[int, float] = {}
    attn_windowed: dict[int, tuple[float, float]] = {}
    heads = 0.0
    count = moe = 0
    for layer in layers:
        count += 1
        if dense:
            d += layer.dense_bytes
            dense_params = layer.active_params - _expert_active_params(layer)
            flops += 2.0 * dense_params
            attn += layer.attn_flops_per_cell
            heads += layer.attn_heads
            if layer.window is None:
                kv_full += layer.kv_bytes_per_cell
            else:
                windowed[layer.window] = windowed.get(layer.window, 0.0) + layer.kv_bytes_per_cell
                f, h = attn_windowed.get(layer.window, (0.0, 0.0))
                attn_windowed[layer.window] = (f + layer.attn_flops_per_cell, h + layer.attn_heads)
        if experts and layer.expert_bytes:
            moe += 1
            e += layer.expert_bytes
            frac = layer.expert_fraction
            flops += 2.0 * _expert_active_params(layer)
            eflops += 2.0 * _expert_active_params(layer)
    out_flops = 0.0
    if with_output:
        d += traffic.output_bytes + traffic.other_bytes
        out_flops = 2.0 * traffic.output_params
        flops += out_flops
    return DeviceWork(
        device=device,
        layers=count,
        dense_bytes=d,
        expert_bytes=e,
        expert_fraction=frac,
        kv_full_per_cell=kv_full,
        kv_windowed=tuple((v, w) for w, v in sorted(windowed.items())),
        flops_per_token=flops,
        attn_flops_per_cell=attn,
        attn_heads_per_cell=heads,
        attn_windowed=tuple((f, h, w) for w, (f, h) in sorted(attn_windowed.items()) if f),
        matrix_types=traffic.matrix_types,
        read_types=traffic.read_types,
        output_flops_per_token=out_flops,
        expert_flops_per_token=eflops,
        moe_layers=moe,
        experts_float=traffic.experts_float and bool(eflops),
        expert_type=traffic.expert_type if eflops else "",
        kv_quantized=traffic.kv_quantized,
    )


def _expert_active_params(layer: LayerTraffic) -> float:
    """Active expert parameters of a layer, from its share of bytes (same quant per layer)."""
    if not layer.expert_bytes:
        return 0.0
    total = layer.dense_bytes + layer.expert_read_bytes(1)
    return layer.active_params * layer.expert_read_bytes(1) / total if total else 0.0

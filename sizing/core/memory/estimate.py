"""Memory llama.cpp needs for one scenario: weights, KV cache, compute, overhead.

Pure function of a :class:`~sizing.core.scenario.Scenario`. Each part is computed the way
llama.cpp sizes the buffer it logs, so ``tests/test_memory_truth.py`` can hold every part
against llama.cpp's own numbers:

* weights: every tensor's exact bytes (from a GGUF header, or typed by the quant recipe),
  each padded to the GGUF data alignment; on the CPU backend llama.cpp also copies the
  matrices of some types into a ``CPU_REPACK`` buffer, reported as its own item;
* KV cache: :mod:`sizing.core.memory.kv_cache`;
* compute: :mod:`sizing.core.memory.compute_buffer`, plus the logits (output) buffer;
* overhead: :mod:`sizing.core.memory.overhead` (driver context, process heap).

Claimed accuracy against llama.cpp's logged buffers (CPU backend, asserted by the truth
tests for 10 architectures): weights and KV cache within 0.5%, compute within 10% with
flash attention (25% without), total within 2% or 64 MiB, whichever is larger.

With a GPU backend the scenario means full offload: every weight except the token
embeddings (which llama.cpp keeps on the host) and all of KV and compute go to the device.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict

from sizing.core.memory.compute_buffer import ComputeEstimate, estimate_compute_buffer
from sizing.errors import SizingError
from sizing.core.fastmodel import build
from sizing.core.memo import Keyed
from sizing.core.memory.kv_cache import ContextSize, KVCacheEstimate, estimate_kv_cache
from sizing.core.arch import ModelArch
from sizing.core.tensors import TensorSpec, tensor_role
from sizing.core.memory.overhead import load_overheads
from sizing.core.quant import TypedTensor, _nbytes, file_quant, native_note, recipe_types, tensor_bytes
from sizing.core.scenario import Basis, MemoryParts, Scenario
from sizing.units import GIB, MIB

GGUF_ALIGNMENT = 32  # general.alignment default: each tensor's data starts on it
# ggml-cpu "extra" buffer type on x86-64 with AVX2 (ggml-cpu/repack.cpp): matrices of these
# types are copied into interleaved layouts when their row count divides by 8.
REPACK_TYPES = frozenset({"Q4_0", "Q4_K", "IQ4_NL", "MXFP4"})
REPACK_ROWS = 8

Part = Literal["weights", "kv_cache", "compute", "overhead"]
Device = Literal["host", "gpu"]


class MemoryItem(BaseModel):
    """One buffer (or group of buffers) and the part and device it counts toward."""

    model_config = ConfigDict(frozen=True)

    name: str
    part: Part
    device: Device
    bytes: int
    note: str = ""
    reclaimable: int = 0  # of these bytes, clean file pages the OS may drop


class MemoryEstimate(BaseModel):
    """Estimated memory of one scenario, by part, device and buffer, with its basis."""

    model_config = ConfigDict(frozen=True)

    params: int
    active_params: int
    parts: MemoryParts
    devices: dict[str, MemoryParts]
    items: tuple[MemoryItem, ...]
    basis: tuple[Basis, ...]
    context: ContextSize
    kv: KVCacheEstimate
    compute: ComputeEstimate

    @property
    def total_bytes(self) -> int:
        return self.parts.total_bytes

    @property
    def weights_bytes(self) -> int:
        return self.parts.weights_bytes

    @property
    def kv_cache_bytes(self) -> int:
        return self.parts.kv_cache_bytes

    @property
    def compute_bytes(self) -> int:
        return self.parts.compute_bytes

    @property
    def overhead_bytes(self) -> int:
        return self.parts.overhead_bytes

    @property
    def reclaimable_bytes(self) -> int:
        return self.parts.reclaimable_bytes

    @property
    def resident_bytes(self) -> int:
        return self.parts.resident_bytes

    def item(self, name: str) -> MemoryItem | None:
        return next((i for i in self.items if i.name == name), None)


# --- weights ------------------------------------------------------------------------------


class WeightsSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    total: int  # every tensor, aligned as in the file
    token_embd: int
    repack: int  # what the CPU backend copies again
    params: int
    active_params: int
    typed_by: str  # 'GGUF header' or 'recipe'


def _aligned(n: int) -> int:
    return (n + GGUF_ALIGNMENT - 1) // GGUF_ALIGNMENT * GGUF_ALIGNMENT


def _repackable(t: TensorSpec) -> bool:
    return t.ggml_type is not None and _repackable_as(t.name, t.shape, t.ggml_type)


def _repackable_as(name: str, shape: tuple[int, ...], ggml_type: str) -> bool:
    return (
        ggml_type in REPACK_TYPES
        and len(shape) >= 2
        and shape[1] % REPACK_ROWS == 0
        and name.endswith(".weight")
        and name != "token_embd.weight"
        and "_norm" not in name
    )


def summarize_weights(
    arch: ModelArch, tensors: tuple[TensorSpec, ...] | list[TensorSpec], typed_by: str
) -> WeightsSummary:
    for t in tensors:
        if t.ggml_type is None:
            tensor_bytes(t)  # raises: a tensor without a type
    return _summarize(arch, [(t.name, t.shape, t.ggml_type) for t in tensors], typed_by)  # type: ignore[misc]


def _summarize(arch: ModelArch, tensors: Iterable[TypedTensor], typed_by: str) -> WeightsSummary:
    total = embd = repack = 0
    has_output = False
    embd_as: tuple[tuple[int, ...], str] | None = None
    # count_params(tensors, ...) in the same pass
    n_experts, n_used = arch.n_experts, arch.n_experts_used
    params = active = 0
    for name, shape, typ in tensors:
        b = _nbytes(typ, shape)
        total += _aligned(b)
        if name == "token_embd.weight":
            embd, embd_as = b, (shape, typ)
        elif name == "output.weight":
            has_output = True
        if typ in REPACK_TYPES and _repackable_as(name, shape, typ):
            repack += b
        is_expert, n = tensor_role(name, shape)[1:3]
        params += n
        active += n * n_used // n_experts if n_experts > 0 and is_expert else n
    # tied embeddings: llama.cpp loads the embedding matrix a second time as the output
    # projection (a mat-mul weight), so that copy may be repacked too
    if not has_output and embd_as is not None and embd_as[1] in REPACK_TYPES and embd_as[0][1] % REPACK_ROWS == 0:
        repack += embd
    return WeightsSummary(
        total=total, token_embd=_aligned(embd), repack=repack, params=params, active_params=active, typed_by=typed_by
    )


# Typing a catalog model's ~300-3000 tensors takes milliseconds; sweeps ask for the same
# (architecture, quant) thousands of times. Bounded caches, keyed by value. A summary is a
# few integers, so the recipe cache holds every catalog model at every ladder quant (a
# smaller one, walked in order by a ranking of the catalog, would miss every time).
@lru_cache(maxsize=4096)
def recipe_weights(arch: ModelArch, quant: str) -> WeightsSummary:
    """Weights of ``arch`` quantized as ``quant`` by llama.cpp's recipe (memoized)."""
    return _summarize(arch, recipe_types(arch, quant), "recipe")


def _weights_of_file(arch: ModelArch, tensors: tuple[TensorSpec, ...]) -> WeightsSummary:
    """Weights of a file's own tensors; a sweep over contexts asks for the same ones
    (memoised by the tensors' hash, holding no tensor list: ``sizing.core.memo``)."""
    return _file_weights(Keyed((arch, hash(tensors)), (arch, tensors)))


@lru_cache(maxsize=128)
def _file_weights(k: Keyed) -> WeightsSummary:
    arch, tensors = k.take()
    return summarize_weights(arch, tensors, "GGUF header")


def repack_explanation(*, backend: str, repack: bool, mmap: bool, mlock: bool, reclaimable: int) -> str | None:
    """Why, on the CPU, a lower quant can need more RAM than a higher one (for the fit map)."""
    if backend != "cpu":
        return None
    if not repack:
        return "CPU repack off (--no-repack): each weight is held once; the kernels read the file's layout."
    head = (
        "On the CPU, llama.cpp keeps a second, repacked copy (CPU_REPACK) of Q4_0, Q4_K, IQ4_NL and "
        "MXFP4 matrices for its faster kernels, so Q4_K_M can need more RAM than Q6_K, whose type is "
        "not repacked."
    )
    if not mmap:
        return head + " With --no-mmap the repacked tensors are read straight into that copy: nothing is held twice."
    if mlock:
        return head + " --mlock pins the mapped file too, so both copies stay resident."
    return head + (
        " The file pages behind the copy are clean and reclaimable (up to "
        f"{reclaimable / GIB:.1f} GiB here): the verdict counts only what must stay resident. "
        "--no-mmap or --no-repack removes the duplicate."
    )


# --- the estimate -------------------------------------------------------------------------

_KV_LABELS = {
    "kv": "KV cache",
    "non-swa": "KV cache (full attention)",
    "swa": "KV cache (sliding window)",
    "indexer": "KV cache (DSA indexer keys)",
    "recurrent": "recurrent state",
}


def estimate_memory(scenario: Scenario) -> MemoryEstimate:
    """Memory llama.cpp allocates for ``scenario``, by part, device and buffer."""
    s = scenario
    a = s.model
    if not s.flash_attn and s.kv_type_v.lower() not in ("f32", "f16", "bf16"):
        raise SizingError(
            f"a quantized V cache ({s.kv_type_v}) needs flash attention: llama.cpp refuses "
            "it otherwise; use --flash-attn on or an f16 V cache"
        )
    if s.tensors is not None:
        w = _weights_of_file(a, s.tensors)
        quant = s.quant
    else:
        quant = file_quant(s.quant)
        w = recipe_weights(a, quant)
    kv = estimate_kv_cache(
        a,
        s.ctx,
        kv_type_k=s.kv_type_k,
        kv_type_v=s.kv_type_v,
        n_parallel=s.n_parallel,
        kv_unified=s.kv_unified,
        n_batch=s.n_batch,
        n_ubatch=s.n_ubatch,
    )
    comp = estimate_compute_buffer(a, kv, flash_attn=s.flash_attn, n_seq=s.n_parallel)
    oh = load_overheads()[s.backend]

    gpu: Device = "host" if s.backend == "cpu" else "gpu"
    items: list[MemoryItem] = []

    def add(name: str, part: Part, device: Device, nbytes: int, note: str, reclaimable: int = 0) -> None:
        items.append(
            build(MemoryItem, name=name, part=part, device=device, bytes=nbytes, note=note, reclaimable=reclaimable)
        )

    if s.backend == "cpu":
        repack = w.repack if s.repack else 0
        if s.mmap:
            # the file pages behind repacked tensors are read once, then never again: clean
            # page cache the kernel drops under pressure, unless --mlock pins them
            reclaim = 0 if s.mlock else repack
            add(
                "model (CPU_Mapped)",
                "weights",
                "host",
                w.total,
                "the GGUF's tensor data, memory-mapped"
                + (
                    f"; {reclaim / GIB:,.2f} GiB of it are the file pages behind the repacked copy, reclaimable"
                    if reclaim
                    else ""
                )
                + ("; pinned by --mlock" if s.mlock else ""),
                reclaimable=reclaim,
            )
        else:
            add(
                "model (CPU)",
                "weights",
                "host",
                w.total - repack,
                "tensor data read into RAM (--no-mmap); repacked tensors go straight to CPU_REPACK",
            )
        if repack:
            add(
                "model (CPU_REPACK)",
                "weights",
                "host",
                repack,
                "second copy of Q4_0/Q4_K/IQ4_NL/MXFP4 matrices in the layout the x86 AVX2 "
                "kernels read (ggml-cpu repack; --no-repack skips it)",
            )
    else:
        add(
            "model (token embeddings, host)",
            "weights",
            "host",
            w.token_embd,
            "llama.cpp keeps the input embeddings on the CPU",
        )
        add("model (device)", "weights", "gpu", w.total - w.token_embd, "all layers offloaded")
    for p in kv.parts:
        add(
            _KV_LABELS[p.kind],
            "kv_cache",
            gpu,
            p.bytes,
            f"{p.layers} layers × {p.cells} cells × {p.streams} stream(s); "
            f"K {p.k_type} {p.k_bytes / MIB:.1f} MiB, V {p.v_type} {p.v_bytes / MIB:.1f} MiB",
        )
    add("compute buffer", "compute", gpu, comp.bytes, f"peak set by the {comp.branch} for {comp.n_tokens} tokens")
    add(
        "output buffer (logits)",
        "compute",
        "host",
        comp.output_bytes,
        f"{s.n_parallel} row(s) of {a.vocab_size} F32 logits",
    )
    if s.mmproj is not None:
        mp = s.mmproj
        add(
            "mmproj weights",
            "weights",
            gpu,
            mp.weights_bytes,
            f"{mp.projector_type} {'/'.join(mp.modalities)} encoder ({mp.file_name}): its own GGUF",
        )
        add(
            "mmproj compute buffer",
            "compute",
            gpu,
            mp.compute_bytes(),
            f"one {mp.image_size}x{mp.image_size} image ({mp.n_patches} patches); each image "
            f"takes {mp.image_tokens} context cells",
        )
    add(
        "runtime (host)",
        "overhead",
        "host",
        oh.host_bytes(a.vocab_size),
        "process heap: tokenizer tables, graph metadata, threads",
    )
    if gpu == "gpu" and oh.device_bytes():
        add(
            f"runtime ({s.backend} context)",
            "overhead",
            "gpu",
            oh.device_bytes(),
            "driver context and library workspaces",
        )

    devices, parts = _sum_parts(items)
    basis = _basis(
        a.source,
        a.arch,
        quant,
        s.backend,
        w.typed_by,
        oh.source,
        None if w.typed_by == "GGUF header" else native_note(a, quant),
    )
    return build(
        MemoryEstimate,
        params=w.params,
        active_params=w.active_params,
        parts=parts,
        devices=devices,
        items=tuple(items),
        basis=tuple(basis),
        context=kv.context,
        kv=kv,
        compute=comp,
    )


@lru_cache(maxsize=1024)
def _basis(
    source: str, arch: str, quant: str, backend: str, typed_by: str, overhead_source: str, native: str | None = None
) -> tuple[Basis, ...]:
    """Where each part comes from (memoized: it depends on the model's source and layout
    name, the quant and the backend, not on the numbers)."""
    if typed_by == "GGUF header":
        weights = Basis(source=f"GGUF header of {source}", method="exact bytes of every tensor as stored in the file")
    else:
        weights = Basis(
            source=source,
            method=f"tensor list of llama.cpp's '{arch}' layout, typed by "
            f"llama-quantize's {quant} recipe (sizing.core.quant)" + (f"; {native}" if native else ""),
        )
    basis = (
        weights,
        Basis(
            source="llama.cpp src/llama-context.cpp, src/llama-kv-cache*.cpp",
            method="cells × layers × row bytes of the cache type, with llama.cpp's context "
            "padding (256) and sliding-window cache size",
            calibration="checked against llama.cpp (xllamacpp 2026.10) buffer logs",
        ),
        Basis(
            source="llama.cpp graph reserve (ggml-alloc), CPU backend",
            method="largest live set of one layer's tensors plus attention masks",
            calibration="per-token coefficients fitted to llama.cpp compute-buffer logs of "
            "synthetic and real GGUFs (xllamacpp 2026.10, CPU)"
            + ("" if backend == "cpu" else "; assumed to carry over to the " + backend + " backend"),
        ),
        Basis(source="data/backend_overhead.yaml", method=f"{backend}: {overhead_source}"),
    )
    return basis


def _sum_parts(items: list[MemoryItem]) -> tuple[dict[str, MemoryParts], MemoryParts]:
    """Per device and overall sums of the items, by part (one pass: this is the hot path)."""
    acc = {"host": [0, 0, 0, 0, 0], "gpu": [0, 0, 0, 0, 0]}
    idx = {"weights": 0, "kv_cache": 1, "compute": 2, "overhead": 3}
    for i in items:
        acc[i.device][idx[i.part]] += i.bytes
        acc[i.device][4] += i.reclaimable

    def parts(v: list[int]) -> MemoryParts:
        return build(
            MemoryParts,
            weights_bytes=v[0],
            kv_cache_bytes=v[1],
            compute_bytes=v[2],
            overhead_bytes=v[3],
            reclaimable_bytes=v[4],
        )

    devices = {"host": parts(acc["host"])}
    if any(acc["gpu"]):
        devices["gpu"] = parts(acc["gpu"])
    return devices, parts([h + g for h, g in zip(acc["host"], acc["gpu"])])

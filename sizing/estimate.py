"""The first steps of the composition: resolve the model, build the Scenario, estimate memory.

``estimate()`` resolves what the user named (catalog id, Hugging Face repo, GGUF file,
config.json), checks every setting with one clear message per mistake, builds a
:class:`~sizing.core.scenario.Scenario` and asks the pure core
(:func:`sizing.core.memory.estimate.estimate_memory`) for the numbers. ``sizing.answer``
takes this ``Estimate`` on to placement, speed and commands; callers that want the whole
answer use ``sizing.estimate`` (the function), which returns an ``Answer``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sizing.errors import SizingError
from sizing.core.memory.estimate import MemoryEstimate, MemoryItem, estimate_memory
from sizing.core.arch import ModelArch
from sizing.sources.resolve import ResolvedModel, resolve_model
from sizing.core.quant import KV_TYPES, apply_recipe, file_quant, native_note
from sizing.core.scenario import BACKENDS, MAX_CTX, Basis, MemoryParts, Scenario

DEFAULT_QUANT = "Q4_K_M"


class EstimateFields(BaseModel):
    """What was asked and the memory it takes: the fields an ``Estimate`` and an
    ``sizing.answer.Answer`` share, defined once so the two cannot drift apart."""

    model_config = ConfigDict(frozen=True)

    # what was asked
    model: str
    model_name: str
    model_source: str
    model_kind: str = Field(description="catalog | hf | gguf | config | arch")
    arch: str
    quant: str
    ctx: int = Field(description="llama.cpp -c: the KV cache over all parallel sequences")
    n_ctx: int = Field(description="the context as llama.cpp pads it")
    kv_type_k: str
    kv_type_v: str
    n_batch: int
    n_ubatch: int
    n_parallel: int
    kv_unified: bool
    flash_attn: bool
    backend: str
    mmap: bool = True
    repack: bool = True
    mlock: bool = False
    # the answer
    params: int
    active_params: int
    weights_bytes: int
    kv_cache_bytes: int
    compute_bytes: int
    overhead_bytes: int
    total_bytes: int
    resident_bytes: int = 0
    reclaimable_bytes: int = 0
    parts: MemoryParts
    memory_by_device: dict[str, MemoryParts]
    items: tuple[MemoryItem, ...]
    basis: tuple[Basis, ...]
    warnings: tuple[str, ...] = ()


class Estimate(EstimateFields):
    """The memory of one scenario with its parts and basis (``sizing.answer.Answer`` adds the machine)."""

    # inputs for callers that go further (not serialized)
    scenario: Scenario = Field(exclude=True, repr=False)
    memory: MemoryEstimate = Field(exclude=True, repr=False)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict: the flat figures first, then parts, items and basis."""
        return self.model_dump(mode="json")


def _positive(name: str, value: Any, flag: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SizingError(f"{flag} must be a whole number, got {value!r}")
    if value <= 0:
        raise SizingError(f"{flag} must be positive, got {value}")
    return value


def _kv(t: str, flag: str) -> str:
    key = str(t).strip().lower()
    if key not in KV_TYPES:
        raise SizingError(f"unknown KV cache type {t!r} for {flag}; valid: {', '.join(KV_TYPES)}")
    return key


def _resolve(model: str | ModelArch | ResolvedModel, offline: bool | None) -> ResolvedModel:
    if isinstance(model, ResolvedModel):
        return model
    if isinstance(model, ModelArch):
        return ResolvedModel(arch=model, kind="catalog")
    if isinstance(model, str):
        return resolve_model(model, offline=offline)
    raise SizingError(f"model must be a name, a path or an architecture, got {type(model).__name__}")


def build_scenario(
    model: str | ModelArch | ResolvedModel,
    quant: str | None = None,
    ctx: int = 4096,
    *,
    kv_type: str = "f16",
    kv_type_k: str | None = None,
    kv_type_v: str | None = None,
    batch: int = 2048,
    ubatch: int = 512,
    parallel: int = 1,
    kv_unified: bool = True,
    flash_attn: bool = True,
    backend: str = "cpu",
    offline: bool | None = None,
    mmap: bool = True,
    repack: bool = True,
    mlock: bool = False,
    mmproj: Any = None,
) -> tuple[Scenario, ResolvedModel, list[str]]:
    """Validate the settings and resolve the model into a Scenario (plus warnings)."""
    ctx = _positive("ctx", ctx, "--ctx (context length)")
    if ctx > MAX_CTX:
        raise SizingError(f"--ctx {ctx} is absurdly large: no model reaches {MAX_CTX:,} tokens")
    batch = _positive("batch", batch, "--batch")
    ubatch = _positive("ubatch", ubatch, "--ubatch")
    parallel = _positive("parallel", parallel, "--parallel")
    if parallel > 1024:
        raise SizingError(f"--parallel {parallel} is more sequences than llama.cpp supports (1024)")
    k = _kv(kv_type_k or kv_type, "--kv-type-k" if kv_type_k else "--kv-type")
    v = _kv(kv_type_v or kv_type, "--kv-type-v" if kv_type_v else "--kv-type")
    if not flash_attn and v not in ("f32", "f16", "bf16"):
        raise SizingError(
            f"a quantized V cache ({v}) needs flash attention: llama.cpp refuses it otherwise; "
            "use --flash-attn on or an f16 V cache"
        )
    if backend not in BACKENDS:
        raise SizingError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")

    rm = _resolve(model, offline)
    arch = rm.arch
    warnings: list[str] = []
    tensors = rm.tensors
    if quant is None:
        # a file is sized as it is; anything else at the most common quant
        q = (rm.file_type or "as in file") if tensors is not None else DEFAULT_QUANT
    else:
        q = file_quant(quant)
        if tensors is not None and q != rm.file_type:
            # another quant of this file: re-type its tensors by llama.cpp's recipe
            tensors = tuple(apply_recipe(arch, [t.model_copy(update={"ggml_type": None}) for t in tensors], q))
            warnings.append(
                f"the file is {rm.file_type or 'of unknown type'}; weights are estimated "
                f"for {q} by llama.cpp's quantization recipe"
            )
    if k != v and backend in ("cuda", "rocm"):  # ggml-cuda (HIP shares it)
        warnings.append(
            f"mixed K/V cache types ({k} K, {v} V): stock CUDA builds compile flash-attention kernels "
            "only for matching types (GGML_CUDA_FA_ALL_QUANTS off) and run these on the CPU; use one "
            "type for both, or a build with -DGGML_CUDA_FA_ALL_QUANTS=ON"
        )
    if tensors is None and (native := native_note(arch, q)):
        warnings.append(native)
    if ctx > arch.max_context:
        warnings.append(f"context {ctx:,} exceeds the model's trained maximum of {arch.max_context:,} tokens")
    projector = None
    if mmproj is not None and not isinstance(mmproj, str):
        projector = mmproj  # an already-read Projector (e.g. an upload)
    elif mmproj:
        from sizing.sources.mmproj import read_mmproj

        projector = read_mmproj(mmproj)
    scenario = Scenario(
        model=arch,
        quant=q,
        tensors=tensors,
        ctx=ctx,
        kv_type_k=k,
        kv_type_v=v,
        n_batch=batch,
        n_ubatch=ubatch,
        n_parallel=parallel,
        kv_unified=kv_unified,
        flash_attn=flash_attn,
        backend=backend,  # type: ignore[arg-type]
        mmap=mmap,
        repack=repack,
        mlock=mlock,
        mmproj=projector,
    )
    return scenario, rm, warnings


def estimate_scenario(
    scenario: Scenario, *, kind: str = "arch", warnings: list[str] | tuple[str, ...] = ()
) -> Estimate:
    """The Estimate of an already-built Scenario (for sweeps that vary one knob)."""
    m = estimate_memory(scenario)
    a = scenario.model
    return Estimate(
        model=a.id,
        model_name=a.name,
        model_source=a.source,
        model_kind=kind,
        arch=a.arch,
        quant=scenario.quant,
        ctx=scenario.ctx,
        n_ctx=m.context.n_ctx,
        kv_type_k=scenario.kv_type_k,
        kv_type_v=scenario.kv_type_v,
        n_batch=scenario.n_batch,
        n_ubatch=scenario.n_ubatch,
        n_parallel=scenario.n_parallel,
        kv_unified=scenario.kv_unified,
        flash_attn=scenario.flash_attn,
        backend=scenario.backend,
        mmap=scenario.mmap,
        repack=scenario.repack,
        mlock=scenario.mlock,
        resident_bytes=m.resident_bytes,
        reclaimable_bytes=m.reclaimable_bytes,
        params=m.params,
        active_params=m.active_params,
        weights_bytes=m.weights_bytes,
        kv_cache_bytes=m.kv_cache_bytes,
        compute_bytes=m.compute_bytes,
        overhead_bytes=m.overhead_bytes,
        total_bytes=m.total_bytes,
        parts=m.parts,
        memory_by_device=m.devices,
        items=m.items,
        basis=m.basis,
        warnings=tuple(warnings),
        scenario=scenario,
        memory=m,
    )


def estimate(
    model: str | ModelArch | ResolvedModel,
    quant: str | None = None,
    ctx: int = 4096,
    *,
    kv_type: str = "f16",
    kv_type_k: str | None = None,
    kv_type_v: str | None = None,
    batch: int = 2048,
    ubatch: int = 512,
    parallel: int = 1,
    kv_unified: bool = True,
    flash_attn: bool = True,
    backend: str = "cpu",
    offline: bool | None = None,
    mmap: bool = True,
    repack: bool = True,
    mlock: bool = False,
    mmproj: Any = None,
) -> Estimate:
    """Memory llama.cpp needs to run ``model`` at ``quant`` with a ``ctx``-token context.

    ``quant`` defaults to the GGUF's own type for a file, else Q4_K_M. ``kv_type`` sets
    both caches; ``kv_type_k``/``kv_type_v`` override one. ``mmproj``: a multimodal
    projector GGUF loaded next to the model (its weights and compute buffer are added).
    Raises SizingError on bad input.
    """
    scenario, rm, warnings = build_scenario(
        model,
        quant,
        ctx,
        kv_type=kv_type,
        kv_type_k=kv_type_k,
        kv_type_v=kv_type_v,
        batch=batch,
        ubatch=ubatch,
        parallel=parallel,
        kv_unified=kv_unified,
        flash_attn=flash_attn,
        backend=backend,
        offline=offline,
        mmap=mmap,
        repack=repack,
        mlock=mlock,
        mmproj=mmproj,
    )
    return estimate_scenario(scenario, kind=rm.kind, warnings=warnings)

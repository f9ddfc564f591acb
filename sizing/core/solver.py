"""Solver: the questions people ask once they know how a model is placed.

Does it fit, and how? Which quant is the best one that fits at context N? What is the
largest context at quant Q? Which ``-ngl`` / tensor split? How many users can share the
machine at a minimum tokens/s? And, for a machine, what runs on it from the catalog?

Each answer is a search over the same two pure functions: the memory estimate
(``sizing.core.memory.estimate``, memoised per model, quant and context) and the placement
(``sizing.core.placement``), timed by ``sizing.core.speed.estimate``. Pure: the memory estimator is passed
in (default: ``sizing.core.memory.estimate.estimate_memory``) and nothing here reads files or clocks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from sizing.errors import SizingError
from sizing.core.arch import ModelArch
from sizing.core.projector import Projector
from sizing.core.tensors import TensorSpec
from sizing.core.placement import Placement, PlacementOptions, place, verdict
from sizing.core.machine import Hardware
from sizing.core.fastmodel import build
from sizing.core.memo import Keyed
from sizing.core.scenario import MAX_CTX, MemoryParts, Scenario
from sizing.core.speed.estimate import CalibrationSet, SpeedEstimate, estimate_speed, per_user_tokens_per_s
from sizing.core.traffic import ModelTraffic, model_traffic, recipe_traffic

# Best first: the order in which "the best quant that fits" is looked for.
QUANT_LADDER: tuple[str, ...] = ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K")
CTX_STEP = 256  # contexts are searched in llama.cpp's KV padding unit
OFFLOAD_CEILING = "Q4_K_M"  # with layers in system RAM, do not recommend more bits than this

MemoryFn = Callable[[Scenario], MemoryParts]


def _parts_of(est: object) -> MemoryParts:
    """Read weights/KV/compute/overhead from a memory estimate, whatever its wrapper."""
    if isinstance(est, MemoryParts):
        return est
    parts = getattr(est, "parts", None)
    if isinstance(parts, MemoryParts):
        return parts
    try:
        return MemoryParts(
            weights_bytes=int(est.weights_bytes),  # type: ignore[attr-defined]
            kv_cache_bytes=int(est.kv_cache_bytes),  # type: ignore[attr-defined]
            compute_bytes=int(est.compute_bytes),  # type: ignore[attr-defined]
            overhead_bytes=int(getattr(est, "overhead_bytes", 0)),
        )
    except AttributeError as exc:  # pragma: no cover - a wrong estimator is a bug
        raise TypeError(f"memory estimate {type(est).__name__} lacks {exc}") from None


def default_memory_fn(scenario: Scenario) -> MemoryParts:
    from sizing.core.memory.estimate import estimate_memory

    return _parts_of(estimate_memory(scenario))


def _traffic(arch: ModelArch, quant: str, tensors: tuple[TensorSpec, ...] | None, kv_k: str, kv_v: str) -> ModelTraffic:
    """Memoised per (model, quant, the tensors' hash, KV types), holding no tensor list
    (``sizing.core.memo``)."""
    key = (arch, quant, None if tensors is None else hash(tensors), kv_k, kv_v)
    return _traffic_memo(Keyed(key, (arch, quant, tensors, kv_k, kv_v)))


@lru_cache(maxsize=128)  # ~19 KiB each (per-layer arrays): bounded in size as well as count
def _traffic_memo(k: Keyed) -> ModelTraffic:
    arch, quant, tensors, kv_k, kv_v = k.take()
    if tensors is None:
        return recipe_traffic(arch, quant, kv_k, kv_v)
    return model_traffic(arch, tensors, kv_k, kv_v)


def traffic_for(
    arch: ModelArch,
    quant: str,
    *,
    tensors: Sequence[TensorSpec] | None = None,
    kv_type_k: str = "f16",
    kv_type_v: str = "f16",
) -> ModelTraffic:
    """Per-layer traffic, memoised per (model, quant, KV types)."""
    return _traffic(arch, quant, tuple(tensors) if tensors is not None else None, kv_type_k, kv_type_v)


@lru_cache(maxsize=8192)  # ~0.7 KiB each: a catalog sweep (159 models × quants × contexts) stays warm
def _memory(k: Keyed, fn: MemoryFn) -> MemoryParts:
    scenario = k.take()
    assert scenario is not None
    return fn(scenario)


def _with_projector(memory: MemoryParts, mmproj: Projector | None) -> MemoryParts:
    """The parts placement lays out: a projector's weights are not in the model's layer
    traffic, so they ride with the fixed bytes of the first device (next to the compute
    buffer, whose part already counts the projector's own)."""
    if mmproj is None:
        return memory
    return memory.model_copy(update={"overhead_bytes": memory.overhead_bytes + mmproj.weights_bytes})


def memory_for(scenario: Scenario, memory_fn: MemoryFn | None = None, *, tensors_key: object = None) -> MemoryParts:
    """The memory estimate of a scenario, memoised (bounded): the sweep asks for each many times.

    ``tensors_key`` names the scenario's tensors ("recipe" when they are the quant
    recipe's; by default the hash of a GGUF's own tensors)."""
    fn = memory_fn or default_memory_fn
    s = scenario
    if s.tensors is not None and tensors_key is None:
        tensors_key = hash(s.tensors)
    key = (
        s.model,
        s.quant,
        s.ctx,
        s.kv_type_k,
        s.kv_type_v,
        s.n_batch,
        s.n_ubatch,
        s.n_parallel,
        s.kv_unified,
        s.flash_attn,
        s.backend,
        s.mmap,
        s.repack,
        s.mlock,
        tensors_key,
        s.mmproj,
    )
    return _memory(Keyed(key, s), fn)


# --------------------------------------------------------------------------------------
# results


class Plan(BaseModel):
    """One model, quant and context on one machine: memory, placement, speed."""

    model_config = ConfigDict(frozen=True)

    model_id: str
    quant: str
    ctx: int
    n_parallel: int = 1
    kv_type_k: str = "f16"
    kv_type_v: str = "f16"
    flash_attn: bool = True
    memory: MemoryParts
    placement: Placement
    speed: SpeedEstimate | None = None

    @property
    def fits(self) -> bool:
        return self.placement.fits


class ContextLimit(BaseModel):
    model_config = ConfigDict(frozen=True)

    quant: str
    on_gpu: int | None = Field(None, description="largest context with every layer on the GPU(s)")
    with_offload: int | None = Field(None, description="largest context that fits at all")
    model_max: int


class ParallelUsers(BaseModel):
    model_config = ConfigDict(frozen=True)

    users: int
    per_user_tokens_per_s: float
    min_tokens_per_s: float
    plan: Plan | None = None


class CatalogFit(BaseModel):
    """One catalog model on a machine: its best quant, speed and largest context."""

    model_config = ConfigDict(frozen=True)

    model_id: str
    name: str
    params_b: float
    quant: str | None
    fits: bool
    how: str
    decode_tokens_per_s: float | None = None
    decode_range: tuple[float, float] | None = None
    largest_context: int | None = None
    on_gpu: bool = False
    n_cpu_moe: int = Field(0, description="layers whose routed experts stay in RAM (--n-cpu-moe)")


# --------------------------------------------------------------------------------------
# the questions


def check_context(ctx: int) -> None:
    """The context rule every question shares: positive, and not beyond what any model has
    (callers clamp a context to the model's maximum, which would hide an absurd one)."""
    if ctx <= 0:
        raise SizingError(f"context must be positive, got {ctx}")
    if ctx > MAX_CTX:
        raise SizingError(f"context {ctx} is absurdly large: no model reaches {MAX_CTX:,} tokens")


def _scenario(
    arch: ModelArch,
    quant: str,
    ctx: int,
    hardware: Hardware,
    *,
    tensors: Sequence[TensorSpec] | None,
    n_parallel: int,
    kv_type_k: str,
    kv_type_v: str,
    flash_attn: bool,
    n_ubatch: int,
    mmap: bool,
    repack: bool,
    mlock: bool,
    mmproj: Projector | None,
    memory_fn: MemoryFn | None,
) -> tuple[Scenario, MemoryParts]:
    """The scenario a question asks about, and its memory (memoised)."""
    check_context(ctx)
    backend = hardware.gpus[0].backend if hardware.gpus else "cpu"
    # A recipe-typed model carries no tensor list: the memory estimate and the traffic each
    # cache their result by (model, quant), which a list of thousands of specs would have
    # to be hashed for on every call (and every typed list kept alive to stay cached).
    typed = tuple(tensors) if tensors is not None else None
    scenario = Scenario(
        model=arch,
        quant=quant,
        tensors=typed,
        ctx=ctx * n_parallel,
        kv_type_k=kv_type_k,
        kv_type_v=kv_type_v,
        n_ubatch=n_ubatch,
        n_parallel=n_parallel,
        flash_attn=flash_attn,
        backend=backend,  # type: ignore[arg-type]
        mmap=mmap,
        repack=repack,
        mlock=mlock,
        mmproj=mmproj,
    )
    return scenario, memory_for(scenario, memory_fn, tensors_key="recipe" if tensors is None else hash(typed))


def solve(
    arch: ModelArch,
    quant: str,
    ctx: int,
    hardware: Hardware,
    calib: CalibrationSet,
    *,
    options: PlacementOptions | None = None,
    tensors: Sequence[TensorSpec] | None = None,
    n_parallel: int = 1,
    kv_type_k: str = "f16",
    kv_type_v: str = "f16",
    flash_attn: bool = True,
    n_ubatch: int = 512,
    prompt_tokens: int | None = None,
    memory_fn: MemoryFn | None = None,
    with_speed: bool = True,
    mmap: bool = True,
    repack: bool = True,
    mlock: bool = False,
    mmproj: Projector | None = None,
) -> Plan:
    """Does it fit, and how; with speed when it does.

    ``mmproj``: a multimodal projector (sizing.core.projector.Projector) loaded with the
    model; its weights and compute buffer count on the first device.

    A context beyond the model's trained maximum is sized as asked (llama.cpp allows it
    with a warning; the memory estimate carries that warning)."""
    scenario, mem = _scenario(
        arch,
        quant,
        ctx,
        hardware,
        tensors=tensors,
        n_parallel=n_parallel,
        kv_type_k=kv_type_k,
        kv_type_v=kv_type_v,
        flash_attn=flash_attn,
        n_ubatch=n_ubatch,
        mmap=mmap,
        repack=repack,
        mlock=mlock,
        mmproj=mmproj,
        memory_fn=memory_fn,
    )
    return plan_for_scenario(
        scenario,
        mem,
        hardware,
        calib,
        options=options,
        prompt_tokens=prompt_tokens,
        with_speed=with_speed,
        recipe_tensors=tensors is None,
    )


class Fit(BaseModel):
    """``solve``'s memory and whether it fits (on the GPU(s) or at all), without the
    placement's devices, work and wording: what a search trial or a fit-map cell reads."""

    model_config = ConfigDict(frozen=True)

    memory: MemoryParts
    fits: bool
    all_on_gpu: bool


def fit(
    arch: ModelArch,
    quant: str,
    ctx: int,
    hardware: Hardware,
    *,
    options: PlacementOptions | None = None,
    tensors: Sequence[TensorSpec] | None = None,
    n_parallel: int = 1,
    kv_type_k: str = "f16",
    kv_type_v: str = "f16",
    flash_attn: bool = True,
    n_ubatch: int = 512,
    memory_fn: MemoryFn | None = None,
    mmap: bool = True,
    repack: bool = True,
    mlock: bool = False,
    mmproj: Projector | None = None,
) -> Fit:
    """``solve(...)``'s memory, ``.fits`` and ``.placement.all_on_gpu``, by the same search."""
    s, mem = _scenario(
        arch,
        quant,
        ctx,
        hardware,
        tensors=tensors,
        n_parallel=n_parallel,
        kv_type_k=kv_type_k,
        kv_type_v=kv_type_v,
        flash_attn=flash_attn,
        n_ubatch=n_ubatch,
        mmap=mmap,
        repack=repack,
        mlock=mlock,
        mmproj=mmproj,
        memory_fn=memory_fn,
    )
    traffic = _traffic(s.model, s.quant, None if tensors is None else s.tensors, s.kv_type_k, s.kv_type_v)
    opts = _options(options, s)
    v = verdict(traffic, _with_projector(mem, s.mmproj), hardware, opts, ctx=s.ctx, is_moe=s.model.is_moe)
    return build(Fit, memory=mem, fits=v.fits, all_on_gpu=v.all_on_gpu)  # each of its type already


def memory_at(arch: ModelArch, quant: str, ctx: int, hardware: Hardware, **kw) -> MemoryParts:
    """``fit(...).memory`` without the placement search (memoised): what a map cell shows
    where its verdict follows from its neighbours'. ``kw``: ``fit``'s run settings."""
    return _scenario(arch, quant, ctx, hardware, **{**_SCENARIO_DEFAULTS, **kw})[1]


#: ``fit``'s defaults for the settings a scenario is built from
_SCENARIO_DEFAULTS: dict = dict(
    tensors=None,
    n_parallel=1,
    kv_type_k="f16",
    kv_type_v="f16",
    flash_attn=True,
    n_ubatch=512,
    mmap=True,
    repack=True,
    mlock=False,
    mmproj=None,
    memory_fn=None,
)


def _fit_kw(kw: dict) -> dict:
    """``solve``'s keywords that ``fit`` takes too (a prompt length changes no fit)."""
    return {k: v for k, v in kw.items() if k != "prompt_tokens"}


def _options(options: PlacementOptions | None, s: Scenario) -> PlacementOptions:
    # the micro-batch is the scenario's (-ub): it sets the SWA cells and the scheduler's copies
    # and so is --no-repack: it sets the kernels host weights run through
    if options is None:
        return _default_options(s.n_ubatch, s.repack)
    return options.model_copy(update={"n_ubatch": s.n_ubatch, "repack": s.repack})


@lru_cache(maxsize=64)
def _default_options(n_ubatch: int, repack: bool = True) -> PlacementOptions:
    """The default options at a micro-batch (frozen, so shared: a fit map asks 49 times)."""
    return PlacementOptions().model_copy(update={"n_ubatch": n_ubatch, "repack": repack})


def best_quant(
    arch: ModelArch,
    ctx: int,
    hardware: Hardware,
    calib: CalibrationSet,
    *,
    quants: Iterable[str] = QUANT_LADDER,
    memory_fn: MemoryFn | None = None,
    **kw,
) -> Plan | None:
    """The plan (placement and speed) of :func:`best_quant_name`'s quant, or None."""
    q = best_quant_name(arch, ctx, hardware, quants=quants, memory_fn=memory_fn, **kw)
    return None if q is None else solve(arch, q, ctx, hardware, calib, memory_fn=memory_fn, **kw)


def best_quant_name(
    arch: ModelArch,
    ctx: int,
    hardware: Hardware,
    *,
    quants: Iterable[str] = QUANT_LADDER,
    memory_fn: MemoryFn | None = None,
    **kw,
) -> str | None:
    """The highest-quality quant that fits at ``ctx`` entirely on the GPU(s).

    If no quant fits there, the best one that fits with layers in system RAM, but no
    higher than Q4_K_M: offloaded layers run at RAM speed, so a bigger quant only buys
    a slower answer (llama.cpp's README calls Q4_K_M the balanced choice).
    Quants are tried by bisection: each step down the ladder is smaller.
    """
    ladder = list(quants)
    if not ladder:
        raise SizingError("no quants to choose from")
    memo: dict[str, Fit] = {}
    fit_kw = _fit_kw(kw)

    def trial(i: int) -> Fit:
        q = ladder[i]
        if q not in memo:
            memo[q] = fit(arch, q, ctx, hardware, memory_fn=memory_fn, **fit_kw)
        return memo[q]

    def first(pred) -> int | None:
        lo, hi = 0, len(ladder) - 1
        if not pred(trial(hi)):
            return None
        while lo < hi:
            mid = (lo + hi) // 2
            if pred(trial(mid)):
                hi = mid
            else:
                lo = mid + 1
        return lo

    on_gpu = first(lambda p: p.fits and (p.all_on_gpu or not hardware.gpus))
    if on_gpu is not None:
        return ladder[on_gpu]
    any_fit = first(lambda p: p.fits)
    if any_fit is None:
        return None
    if OFFLOAD_CEILING in ladder:
        any_fit = max(any_fit, ladder.index(OFFLOAD_CEILING))
        while any_fit < len(ladder) and not trial(any_fit).fits:
            any_fit += 1
        if any_fit == len(ladder):
            return None
    return ladder[any_fit]


def largest_context(
    arch: ModelArch,
    quant: str,
    hardware: Hardware,
    calib: CalibrationSet,
    *,
    memory_fn: MemoryFn | None = None,
    **kw,
) -> ContextLimit:
    """The largest context (a multiple of 256, up to the model's maximum) that fits,
    entirely on the GPU(s) and at all."""
    top = arch.max_context
    fit_kw = _fit_kw(kw)
    memo: dict[int, Fit] = {}  # both searches start from the same contexts

    def fits(ctx: int, gpu_only: bool) -> bool:
        if ctx not in memo:
            memo[ctx] = fit(arch, quant, ctx, hardware, memory_fn=memory_fn, **fit_kw)
        p = memo[ctx]
        return p.fits and (p.all_on_gpu or not gpu_only or not hardware.gpus)

    def search(gpu_only: bool) -> int | None:
        lo_ctx = min(CTX_STEP, top)
        if not fits(lo_ctx, gpu_only):
            return None
        if fits(top, gpu_only):
            return top
        lo, hi = lo_ctx // CTX_STEP, top // CTX_STEP  # lo fits, hi (×256) may exceed
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if fits(mid * CTX_STEP, gpu_only):
                lo = mid
            else:
                hi = mid - 1
        return lo * CTX_STEP

    return ContextLimit(quant=quant, on_gpu=search(True), with_offload=search(False), model_max=top)


def max_parallel_users(
    arch: ModelArch,
    quant: str,
    ctx: int,
    hardware: Hardware,
    calib: CalibrationSet,
    *,
    min_tokens_per_s: float,
    limit: int = 256,
    memory_fn: MemoryFn | None = None,
    **kw,
) -> ParallelUsers:
    """Most concurrent sequences, each with ``ctx`` tokens of context, that fit and each
    still decode at ``min_tokens_per_s`` or faster (at full context depth)."""
    if min_tokens_per_s <= 0:
        raise SizingError("minimum tokens/s must be > 0")

    def check(n: int) -> tuple[bool, float, Plan | None]:
        p = solve(arch, quant, ctx, hardware, calib, n_parallel=n, memory_fn=memory_fn, with_speed=False, **kw)
        if not p.fits:
            return False, 0.0, p
        tps = per_user_tokens_per_s(p.placement.works, calib, n, depth=ctx)
        return tps >= min_tokens_per_s, tps, p

    ok, tps, plan = check(1)
    if not ok:
        return ParallelUsers(users=0, per_user_tokens_per_s=tps, min_tokens_per_s=min_tokens_per_s, plan=plan)
    lo, hi, best = 1, limit, (tps, plan)
    # grow by doubling, then bisect
    n = 2
    while n <= limit:
        ok, t, p = check(n)
        if not ok:
            hi = n - 1
            break
        lo, best = n, (t, p)
        n *= 2
    else:
        hi = limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        ok, t, p = check(mid)
        if ok:
            lo, best = mid, (t, p)
        else:
            hi = mid - 1
    return ParallelUsers(users=lo, per_user_tokens_per_s=best[0], min_tokens_per_s=min_tokens_per_s, plan=best[1])


def rank_catalog(
    models: Iterable[ModelArch],
    hardware: Hardware,
    calib: CalibrationSet,
    *,
    ctx: int = 4096,
    quants: Iterable[str] = QUANT_LADDER,
    memory_fn: MemoryFn | None = None,
    with_context: bool = True,
) -> list[CatalogFit]:
    """Every model: best quant that fits at ``ctx``, expected tokens/s, largest context.

    Ranked: models that fit entirely on the accelerator first, then larger models first
    (more capable), then faster.
    """
    from sizing.core.tensors import param_counts

    check_context(ctx)
    out: list[CatalogFit] = []
    ladder = list(quants)
    for arch in models:
        total, _active = param_counts(arch)
        c = min(ctx, arch.max_context)
        plan = best_quant(arch, c, hardware, calib, quants=ladder, memory_fn=memory_fn)
        if plan is None or not plan.fits:
            smallest = solve(arch, ladder[-1], c, hardware, calib, memory_fn=memory_fn, with_speed=False)
            out.append(
                CatalogFit(
                    model_id=arch.id,
                    name=arch.name,
                    params_b=total / 1e9,
                    quant=None,
                    fits=False,
                    how=smallest.placement.how,
                )
            )
            continue
        limit = largest_context(arch, plan.quant, hardware, calib, memory_fn=memory_fn) if with_context else None
        sp = plan.speed
        out.append(
            CatalogFit(
                model_id=arch.id,
                name=arch.name,
                params_b=total / 1e9,
                quant=plan.quant,
                fits=True,
                how=plan.placement.how,
                decode_tokens_per_s=sp.decode_tokens_per_s.expected if sp else None,
                decode_range=(sp.decode_tokens_per_s.low, sp.decode_tokens_per_s.high) if sp else None,
                largest_context=(limit.on_gpu or limit.with_offload) if limit else None,
                on_gpu=plan.placement.all_on_gpu,
                n_cpu_moe=plan.placement.n_cpu_moe if plan.placement.gpu_layers > plan.placement.n_layers else 0,
            )
        )
    out.sort(key=lambda f: (not f.fits, not f.on_gpu, -f.params_b, -(f.decode_tokens_per_s or 0)))
    return out


def plan_for_scenario(
    scenario: Scenario,
    memory: MemoryParts,
    hardware: Hardware,
    calib: CalibrationSet,
    *,
    options: PlacementOptions | None = None,
    prompt_tokens: int | None = None,
    with_speed: bool = True,
    recipe_tensors: bool = False,
) -> Plan:
    """Place and time an already-estimated scenario: the one path every question takes.

    The scenario's ctx is the whole KV (all parallel sequences); the speed is per
    sequence at ctx ÷ n_parallel. ``recipe_tensors``: the scenario's tensors are the quant
    recipe's, so the traffic cache keys on (model, quant) instead of hashing them."""
    s = scenario
    traffic = _traffic(s.model, s.quant, None if recipe_tensors else s.tensors, s.kv_type_k, s.kv_type_v)
    opts = _options(options, s)
    placement = place(traffic, _with_projector(memory, s.mmproj), hardware, opts, ctx=s.ctx, is_moe=s.model.is_moe)
    per_seq = max(1, s.ctx // s.n_parallel)
    speed = None
    if with_speed and placement.fits:
        speed = estimate_speed(
            placement.works,
            calib,
            ctx=per_seq,
            prompt_tokens=prompt_tokens,
            n_ubatch=s.n_ubatch,
            n_parallel=s.n_parallel,
        )
    return Plan(
        model_id=s.model.id,
        quant=s.quant,
        ctx=per_seq,
        n_parallel=s.n_parallel,
        kv_type_k=s.kv_type_k,
        kv_type_v=s.kv_type_v,
        flash_attn=s.flash_attn,
        memory=memory,
        placement=placement,
        speed=speed,
    )

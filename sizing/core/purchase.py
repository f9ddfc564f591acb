"""What to buy: whole builds ranked by the buyer's objective, each saying why it ranks there.

``plan`` places and times every target model on every build (``sizing.builds``) and ranks
those that hold the models by one of three objectives:
- ``cheapest``: the lowest whole-build price that meets the speed target within budget;
- ``fastest``: the highest decode speed (slowest model) within budget, the cheapest build
  of each speed (within 2%) only;
- ``cost-per-token``: the lowest cost per million generated tokens over the build's life
  (purchase + electricity at load for the hours used, idle the rest of the day).
Every row carries its priced lines (kind, date, source), its speed basis and how many
public llama-bench rows back it (the calibration entry that predicts it, the device, the
device class: ``calibration_strength``), and its launch commands. A build on weak
calibration is marked, and meets a speed target only if its low estimate does. A GPU
build's host must hold the weights it loads (``sizing.core.hosts``: RAM rule; the row's why
states it with the cheaper hosts passed over). Each set of cards is listed once, on its
best-ranked host, and a build with more of the same card
that is neither faster nor cheaper is left out. When no build meets the target, the closest
are returned instead.

Pure: models, data, prices and "today" are passed in.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.arch import ModelArch
from sizing.core.builds import Build
from sizing.core.commands import launch_commands
from sizing.core.hosts import OS_RESERVE_GB, RAM_RULE, load_note, load_seconds, ram_check
from sizing.core.prices import age_months, is_stale
from sizing.core.solver import MemoryFn, check_context, solve
from sizing.core.speed.coverage import BenchCoverage
from sizing.core.speed.context import context_speed
from sizing.core.speed.estimate import CalibrationSet
from sizing.errors import SizingError
from sizing.units import GIB

Objective = Literal["cheapest", "fastest", "cost-per-token"]
OBJECTIVES: tuple[str, ...] = ("cheapest", "fastest", "cost-per-token")
WEAK_CLASS_ROWS = 5  # fewer public rows than this behind a device class: weak calibration
WEAK_ENTRY_ROWS = 3  # fewer fitted decode rows than this behind the calibration entry used: weak
WEAK_MOE_ROWS = 3  # fewer public MoE rows than this: weak calibration for a MoE model


class Calibration(BaseModel):
    """How many public llama-bench rows back the speed of this build: those the calibration
    entry that predicts it was fitted on, those on this very device, and its device class's."""

    model_config = ConfigDict(frozen=True)

    device_class: str
    class_rows: int
    device_rows: int
    entry: str = Field("", description="the calibration entry that predicts the speed (cuda/pascal, cuda...)")
    entry_decode_rows: int = Field(
        0, description="decode rows of its own that entry was fitted on (0 when borrowed from all backends)"
    )
    entry_prefill_rows: int = 0
    family: str | None = Field(None, description="the device's architecture, when the entry is a fallback")
    family_decode_rows: int | None = Field(
        None,
        description="when the entry is a fallback (class or backend), its decode rows on the device's own architecture",
    )
    moe_rows: int | None = Field(None, description="MoE rows in the class, when a planned model is MoE")
    weak: bool
    label: str


def calibration_strength(
    hardware, gpu_id: str | None, coverage: BenchCoverage, calib: CalibrationSet, moe: bool = False
) -> Calibration:
    """The rows behind this build's speed: the calibration entry the speed model picks for
    its first accelerator (or its CPU), as ``CalibrationSet.key`` picks it (architecture,
    then device class, then backend), with the decode and prefill rows that entry was
    fitted on; the public rows on this very device (by its data/gpus.yaml id); and those of
    its device class (backend and kind).

    Weak when no row was run on this device and the entry rests on fewer than
    ``WEAK_ENTRY_ROWS`` (3) decode rows or is borrowed from all backends (pooled): 3 is
    the count below which the fit itself gives a backend no line of its own and widens an
    architecture's spread, since one or two rows pin an efficiency without testing it (a
    Pascal entry on 2 rows predicts every P100 build). An entry that is a fallback (the
    device class's or the backend's, because the device's architecture has no entry) is
    judged by the decode rows of that architecture within it: a Turing card predicted by
    the whole CUDA entry, which holds no Turing row, rests on rows of other architectures
    only. An architecture entry whose decode rows all ran on one other card is thin too: it
    pinned that card's memory system, not the architecture's (a Pascal entry on three P40
    rows and a P100 build). A row on the device itself tests the prediction where it is used. A device class
    with fewer than ``WEAK_CLASS_ROWS`` rows is weak too.

    With ``moe`` (a planned model is a mixture of experts) the class also needs MoE rows of
    its own: a fit on dense models reads a MoE's decode as bandwidth over its active bytes
    and misses the per-expert cost of fine-grained MoEs, so such a speed is flagged weak."""
    dev = hardware.gpus[0] if hardware.gpus else hardware.host
    cls = f"{dev.backend}/{dev.kind}"
    class_rows = coverage.rows(dev.backend, dev.kind)
    device_rows = coverage.by_gpu.get(gpu_id, 0) if gpu_id else 0
    key = calib.key(dev.backend, dev.kind, dev.family)
    entry = calib.backends.get(key, calib.pooled)
    pooled = entry.pooled or key not in calib.backends
    fallback = bool(dev.family) and key != f"{dev.backend}/{dev.family}"
    family_rows = coverage.family_decode_rows(dev.backend, dev.family) if fallback else None
    # an architecture entry whose decode rows all ran on one other card has pinned that
    # card's efficiency (its memory system, its clocks), not the architecture's
    one_card = (
        not pooled
        and not fallback
        and bool(dev.family)
        and coverage.family_decode_devices(dev.backend, dev.family or "") == 1
    )
    thin = pooled or one_card or (family_rows if family_rows is not None else entry.n_decode) < WEAK_ENTRY_ROWS
    weak_entry = device_rows == 0 and thin
    moe_rows = coverage.moe_rows(dev.backend, dev.kind, dev.family) if moe else None
    weak_moe = moe_rows is not None and moe_rows < WEAK_MOE_ROWS
    weak_class = class_rows < WEAK_CLASS_ROWS
    rows = "pooled over all backends" if pooled else f"{entry.n_decode} decode / {entry.n_prefill} prefill rows"
    if family_rows is not None:
        rows += f" ({family_rows or 'no'} {dev.family} decode row{'' if family_rows == 1 else 's'})"
    label = f"{key}: {rows}, {device_rows} on this device; {cls}: {class_rows} public llama-bench rows"
    if moe_rows is not None:
        label += f", {moe_rows} of MoE models"
    reasons = []
    if weak_entry and family_rows is not None and not pooled:
        few = "no" if family_rows == 0 else f"fewer than {WEAK_ENTRY_ROWS}"
        reasons.append(f"weak calibration ({few} {dev.family} decode rows behind {key}, none on this device)")
    elif weak_entry and one_card and entry.n_decode >= WEAK_ENTRY_ROWS:
        reasons.append(f"weak calibration (every {key} decode row ran on one other card, none on this device)")
    elif weak_entry:
        reasons.append(f"weak calibration (fewer than {WEAK_ENTRY_ROWS} decode rows behind {key}, none on this device)")
    elif weak_class:
        reasons.append(f"weak calibration (fewer than {WEAK_CLASS_ROWS} rows in {cls})")
    if weak_moe:
        reasons.append("weak calibration for MoE models")
    if reasons:
        label += " — " + "; ".join(reasons)
    return Calibration(
        device_class=cls,
        class_rows=class_rows,
        device_rows=device_rows,
        entry=key,
        entry_decode_rows=0 if pooled else entry.n_decode,
        entry_prefill_rows=0 if pooled else entry.n_prefill,
        family=dev.family if fallback else None,
        family_decode_rows=family_rows,
        moe_rows=moe_rows,
        weak=bool(reasons),
        label=label,
    )


class ModelRun(BaseModel):
    model_config = ConfigDict(frozen=True)

    model_id: str
    fits: bool
    how: str
    decode_tokens_per_s: float | None = None
    decode_low: float | None = None
    decode_at_ctx_tokens_per_s: float | None = Field(
        None,
        description=(
            "decode averaged as the context fills from the prompt to full (sizing.core.speed.context): "
            "what a user who works at the chosen context waits; decode_tokens_per_s is at an empty "
            "cache, as public benchmarks report it"
        ),
    )
    prefill_tokens_per_s: float | None = None
    ttft_s: float | None = None
    speed_basis: str | None = None
    llama_server: str | None = None


class Row(BaseModel):
    """One build, priced whole, with its speed, cost and the reason for its rank."""

    model_config = ConfigDict(frozen=True)

    rank: int = 0
    build_id: str
    label: str
    kind: str
    gpu_id: str | None
    count: int
    platform_id: str | None
    price_usd: float
    lines: tuple[dict, ...]
    oldest_price: str
    stale_prices: tuple[str, ...] = ()
    price_basis: str = Field(
        "",
        description="which price the cards (or the system) are priced at: kind, date, weak or not, and the "
        "newer weak figure it was chosen over (prices.Price.tag)",
    )
    load_w: float
    idle_w: float
    ram_gb: float
    fits: bool
    meets_target: bool
    decode_tokens_per_s: float | None = Field(None, description="slowest target model, expected")
    decode_low: float | None = None
    decode_at_ctx_tokens_per_s: float | None = Field(
        None, description="slowest target model, decode averaged as the chosen context fills (ModelRun)"
    )
    ttft_s: float | None = None
    usd_per_m_tokens: float | None = Field(None, description="own cost per million output tokens over the build's life")
    calibration: Calibration
    speed_basis: str
    why: str = ""
    host_why: str = Field("", description="the host rules this build's host passes, and the cheaper hosts they refused")
    shortfall: str | None = None
    notes: tuple[str, ...] = ()
    models: tuple[ModelRun, ...]


class PurchasePlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    objective: str
    options: tuple[Row, ...]
    closest: tuple[Row, ...] = ()
    message: str
    considered: int
    refused_physically: int = 0
    notes: tuple[str, ...] = ()

    @property
    def met(self) -> bool:
        return bool(self.options)


class Usage(BaseModel):
    """How the machine would be used: for cost per token and the cloud comparison."""

    model_config = ConfigDict(frozen=True)

    years: float = Field(3.0, gt=0, le=20)
    hours_per_day: float = Field(8.0, gt=0, le=24)
    usd_per_kwh: float = Field(0.30, ge=0, le=10)


def own_cost_per_m(price_usd: float, load_w: float, idle_w: float, tps: float, usage: Usage) -> float:
    """USD per million generated tokens: purchase spread over its life plus electricity,
    generating ``hours_per_day`` and idle the rest of the day."""
    per_day = (
        price_usd / (usage.years * 365.25)
        + (load_w * usage.hours_per_day + idle_w * (24 - usage.hours_per_day)) / 1000 * usage.usd_per_kwh
    )
    return per_day / (tps * 3600 * usage.hours_per_day) * 1e6


def _positive(v: float) -> bool:
    return v > 0 and math.isfinite(v)


class MemoryNeed(BaseModel):
    """What the largest target model needs, before any placement."""

    model_config = ConfigDict(frozen=True)

    cpu_ram_gib: float = Field(description="a CPU-only run: the whole estimate on the CPU backend, plus 16 GiB")
    core_gib: float = Field(description="weights + KV cache: a lower bound on any machine's memory for it")
    weights_gib: float = Field(0.0, description="the weights alone, as a GPU backend types them")


def memory_need(models: Sequence[ModelArch], quant: str, ctx: int, calib: CalibrationSet) -> MemoryNeed:
    """Each model typed at ``quant`` as the solver types it: the whole estimate on the CPU
    backend (a CPU-only server's RAM), and weights + KV on a GPU backend (a lower bound
    for any accelerator build)."""
    from sizing.core.machine import cpu_hardware, custom_machine

    host = cpu_hardware("sizing", ram_bytes=1 << 50, bandwidth_gbs=1.0, threads=1)
    card = custom_machine(memory_gb=1 << 20, bandwidth_gbs=1.0, backend="cuda")
    cpu = core = weights = 0.0
    for arch in models:
        c = min(ctx, arch.max_context)
        m = solve(arch, quant, c, host, calib, with_speed=False).memory
        g = solve(arch, quant, c, card, calib, with_speed=False).memory
        cpu = max(cpu, m.total_bytes / GIB)
        core = max(core, (g.weights_bytes + g.kv_cache_bytes) / GIB)
        weights = max(weights, g.weights_bytes / GIB)
    return MemoryNeed(cpu_ram_gib=cpu + 16.0, core_gib=core, weights_gib=weights)


def experts_offloaded(placement) -> bool:
    """Every layer on the cards, only routed experts in RAM (``--n-cpu-moe`` / ``-ot exps=CPU``):
    what an expert-offload build is bought for, never whole layers in RAM."""
    return (
        placement.fits
        and placement.gpu_layers >= placement.n_layers + 1
        and (placement.cpu_moe or placement.n_cpu_moe > 0)
    )


def offload_ram_sizer(
    models: Sequence[ModelArch], quant: str, ctx: int, calib: CalibrationSet, memory_fn: MemoryFn | None = None
):
    """``(card, count) -> GiB of RAM`` an expert-offload build needs: every model placed on
    the cards with unbounded RAM, what the host side then holds, plus the OS reserve the
    MoE placement work uses; None when a model cannot keep every layer on the cards."""
    from sizing.core.machine import HostSpec, machine_from_gpu

    big = HostSpec(name="sizing host", ram_bytes=1 << 50, bandwidth_gbs=100.0, threads=16, assumed=False)
    seen: dict[tuple, float | None] = {}

    def need(gpu, count: int) -> float | None:
        key = (gpu.id, count)
        if key not in seen:
            gib = 0.0
            for arch in models:
                if not arch.is_moe:
                    gib = -1.0
                    break
                pl = solve(
                    arch,
                    quant,
                    min(ctx, arch.max_context),
                    machine_from_gpu(gpu, count, host=big),
                    calib,
                    memory_fn=memory_fn,
                    with_speed=False,
                ).placement
                if not experts_offloaded(pl):
                    gib = -1.0
                    break
                gib = max(gib, pl.devices[-1].used_bytes / GIB)
            seen[key] = gib + OS_RESERVE_GB if gib > 0 else None
        return seen[key]

    return need


def _speed_key(b: Build) -> tuple:
    """Builds whose models sit wholly on the same cards run at the same speed whatever the
    host: solve once per card and count (hosts differ only in RAM and threads)."""
    if b.kind == "gpu-build":
        return ("gpu", b.gpu_id, b.count)
    return ("build", b.id)


def _runs(
    build: Build,
    models: Sequence[ModelArch],
    quant: str,
    ctx: int,
    calib: CalibrationSet,
    memory_fn: MemoryFn | None,
    prompt_tokens: int | None,
    core_gib: float = 0.0,
) -> tuple[list[ModelRun], list]:
    runs, plans = [], []
    cap = sum(d.memory_bytes for d in build.hardware.gpus) / GIB if build.hardware.gpus else None
    if build.kind in ("gpu-build", "system", "unified") and cap is not None and cap < core_gib:
        # weights + KV alone exceed the accelerators: no placement can hold it there
        how = f"needs ≥ {core_gib:.0f} GiB for weights + KV, the accelerators hold {cap:.0f} GiB"
        return [ModelRun(model_id=a.id, fits=False, how=how) for a in models], [None] * len(models)
    for arch in models:
        c_ctx = min(ctx, arch.max_context)
        p = solve(arch, quant, c_ctx, build.hardware, calib, memory_fn=memory_fn, prompt_tokens=prompt_tokens)
        pl = p.placement
        # a GPU purchase must hold the model on its cards; an offload build may keep routed experts in RAM
        ok = pl.fits and (
            pl.all_on_gpu
            or build.kind == "cpu-only"
            or not build.hardware.gpus
            or (build.kind == "offload" and experts_offloaded(pl))
        )
        sp = p.speed if ok else None
        runs.append(
            ModelRun(
                model_id=arch.id,
                fits=ok,
                how=pl.how,
                decode_tokens_per_s=sp.decode_tokens_per_s.expected if sp else None,
                decode_low=sp.decode_tokens_per_s.low if sp else None,
                prefill_tokens_per_s=sp.prefill_tokens_per_s.expected if sp else None,
                ttft_s=sp.ttft_s.expected if sp else None,
                speed_basis=(f"{sp.basis.method}; {sp.calibration}" if sp else None),
            )
        )
        plans.append(p)
    return runs, plans


def plan(
    models: Sequence[ModelArch],
    builds: Iterable[Build],
    *,
    quant: str,
    ctx: int,
    calib: CalibrationSet,
    coverage: BenchCoverage,
    today: dt.date,
    objective: str = "cheapest",
    target_tps: float | None = None,
    budget_usd: float | None = None,
    usage: Usage | None = None,
    prompt_tokens: int | None = None,
    memory_fn: MemoryFn | None = None,
    limit: int = 10,
    refused_physically: int = 0,
    notes: Sequence[str] = (),
    core_gib: float = 0.0,
    solved: dict[tuple, tuple[list[ModelRun], list]] | None = None,
) -> PurchasePlan:
    """Rank ``builds`` for ``models`` by ``objective``; see the module docstring.
    ``core_gib`` (``memory_need(...).core_gib``): builds whose accelerators hold less are
    answered "does not fit" without a placement search. ``solved``: the placements of an
    earlier call with the same models, builds, quant, context, calibration, memory
    function, prompt and ``core_gib``, filled in here (the caller keys it by those), so
    a plan that changes only the objective, target, budget or usage places nothing again."""
    if not models:
        raise SizingError("give at least one model to plan for")
    if objective not in OBJECTIVES:
        raise SizingError(f"unknown objective {objective!r}; one of {', '.join(OBJECTIVES)}")
    for what, v in (("budget", budget_usd), ("target tokens/s", target_tps)):
        if v is not None and not _positive(v):
            raise SizingError(f"{what} must be a number > 0, got {v:g}")
    check_context(ctx)
    usage = usage or Usage()
    any_moe = any(m.is_moe for m in models)
    cache: dict[tuple, tuple[list[ModelRun], list]] = solved if solved is not None else {}
    rows: list[Row] = []
    plans_by_id: dict[str, list] = {}
    for b in builds:
        key = _speed_key(b)
        if key not in cache:
            cache[key] = _runs(b, models, quant, ctx, calib, memory_fn, prompt_tokens, core_gib)
        runs, plans = cache[key]
        plans_by_id[b.id] = plans
        fits = all(r.fits for r in runs)
        speeds = [r for r in runs if r.decode_tokens_per_s]
        slow = min(speeds, key=lambda r: r.decode_tokens_per_s or 0.0) if fits and speeds else None
        tps = slow.decode_tokens_per_s if slow else None
        short = []
        if not fits:
            bad = [r.model_id for r in runs if not r.fits]
            short.append(
                f"does not hold {', '.join(bad)} " + ("in RAM" if b.kind == "cpu-only" else "on its accelerators")
            )
        host_ok, host_why = _host_rules(b, plans) if fits else (True, "")
        if not host_ok:
            short.append(host_why)
        cal = calibration_strength(b.hardware, b.gpu_id, coverage, calib, moe=any_moe)
        if fits and target_tps and (tps or 0) < target_tps:
            short.append(f"{(tps or 0):.1f} tok/s < {target_tps:g}")
        elif fits and target_tps and cal.weak and slow and (slow.decode_low or 0) < target_tps:
            # a speed few public runs back must reach the target even at its low estimate
            short.append(f"weak calibration: low estimate {(slow.decode_low or 0):.1f} tok/s < {target_tps:g}")
        if budget_usd is not None and b.total_usd > budget_usd:
            short.append(f"${b.total_usd:,.0f} > budget ${budget_usd:,.0f}")
        stale = tuple(
            f"{ln.item}: {ln.unit.date} ({age_months(ln.unit.date, today):.0f} months old)"
            for ln in b.lines
            if is_stale(ln.unit.date, today)
        )
        rows.append(
            Row(
                build_id=b.id,
                label=b.label,
                kind=b.kind,
                gpu_id=b.gpu_id,
                count=b.count,
                platform_id=b.platform_id,
                price_usd=b.total_usd,
                lines=tuple(
                    {
                        "item": ln.item,
                        "id": ln.item_id,
                        "qty": ln.qty,
                        "usd": ln.usd,
                        "unit_usd": ln.unit.usd,
                        "kind": ln.unit.kind,
                        "date": ln.unit.date,
                        "source": ln.unit.source,
                        "age_months": round(age_months(ln.unit.date, today), 1),
                        "stale": is_stale(ln.unit.date, today),
                        "note": ln.unit.note,
                        "weak_basis": ln.unit.weak_basis,
                        "passed_over": ln.unit.passed_over.describe() if ln.unit.passed_over else None,
                        "label": ln.unit.label(),
                    }
                    for ln in b.lines
                ),
                oldest_price=b.oldest_price,
                price_basis=_price_basis(b),
                stale_prices=stale,
                load_w=b.load_w,
                idle_w=b.idle_w,
                ram_gb=b.ram_gb,
                fits=fits,
                meets_target=not short,
                decode_tokens_per_s=tps,
                decode_low=slow.decode_low if slow else None,
                ttft_s=max((r.ttft_s for r in runs if r.ttft_s is not None), default=None) if fits else None,
                usd_per_m_tokens=own_cost_per_m(b.total_usd, b.load_w, b.idle_w, tps, usage) if tps else None,
                calibration=cal,
                speed_basis=(slow.speed_basis if slow and slow.speed_basis else "no speed: the models do not fit"),
                host_why=host_why,
                shortfall="; ".join(short) or None,
                notes=(
                    *b.notes,
                    *(f"weak price basis: {ln.item}: {ln.unit.weak_basis}" for ln in b.lines if ln.unit.weak_basis),
                    *(_load_time_note(b, plans) if fits else ()),
                    *(_narrow_link_note(b, runs, models) if fits else ()),
                ),
                models=tuple(runs),
            )
        )
    sort_key = {
        "cheapest": lambda r: (r.price_usd, -(r.decode_tokens_per_s or 0)),
        "fastest": lambda r: (-speed_band(r.decode_tokens_per_s), r.price_usd),
        "cost-per-token": lambda r: (r.usd_per_m_tokens or math.inf, r.price_usd),
    }[objective]
    meeting = _one_per_card_set(sorted((r for r in rows if r.meets_target), key=sort_key))
    good = _no_idle_cards(meeting)
    if objective == "fastest":
        good = _cheapest_per_speed(good)
    base_notes = (
        (
            "prices: whole builds (platform + RAM the build needs + cards) or complete systems as sold; "
            "each line has its kind (launch MSRP / new street / used), date and source"
        ),
        (
            f"cost per million tokens: purchase over {usage.years:g} years + electricity at "
            f"${usage.usd_per_kwh:.3f}/kWh, {usage.hours_per_day:g} h/day at load, idle the rest"
        ),
        *notes,
    )
    if good:
        top = [
            _shown(
                r.model_copy(
                    update={"rank": i + 1, "why": _why(i, r, meeting, rows, objective, target_tps, budget_usd, usage)}
                ),
                plans_by_id[r.build_id],
                quant,
                ctx,
                models,
                calib,
                prompt_tokens,
            )
            for i, r in enumerate(good[:limit])
        ]
        return PurchasePlan(
            objective=objective,
            options=tuple(top),
            message=f"{len(meeting)} builds meet the target; {_objective_words(objective)}: {top[0].label}",
            considered=len(rows),
            refused_physically=refused_physically,
            notes=base_notes,
        )

    def closeness(r: Row) -> tuple:
        reach = 1.0 if r.fits else 0.0
        if target_tps:
            reach *= min((r.decode_tokens_per_s or 0) / target_tps, 1.0)
        over = r.price_usd / budget_usd if budget_usd else 1.0
        return (not r.fits, -round(reach, 2), max(over, 1.0), r.price_usd)

    closest: list[Row] = []
    seen: set[tuple[str | None, ...]] = set()
    for r in sorted(rows, key=closeness):
        key = (r.gpu_id, r.kind) if r.kind == "gpu-build" else (r.build_id,)
        if key in seen:
            continue
        seen.add(key)
        closest.append(
            _shown(
                r.model_copy(update={"rank": len(closest) + 1, "why": "closest: " + (r.shortfall or "")}),
                plans_by_id[r.build_id],
                quant,
                ctx,
                models,
                calib,
                prompt_tokens,
            )
        )
        if len(closest) == 5:
            break
    return PurchasePlan(
        objective=objective,
        options=(),
        closest=tuple(closest),
        message="no configuration meets this: the closest builds follow",
        considered=len(rows),
        refused_physically=refused_physically,
        notes=base_notes,
    )


SPEED_TIE = 0.02  # speeds within 2% rank as equal: below what any speed estimate here can tell apart


def speed_band(tps: float | None) -> int:
    """Speeds grouped into 2% bands, so "fastest" breaks a near-tie on price (3 cards at
    38.44 tok/s do not outrank 2 cards at 38.41 tok/s that cost $2,500 less)."""
    return math.floor(math.log(tps) / math.log1p(SPEED_TIE)) if tps and tps > 0 else -(10**9)


def _no_idle_cards(ranked: list[Row]) -> list[Row]:
    """Drops a build with more of the same card than another build that is no dearer and
    no slower (same 2% speed band): layer split runs the cards one after another, so once
    the model fits, more of the same card adds price and idle power, not speed."""
    by_card: dict[str, list[Row]] = {}
    for r in ranked:
        if r.kind in ("gpu-build", "offload") and r.gpu_id is not None:
            by_card.setdefault(r.gpu_id, []).append(r)

    def idle(r: Row) -> bool:
        if r.kind not in ("gpu-build", "offload") or r.gpu_id is None:
            return False
        band = speed_band(r.decode_tokens_per_s)
        return any(
            s.count < r.count and s.price_usd <= r.price_usd and speed_band(s.decode_tokens_per_s) >= band
            for s in by_card[r.gpu_id]
        )

    return [r for r in ranked if not idle(r)]


def _cheapest_per_speed(ranked: list[Row]) -> list[Row]:
    """For "fastest" (ranked by speed band, then price): one build per 2% speed band, the
    cheapest. A dearer build at the same speed is never the better buy for speed (an RTX
    PRO 6000 at the speed of an RTX 5090 that costs less than half as much)."""
    seen: set[int] = set()
    out: list[Row] = []
    for r in ranked:
        band = speed_band(r.decode_tokens_per_s)
        if band not in seen:
            seen.add(band)
            out.append(r)
    return out


def _one_per_card_set(ranked: list[Row]) -> list[Row]:
    """The best-ranked host for each set of cards: the same cards on a pricier host run at
    the same speed, so listing them again would crowd out the real alternatives."""
    seen: set[tuple] = set()
    out = []
    for r in ranked:
        key = (r.kind, r.gpu_id, r.count) if r.kind in ("gpu-build", "offload") else (r.build_id,)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _weights_bytes(plans: list) -> float:
    return max((p.memory.weights_bytes for p in plans if p is not None), default=0)


def _host_rules(b: Build, plans: list) -> tuple[bool, str]:
    """Whether the build's host passes the RAM rule for the weights the plan loads
    (``sizing.core.hosts``), and the host rules as the row's "why" states them: RAM against
    weights, and the cheaper hosts the rules passed over. An expert-offload build's RAM
    is sized to what its placement keeps in RAM."""
    if b.kind == "offload" and plans and plans[0] is not None:
        held = max(p.placement.devices[-1].used_bytes for p in plans if p is not None) / GIB
        return True, f"host RAM {b.ram_gb:.0f} GB ≥ the {held:.0f} GiB kept in RAM + {OS_RESERVE_GB:.0f} GB for the OS"
    if b.kind != "gpu-build" or not b.hardware.gpus:
        return True, ""
    ok, text = ram_check(b.ram_gb, _weights_bytes(plans) / GIB)
    text = f"{text}: {RAM_RULE}" if not ok else text
    parts = [text, *((b.host_rule,) if b.host_rule else ())]
    if b.host_passed_over:
        parts.append("cheaper hosts passed over: " + "; ".join(b.host_passed_over))
    return ok, "; ".join(parts)


LOAD_NOTE_S = 30.0  # from this many seconds of weights crossing the links, a row says how long loading takes


def _load_time_note(b: Build, plans: list) -> tuple[str, ...]:
    """How long the weights take to cross narrow links (x1 risers, a chipset x4 slot)."""
    if b.kind != "gpu-build" or not b.link_gbs:
        return ()
    w = _weights_bytes(plans)
    if load_seconds(w, b.link_gbs) < LOAD_NOTE_S:
        return ()
    return (load_note(w, b.link_gbs, b.link or "the narrowest card link"),)


LINK_SHARE_NOTE = 0.05  # the share of the links' time that prefill's activations take, from which a row says so


def _narrow_link_note(b: Build, runs: Sequence[ModelRun], models: Sequence[ModelArch]) -> tuple[str, ...]:
    """What narrow slot links (x1 risers, a chipset x4 slot) cost a layer-split build, per model.

    With every layer on the cards, no weights cross the links: between cards only the hidden
    state does, in F32 (hidden size x 4 bytes per token), and consumer cards without peer
    to peer send it through the host, over two links per hop. Decode moves a few KB per token,
    nothing next to a ~1 GB/s link. Prefill moves it for every prompt token: at the predicted
    prefill rate that is a share of the link's time the predicted speed does not include, so
    the row says how large (an x1 riser's cost is a few percent to tens of percent of prefill,
    not the orders of magnitude a weight stream would cost)."""
    if b.kind != "gpu-build" or b.count < 2 or not b.link_gbs:
        return ()
    out = []
    for run, arch in zip(runs, models):
        if not run.prefill_tokens_per_s:
            continue
        per_token = arch.hidden_size * 4 * 2 * (b.count - 1)  # bytes over the links per prompt token
        share = run.prefill_tokens_per_s * per_token / (b.link_gbs * 1e9)
        if share < LINK_SHARE_NOTE:
            continue
        hops = f"{b.count - 1} hop" + ("s" if b.count > 2 else "")
        out.append(
            f"{arch.id}: between its {b.count} cards {arch.hidden_size:,} × 4 bytes per token cross the "
            f"~{b.link_gbs:.0f} GB/s links ({hops}, each through the host): decode is unaffected, but at the "
            f"predicted {run.prefill_tokens_per_s:,.0f} tok/s prefill that is ~{share:.0%} of the links' time, "
            "which the predicted prefill does not include"
        )
    return tuple(out)


def _price_basis(b: Build) -> str:
    """The price the build's cards (or the system as sold) rest on, as a row labels it."""
    main = [ln for ln in b.lines if b.gpu_id and ln.item_id == b.gpu_id] or list(b.lines[:1])
    return "; ".join(f"{ln.item}: ${ln.unit.usd:,.0f} {ln.unit.tag()}" for ln in main)


def _objective_words(objective: str) -> str:
    return {"cheapest": "cheapest", "fastest": "fastest", "cost-per-token": "lowest cost per token"}[objective]


def _why(
    i: int,
    r: Row,
    good: list[Row],
    rows: list[Row],
    objective: str,
    target: float | None,
    budget: float | None,
    usage: Usage,
) -> str:
    cond = []
    if target:
        cond.append(f"≥ {target:g} tok/s")
    if budget:
        cond.append(f"≤ ${budget:,.0f}")
    within = f" of {len(good)} builds that hold the models" + (f" at {' and '.join(cond)}" if cond else "")
    if objective == "cheapest":
        head = f"#{i + 1} by price{within}"
        if i == 0:
            cheaper = [x for x in rows if x.price_usd < r.price_usd and not x.meets_target and x.fits]
            if cheaper:
                c = min(cheaper, key=lambda x: -x.price_usd)
                head += f"; the next cheaper build ({c.label}, ${c.price_usd:,.0f}) misses: {c.shortfall}"
    elif objective == "fastest":
        head = f"#{i + 1} by speed{within}"
    else:
        head = f"#{i + 1} by cost per million tokens ({usage.hours_per_day:g} h/day, {usage.years:g} years){within}"
    if r.calibration.weak:
        head += "; speed rests on weak calibration" + (" (meets the target even at its low estimate)" if target else "")
    if r.host_why:
        head += f"; host: {r.host_why}"
    weak_prices = [ln["item"] for ln in r.lines if ln.get("weak_basis")]
    if weak_prices:
        head += f"; the price of {', '.join(weak_prices)} rests on a weak figure (see the notes)"
    return head


def _shown(
    r: Row,
    plans: list,
    quant: str,
    ctx: int,
    models: Sequence[ModelArch],
    calib: CalibrationSet,
    prompt_tokens: int | None,
) -> Row:
    """What a row adds once it is shown, so only the shown rows pay for it: each model's
    launch command and its decode as the chosen context fills (the row's the slowest)."""
    runs = []
    for run, p, arch in zip(r.models, plans, models):
        cmd = at_ctx = None
        if run.fits and p is not None:
            c_ctx = min(ctx, arch.max_context)
            try:
                cmd = launch_commands(arch.id, quant, p.placement, ctx=c_ctx).llama_server
            except SizingError:
                cmd = None
            if run.decode_tokens_per_s:
                prompt = min(prompt_tokens, c_ctx) if prompt_tokens else None
                at_ctx = context_speed(p.placement.works, calib, ctx=c_ctx, prompt_tokens=prompt, curve=False)
        runs.append(
            run.model_copy(
                update={
                    "llama_server": cmd,
                    "decode_at_ctx_tokens_per_s": at_ctx.decode_mean.expected if at_ctx else None,
                }
            )
        )
    at = [x.decode_at_ctx_tokens_per_s for x in runs if x.decode_at_ctx_tokens_per_s]
    return r.model_copy(update={"models": tuple(runs), "decode_at_ctx_tokens_per_s": min(at) if at else None})

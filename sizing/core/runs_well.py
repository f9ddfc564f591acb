"""What runs well on a machine: the catalog ranked by usefulness, not by size alone.

A model that fits but answers at 1 tok/s is not useful, so usefulness is: first, a
speed the user can live with (a floor, by default reading speed); then the most capable
model; and for each model the highest-quality quant that still keeps that speed.

"Most capable" is size weighed by age. At equal size a newer model is better: the
densing law (Xiao et al., Nature Machine Intelligence, 2025; ``sizing/data/releases.yaml``
cites it) measured the best open models' capability per parameter doubling about every
3.5 months. So each model's parameter count is scaled by that law to one date (the
newest release in the table) before sizes are compared: CodeLlama-34B (August 2023)
counts for less than Qwen2.5-Coder-32B (November 2024), and a 2023 70B for less than a
2025 32B. A model with no known date is taken to be as old as the oldest dated one, so
it never overtakes a model by being undated. Quants below Q4_K_M lose noticeably more quality (llama.cpp's quantize table
lists their perplexity increase), so such a row ranks after every usable row at Q4_K_M
or better. A model that cannot reach the floor is shown after all usable ones, at its
fastest quant, never at a large one that barely moves.

Pure: the machine, the speed calibration and the models come in; the solver answers
each (model, quant) question; nothing here reads files, clocks or the UI. The CLI's
``fit`` and the app's "What runs well" page both draw this list.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.arch import ModelArch
from sizing.core.machine import Hardware
from sizing.core.solver import OFFLOAD_CEILING, QUANT_LADDER, MemoryFn, Plan, check_context, solve
from sizing.core.speed.calibration import CalibrationSet

READING_SPEED_TPS = 10.0  # about reading speed: slower output makes a person wait on every line
GOOD_QUANTS = frozenset(("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M"))
TASKS = ("chat", "code", "reasoning", "vision")
DENSING_DOUBLING_MONTHS = 3.5  # Xiao et al., "Densing law of LLMs", Nature Machine Intelligence (2025)
_DAYS_PER_MONTH = 365.25 / 12

Where = Literal["GPU", "GPU+RAM", "CPU", "unified", "does not fit"]


class RunsWell(BaseModel):
    """One model on one machine: the quant chosen for it, its speed and where it runs."""

    model_config = ConfigDict(frozen=True)

    model_id: str
    name: str
    params_b: float = Field(description="total parameters, billions")
    active_params_b: float = Field(description="parameters read per token, billions (MoE: the active ones)")
    tasks: tuple[str, ...] = ()
    released: dt.date | None = Field(None, description="first public release (None: unknown)")
    rank_params_b: float = Field(
        description="the size the ranking compares: parameters scaled by the densing law to the newest release date"
    )
    quant: str | None = Field(None, description="the best quant that keeps the speed floor, else the fastest")
    fits: bool
    meets_floor: bool
    decode_tokens_per_s: float | None = None
    decode_range: tuple[float, float] | None = None
    total_bytes: int | None = None
    where: Where
    n_cpu_moe: int | None = Field(None, description="MoE: layers whose routed experts sit in system RAM")
    how: str
    reason: str = Field(description="why this row sits where it does, in a few words")


def where_it_runs(plan: Plan, hardware: Hardware) -> Where:
    """'CPU' on a machine without accelerators; 'unified' on one memory pool; else GPU or
    GPU+RAM by whether every layer sits on the accelerator."""
    if not plan.fits:
        return "does not fit"
    if not hardware.gpus:
        return "CPU"
    if hardware.unified:
        return "unified"
    return "GPU" if plan.placement.all_on_gpu else "GPU+RAM"


def _speed(plan: Plan) -> float:
    sp = plan.speed
    return sp.decode_tokens_per_s.expected if (plan.fits and sp is not None) else 0.0


def choose_quant(
    arch: ModelArch,
    ctx: int,
    hardware: Hardware,
    calib: CalibrationSet,
    *,
    min_tps: float,
    quants: Iterable[str] = QUANT_LADDER,
    memory_fn: MemoryFn | None = None,
) -> tuple[Plan | None, bool]:
    """(plan, meets_floor): the highest-quality quant that fits at ``ctx`` and decodes at
    ``min_tps`` or more; if none does, the fastest one that fits; (None, False) when no
    quant fits at all.

    With layers in system RAM, no more bits than Q4_K_M are chosen (the solver's
    ``best_quant`` rule): the extra bits would be read from RAM on every token, buying a
    slower answer where a smaller quant on the accelerator is both fast and close.
    Smaller quants read fewer bytes per token, so speed rises down the ladder and the
    first quant that keeps the floor is found by bisection (few solver calls per model).
    """
    ladder = list(quants)
    memo: dict[int, Plan] = {}
    ceiling = ladder.index(OFFLOAD_CEILING) if OFFLOAD_CEILING in ladder else 0

    def trial(i: int) -> Plan:
        if i not in memo:
            memo[i] = solve(arch, ladder[i], ctx, hardware, calib, memory_fn=memory_fn)
        return memo[i]

    def ok(i: int) -> bool:
        p = trial(i)
        offloaded = bool(hardware.gpus) and not p.placement.all_on_gpu
        return p.fits and _speed(p) >= min_tps and not (offloaded and i < ceiling)

    last = len(ladder) - 1
    if ok(last):
        lo, hi = 0, last
        while lo < hi:
            mid = (lo + hi) // 2
            if ok(mid):
                hi = mid
            else:
                lo = mid + 1
        return trial(lo), True
    # Nothing keeps the floor: the fastest quant that fits (the smallest, unless a larger
    # one is faster on this machine's placement), never a big one that barely moves.
    if not trial(last).fits:  # the smallest quant does not fit: no larger one does
        return None, False
    fitting = [trial(i) for i in range(len(ladder)) if trial(i).fits]
    return max(fitting, key=_speed), False


def rank_for_hardware(
    models: Iterable[ModelArch],
    hardware: Hardware,
    calib: CalibrationSet,
    *,
    ctx: int = 4096,
    min_tps: float = READING_SPEED_TPS,
    task: str | None = None,
    tasks_of: Mapping[str, Iterable[str]] | None = None,
    released_of: Mapping[str, dt.date] | None = None,
    doubling_months: float = DENSING_DOUBLING_MONTHS,
    quants: Iterable[str] = QUANT_LADDER,
    memory_fn: MemoryFn | None = None,
) -> list[RunsWell]:
    """The models that suit ``task`` (any when None), ranked by usefulness on ``hardware``.

    Order: rows that keep ``min_tps`` at Q4_K_M or better, most capable first (the size
    scaled by release date, ``rank_params_b``; then faster); then rows that keep it only at
    a lower quant; then rows below the floor, fastest first; then models that do not fit.
    ``tasks_of`` maps a model id to its task tags (the catalog's); a model without tags is
    listed only when no task is asked. ``released_of`` maps a model id to its release
    date (the catalog's ``releases.yaml``); without it, size alone ranks.
    """
    from sizing.core.tensors import param_counts

    check_context(ctx)
    if min_tps < 0 or min_tps != min_tps:
        raise ValueError(f"speed floor must be ≥ 0 tok/s, got {min_tps}")
    if not doubling_months > 0:
        raise ValueError(f"doubling time must be > 0 months, got {doubling_months}")
    ladder = list(quants)
    tags = {k: tuple(v) for k, v in (tasks_of or {}).items()}
    dates = dict(released_of or {})
    newest = max(dates.values(), default=None)
    oldest = min(dates.values(), default=None)

    def rank_size(params_b: float, released: dt.date | None) -> float:
        when = released or oldest
        if newest is None or when is None:
            return params_b
        months = (newest - when).days / _DAYS_PER_MONTH
        return params_b / 2 ** (months / doubling_months)

    rows: list[RunsWell] = []
    for arch in models:
        mine = tags.get(arch.id, ())
        if task is not None and task not in mine:
            continue
        total, active = param_counts(arch)
        c = min(ctx, arch.max_context)
        plan, meets = choose_quant(arch, c, hardware, calib, min_tps=min_tps, quants=ladder, memory_fn=memory_fn)
        released = dates.get(arch.id)
        base = dict(
            model_id=arch.id,
            name=arch.name,
            params_b=total / 1e9,
            active_params_b=active / 1e9,
            tasks=mine,
            released=released,
            rank_params_b=rank_size(total / 1e9, released),
        )
        if plan is None:
            smallest = solve(arch, ladder[-1], c, hardware, calib, memory_fn=memory_fn, with_speed=False)
            rows.append(
                RunsWell(
                    **base,
                    fits=False,
                    meets_floor=False,
                    where="does not fit",
                    how=smallest.placement.how,
                    total_bytes=smallest.memory.total_bytes,
                    reason="too large even at " + ladder[-1],
                )
            )
            continue
        sp = plan.speed
        tps = _speed(plan)
        if meets:
            reason = f"≥ {min_tps:g} tok/s at {plan.quant}" + ("" if plan.quant in GOOD_QUANTS else " (low-bit quant)")
            if dates:
                reason += f"; released {released:%Y-%m}" if released else "; release date unknown"
        else:
            reason = f"below {min_tps:g} tok/s even at its fastest quant"
        rows.append(
            RunsWell(
                **base,
                quant=plan.quant,
                fits=True,
                meets_floor=meets,
                decode_tokens_per_s=tps if sp else None,
                decode_range=(sp.decode_tokens_per_s.low, sp.decode_tokens_per_s.high) if sp else None,
                total_bytes=plan.memory.total_bytes,
                where=where_it_runs(plan, hardware),
                n_cpu_moe=plan.placement.n_cpu_moe or None,
                how=plan.placement.how,
                reason=reason,
            )
        )
    rows.sort(key=_usefulness)
    return rows


def _usefulness(r: RunsWell) -> tuple:
    if not r.fits:
        return (3, -r.params_b)
    if not r.meets_floor:
        return (2, -(r.decode_tokens_per_s or 0.0))
    tier = 0 if r.quant in GOOD_QUANTS else 1
    return (tier, -float(f"{r.rank_params_b:.3g}"), -(r.decode_tokens_per_s or 0.0))

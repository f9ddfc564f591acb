"""The one purchase composition: a ``PlanRequest`` in, one ``PlanAnswer`` out.

"What should I buy" needs the same steps wherever it is asked: resolve the models, read
the electricity price of the region, parse the user's price overrides, size the memory
the models need, list every whole build the data can price (``sizing.core.builds``),
rank them (``sizing.core.purchase.plan``) and, when asked, cost the chosen build
against renting (``sizing.core.cloud``). The CLI (``plan --json`` is
``PlanAnswer.to_json()``), the UI and ``bench/purchase.py`` all call ``plan_purchase``,
so they show one shape with the same numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.arch import ModelArch
from sizing.core.cloud import BuyOrRent, Workload
from sizing.core.purchase import OBJECTIVES, PurchasePlan, Row, Usage
from sizing.errors import SizingError

ModelResolver = Callable[[str], ModelArch]


class PlanRequest(BaseModel):
    """Everything a purchase plan depends on (what a link or a command line holds)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    models: tuple[str, ...] = Field(min_length=1, description="catalog ids, HF repo ids or GGUF paths")
    quant: str = "Q4_K_M"
    ctx: int = 8192
    objective: str = "cheapest"
    target_tps: float | None = None
    budget_usd: float | None = None
    used: bool = False
    prices: tuple[str, ...] = Field((), description="price overrides, ID=USD")
    cpu_only: bool = True
    limit: int = 10
    prompt_tokens: int | None = None
    region: str = "EU"
    usd_per_kwh: float | None = Field(None, description="overrides the region's electricity price")
    hours_per_day: float = 8.0
    years: float = 3.0

    def checked(self) -> PlanRequest:
        """One clear message for the first bad value (never a traceback)."""

        def pos(name: str, v: float | None) -> None:
            if v is not None and not (v > 0 and math.isfinite(v)):
                raise SizingError(f"{name} must be > 0, got {v:g}")

        pos("budget", self.budget_usd)
        pos("target tokens/s", self.target_tps)
        pos("years", self.years)
        if self.objective not in OBJECTIVES:
            raise SizingError(f"unknown objective {self.objective!r}; one of {', '.join(OBJECTIVES)}")
        if self.ctx <= 0:
            raise SizingError(f"context must be > 0, got {self.ctx}")
        if self.limit <= 0:
            raise SizingError(f"limit must be > 0, got {self.limit}")
        if not (0 < self.hours_per_day <= 24):
            raise SizingError(f"hours per day must be in (0, 24], got {self.hours_per_day:g}")
        if self.prompt_tokens is not None and self.prompt_tokens <= 0:
            raise SizingError(f"prompt tokens must be > 0, got {self.prompt_tokens}")
        if self.usd_per_kwh is not None and not (self.usd_per_kwh >= 0 and math.isfinite(self.usd_per_kwh)):
            raise SizingError(f"electricity price must be ≥ 0 USD/kWh, got {self.usd_per_kwh:g}")
        return self


class PlanAnswer(BaseModel):
    """The ranked builds (or the closest ones), with what they were ranked under."""

    model_config = ConfigDict(frozen=True)

    message: str
    met: bool
    objective: str
    options: tuple[Row, ...]
    closest: tuple[Row, ...]
    considered: int
    refused_physically: int
    notes: tuple[str, ...]
    calibration: str
    region: str
    usd_per_kwh: float
    models: tuple[str, ...] = Field(description="the resolved model ids, in request order")
    today: str
    cost: BuyOrRent | None = Field(None, description="buy or rent, when a workload was given")

    @property
    def rows(self) -> tuple[Row, ...]:
        """The rows shown: the ranking, else the closest builds."""
        return self.options or self.closest

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), indent=2)


class _Setting(BaseModel):
    """What a plan and a buy-or-rent comparison share: the resolved models and the data."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    models: tuple[Any, ...]
    gpus: tuple[Any, ...]
    calib: Any
    usage: Usage
    region: str
    kwh: float
    kwh_note: str
    today: dt.date


def _resolver() -> ModelResolver:
    from sizing.sources.resolve import resolve_model

    return lambda spec: resolve_model(spec).arch


def _setting(req: PlanRequest, resolve: ModelResolver | None, today: dt.date | None) -> _Setting:
    from sizing.core.cloud import electricity
    from sizing.core.speed.calibration import load_calibration
    from sizing.hardware.db import load_gpus

    elec = electricity()
    region = elec.region(req.region)
    kwh = req.usd_per_kwh if req.usd_per_kwh is not None else elec.usd_per_kwh(region.id)
    note = (
        f"electricity: {region.name} {kwh:.3f} USD/kWh ({region.date}, {region.source})"
        if req.usd_per_kwh is None
        else f"electricity: {kwh:g} USD/kWh (given)"
    )
    resolve = resolve or _resolver()
    return _Setting(
        models=tuple(resolve(m) for m in req.models),
        gpus=tuple(load_gpus().all),
        calib=load_calibration(),
        usage=Usage(years=req.years, hours_per_day=req.hours_per_day, usd_per_kwh=kwh),
        region=region.id,
        kwh=kwh,
        kwh_note=note,
        today=today or dt.date.today(),
    )


@lru_cache(maxsize=2)  # one holds a few hundred solver plans (a few MiB)
def _solved(*key: Any) -> dict:
    """The placements solved for one set of models and builds, shared by the plans that
    differ only in objective, target, budget or usage (``sizing.core.purchase.plan``'s
    ``solved``): keyed by value, the resolved models themselves and every request field
    the builds or the placements depend on."""
    return {}


def plan_purchase(
    req: PlanRequest,
    *,
    workload: Workload | None = None,
    build_id: str | None = None,
    cloud: str | None = None,
    api_price: tuple[float, float] | None = None,
    resolve: ModelResolver | None = None,
    today: dt.date | None = None,
) -> PlanAnswer:
    """Rank every whole build for ``req``; with ``workload``, cost ``build_id`` (else the
    top row) against cloud GPUs by the hour and APIs serving the first model.
    ``resolve`` turns a model spec into its architecture (default: ``resolve_model``)."""
    from sizing.core.builds import all_builds, priced_ids
    from sizing.core.hosts import gpu_host_ram_gb
    from sizing.core.prices import parse_overrides
    from sizing.core.purchase import memory_need, offload_ram_sizer, plan
    from sizing.core.speed.coverage import bench_coverage

    req = req.checked()
    s = _setting(req, resolve, today)
    overrides = parse_overrides(req.prices, priced_ids(s.gpus))
    models = list(s.models)
    need = memory_need(models, req.quant, req.ctx, s.calib)
    builds, refused = all_builds(
        list(s.gpus),
        used=req.used,
        overrides=overrides,
        today=s.today,
        ram_need_gb=need.cpu_ram_gib,
        cpu_only=req.cpu_only,
        offload=any(m.is_moe for m in models),
        model_gb=need.core_gib,
        ram_for=offload_ram_sizer(models, req.quant, req.ctx, s.calib),
        host_ram_gb=gpu_host_ram_gb(need.weights_gib),
    )
    result: PurchasePlan = plan(
        models,
        builds,
        quant=req.quant,
        ctx=req.ctx,
        calib=s.calib,
        coverage=bench_coverage(),
        today=s.today,
        objective=req.objective,
        target_tps=req.target_tps,
        budget_usd=req.budget_usd,
        usage=s.usage,
        prompt_tokens=req.prompt_tokens,
        limit=req.limit,
        refused_physically=refused,
        core_gib=need.core_gib,
        notes=(s.kwh_note,),
        solved=_solved(
            tuple(models), req.quant, req.ctx, req.prompt_tokens, req.used, req.prices, req.cpu_only, s.today
        ),
    )
    cost = None
    if workload is not None:
        rows = list(result.options) + list(result.closest)
        row = next((r for r in rows if r.build_id == build_id), None) if build_id else (rows[0] if rows else None)
        if build_id and row is None:
            if not any(b.id == build_id for b in builds):
                raise SizingError(f"unknown build {build_id[:60]!r}; use a build id from the plan")
            raise SizingError(f"build {build_id!r} is not among the rows shown; raise the limit or relax the target")
        if row is None:
            raise SizingError("no priced build runs these models, so there is nothing to compare with the cloud")
        cost = compare_with_renting(row, s, req, workload, cloud=cloud, api_price=api_price)
    return PlanAnswer(
        message=result.message,
        met=result.met,
        objective=result.objective,
        options=result.options,
        closest=result.closest,
        considered=result.considered,
        refused_physically=result.refused_physically,
        notes=result.notes,
        calibration=s.calib.name,
        region=s.region,
        usd_per_kwh=s.kwh,
        models=tuple(m.id for m in models),
        today=s.today.isoformat(),
        cost=cost,
    )


def buy_or_rent(
    req: PlanRequest,
    row: Row,
    workload: Workload,
    *,
    cloud: str | None = None,
    api_price: tuple[float, float] | None = None,
    resolve: ModelResolver | None = None,
    today: dt.date | None = None,
) -> BuyOrRent:
    """One already-ranked build (``row``) against renting the same work, under ``req``."""
    req = req.checked()
    return compare_with_renting(row, _setting(req, resolve, today), req, workload, cloud=cloud, api_price=api_price)


def compare_with_renting(
    row: Row,
    s: _Setting,
    req: PlanRequest,
    workload: Workload,
    *,
    cloud: str | None,
    api_price: tuple[float, float] | None,
) -> BuyOrRent:
    from sizing.core.cloud import apis_for, cloud_gpus, cloud_prices
    from sizing.core.cloud import buy_or_rent as compare
    from sizing.core.solver import solve

    if not row.decode_tokens_per_s:
        raise SizingError(f"{row.label} does not run these models, so there is nothing to compare with the cloud")
    model = s.models[0]
    apis = apis_for(model.id, cloud_prices(), pick=cloud, custom=api_price, today=s.today.isoformat())
    return compare(
        row=row,
        model=model,
        quant=req.quant,
        ctx=req.ctx,
        calib=s.calib,
        gpus=list(s.gpus),
        work=workload,
        years=req.years,
        usd_per_kwh=s.kwh,
        apis=apis,
        rentals=cloud_gpus(),
        solve_fn=lambda m, q, c, hw: solve(m, q, c, hw, s.calib),
    )


def request_of(models: Sequence[str], **kw: Any) -> PlanRequest:
    """A request from keyword values, dropping ``None`` so defaults apply."""
    return PlanRequest(models=tuple(models), **{k: v for k, v in kw.items() if v is not None})

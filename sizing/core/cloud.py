"""Buy or rent, like for like: a local build against cloud GPUs by the hour and APIs serving the same model.

Renting is two things: a GPU by the hour (on-demand or spot) running the same model at
the speed our model predicts for that GPU, or an API that serves the same open model at
a per-token price. Proprietary APIs are a reference, never the default. The local side
is the whole build over its life plus electricity at load for the hours it works and idle
the rest of the day, at the region's price per kWh. The break-even is given in months
and in tokens.

Data: ``data/cloud_gpus.yaml``, ``data/cloud_prices.yaml``, ``data/electricity.yaml``;
every figure dated and cited. Pure apart from the cached loaders.
"""

from __future__ import annotations

import math
from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.tables import data_file, read_yaml_mapping, validate
from sizing.errors import SizingError

if TYPE_CHECKING:
    from sizing.core.tables import DataPath
from sizing.core.prices import DATE_RE, SourceUrl

CLOUD_FILE = data_file("cloud_prices.yaml")
CLOUD_GPUS_FILE = data_file("cloud_gpus.yaml")
ELECTRICITY_FILE = data_file("electricity.yaml")
DAYS_PER_MONTH = 365.25 / 12


class CloudPrice(BaseModel):
    """An API's per-token price, and whether it serves an open model (like for like)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    kind: Literal["open", "proprietary"] = Field(description="open: serves an open-weight model (like for like)")
    serves: tuple[str, ...] = Field((), description="catalog ids of the open model it serves")
    input_per_m: float = Field(ge=0)
    output_per_m: float = Field(ge=0)
    date: str = Field(pattern=DATE_RE)
    date_basis: Literal["stated", "read"] = "stated"
    source: SourceUrl


@cache
def cloud_prices(path: DataPath = CLOUD_FILE) -> tuple[CloudPrice, ...]:
    raw = read_yaml_mapping(path, "price list")
    return tuple(
        validate(CloudPrice, e, f"{path}: entry {e.get('id', i) if isinstance(e, dict) else i!r},")
        for i, e in enumerate(raw.get("providers") or [])
    )


class CloudGPU(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: str
    gpu_id: str
    on_demand: float = Field(gt=0, description="USD per GPU-hour")
    spot: float | None = Field(None, gt=0)
    date: str = Field(pattern=DATE_RE)
    source: SourceUrl


class Region(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    price: float = Field(gt=0)
    currency: Literal["USD", "EUR"]
    date: str = Field(pattern=DATE_RE)
    source: SourceUrl


class FxRate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: float = Field(gt=0)
    date: str = Field(pattern=DATE_RE)
    source: SourceUrl


class Electricity(BaseModel):
    model_config = ConfigDict(frozen=True)

    usd_per_eur: FxRate
    regions: tuple[Region, ...]

    def usd_per_kwh(self, region_id: str) -> float:
        r = self.region(region_id)
        return r.price * (self.usd_per_eur.rate if r.currency == "EUR" else 1.0)

    def region(self, region_id: str) -> Region:
        for r in self.regions:
            if r.id.lower() == region_id.strip().lower():
                return r
        raise SizingError(f"unknown region {region_id[:40]!r}; known: {', '.join(r.id for r in self.regions)}")


@cache
def cloud_gpus(path: DataPath = CLOUD_GPUS_FILE) -> tuple[CloudGPU, ...]:
    raw = read_yaml_mapping(path, "cloud GPU prices")
    return tuple(validate(CloudGPU, e, f"{path}: entry {i},") for i, e in enumerate(raw.get("gpus") or []))


@cache
def electricity(path: DataPath = ELECTRICITY_FILE) -> Electricity:
    raw = read_yaml_mapping(path, "electricity prices")
    fx = validate(FxRate, raw.get("usd_per_eur") or {}, f"{path}: usd_per_eur,")
    regions = tuple(validate(Region, e, f"{path}: region {i},") for i, e in enumerate(raw.get("regions") or []))
    return Electricity(usd_per_eur=fx, regions=regions)


# --------------------------------------------------------------------------------------
# the comparison


class Workload(BaseModel):
    """Tokens a day, and how long the local machine works each day for them."""

    model_config = ConfigDict(frozen=True)

    tokens_in_per_day: float = Field(ge=0)
    tokens_out_per_day: float = Field(ge=0)


class RentOption(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    kind: str = Field(description="api-open | api-proprietary | gpu-on-demand | gpu-spot")
    monthly_usd: float
    usd_per_m_out: float | None = None
    basis: str
    date: str
    source: str
    reference_only: bool = False


class LocalCost(BaseModel):
    model_config = ConfigDict(frozen=True)

    build: str
    price_usd: float
    years: float
    busy_hours_per_day: float
    feasible: bool
    hardware_monthly_usd: float
    power_monthly_usd: float
    monthly_usd: float
    usd_per_kwh: float
    basis: str


class BreakEven(BaseModel):
    model_config = ConfigDict(frozen=True)

    against: str
    months: float | None = Field(None, description="None: renting stays cheaper")
    tokens: float | None = Field(None, description="output tokens generated by then")


def local_cost(
    *,
    build: str,
    price_usd: float,
    load_w: float,
    idle_w: float,
    decode_tps: float,
    prefill_tps: float,
    work: Workload,
    years: float,
    usd_per_kwh: float,
) -> LocalCost:
    for what, v in (
        ("price", price_usd),
        ("years", years),
        ("decode tokens/s", decode_tps),
        ("prefill tokens/s", prefill_tps),
    ):
        if not (v > 0 and math.isfinite(v)):
            raise SizingError(f"{what} must be a number > 0, got {v:g}")
    if not (usd_per_kwh >= 0 and math.isfinite(usd_per_kwh)):
        raise SizingError(f"electricity price must be ≥ 0 USD/kWh, got {usd_per_kwh:g}")
    busy_h = (work.tokens_in_per_day / prefill_tps + work.tokens_out_per_day / decode_tps) / 3600
    h = min(busy_h, 24.0)
    kwh_day = (load_w * h + idle_w * (24 - h)) / 1000
    power = kwh_day * usd_per_kwh * DAYS_PER_MONTH
    hw = price_usd / (years * 12)
    return LocalCost(
        build=build,
        price_usd=price_usd,
        years=years,
        busy_hours_per_day=busy_h,
        feasible=busy_h <= 24,
        hardware_monthly_usd=hw,
        power_monthly_usd=power,
        monthly_usd=hw + power,
        usd_per_kwh=usd_per_kwh,
        basis=(
            f"${price_usd:,.0f} over {years:g} years + {load_w:.0f} W for {h:.1f} h/day and {idle_w:.0f} W idle "
            f"the rest, at ${usd_per_kwh:.3f}/kWh"
        ),
    )


def api_option(p, work: Workload) -> RentOption:
    """An API provider's monthly bill for the workload (``p``: a ``CloudPrice``)."""
    monthly = DAYS_PER_MONTH * (work.tokens_in_per_day * p.input_per_m + work.tokens_out_per_day * p.output_per_m) / 1e6
    return RentOption(
        name=p.name,
        kind=f"api-{p.kind}",
        monthly_usd=monthly,
        usd_per_m_out=p.output_per_m,
        basis=f"${p.input_per_m:g}/M in, ${p.output_per_m:g}/M out",
        date=p.date,
        source=p.source,
        reference_only=p.kind == "proprietary",
    )


def gpu_rent_options(
    c: CloudGPU, *, count: int, decode_tps: float, prefill_tps: float, work: Workload, gpu_name: str
) -> list[RentOption]:
    """Renting ``count`` of this GPU only for the hours the workload needs at its predicted speed."""
    busy_h = (work.tokens_in_per_day / prefill_tps + work.tokens_out_per_day / decode_tps) / 3600
    out = []
    for kind, rate in (("gpu-on-demand", c.on_demand), ("gpu-spot", c.spot)):
        if rate is None:
            continue
        monthly = rate * count * busy_h * DAYS_PER_MONTH
        per_m = rate * count / (decode_tps * 3600) * 1e6
        out.append(
            RentOption(
                name=f"{c.provider} {count}× {gpu_name} ({kind.split('-', 1)[1]})",
                kind=kind,
                monthly_usd=monthly,
                usd_per_m_out=per_m,
                basis=(
                    f"${rate:g}/GPU-h × {count} × {busy_h:.1f} h/day at a predicted {decode_tps:.0f} tok/s "
                    f"decode, {prefill_tps:.0f} tok/s prefill"
                ),
                date=c.date,
                source=c.source,
            )
        )
    return out


def break_even(local: LocalCost, rent: RentOption, work: Workload) -> BreakEven:
    """Months until buying has cost less than renting (purchase against the monthly
    saving net of electricity), and the output tokens generated by then."""
    saving = rent.monthly_usd - local.power_monthly_usd
    if saving <= 0:
        return BreakEven(against=rent.name)
    months = local.price_usd / saving
    return BreakEven(against=rent.name, months=months, tokens=months * DAYS_PER_MONTH * work.tokens_out_per_day)


class BuyOrRent(BaseModel):
    """One build against every way to rent the same work."""

    model_config = ConfigDict(frozen=True)

    build_id: str
    model: str
    local: LocalCost
    rent: tuple[RentOption, ...]
    break_even: tuple[BreakEven, ...]
    local_monthly_usd: float
    cloud_monthly_usd: float | None = Field(None, description="the cheapest like-for-like way to rent")
    cloud_name: str | None = None


def buy_or_rent(
    *,
    row,
    model,
    quant: str,
    ctx: int,
    calib,
    gpus,
    work: Workload,
    years: float,
    usd_per_kwh: float,
    apis,
    rentals,
    solve_fn,
) -> BuyOrRent:
    """``row``: a ``purchase.Row`` (its price, power and the first model's speed);
    ``apis``: the API prices to compare (``CloudPrice``); ``rentals``:
    ``CloudGPU`` entries, each timed on the fewest of its GPUs that hold ``model``
    (``solve_fn(model, quant, ctx, hardware)``)."""
    from sizing.core.machine import machine_from_gpu

    first = row.models[0]
    if not first.decode_tokens_per_s:
        raise SizingError(f"{row.label}: no speed for {first.model_id}, so it cannot be costed against the cloud")
    local = local_cost(
        build=row.label,
        price_usd=row.price_usd,
        load_w=row.load_w,
        idle_w=row.idle_w,
        decode_tps=first.decode_tokens_per_s,
        prefill_tps=first.prefill_tokens_per_s or 1e-9,
        work=work,
        years=years,
        usd_per_kwh=usd_per_kwh,
    )
    rent = [api_option(p, work) for p in apis]
    db = {g.id: g for g in gpus}
    for c in rentals:
        g = db.get(c.gpu_id)
        if g is None:
            continue
        for n in (1, 2, 4, 8):
            p = solve_fn(model, quant, min(ctx, model.max_context), machine_from_gpu(g, n))
            if p.placement.fits and p.placement.all_on_gpu and p.speed:
                rent += gpu_rent_options(
                    c,
                    count=n,
                    decode_tps=p.speed.decode_tokens_per_s.expected,
                    prefill_tps=p.speed.prefill_tokens_per_s.expected,
                    work=work,
                    gpu_name=g.name,
                )
                break
    rent.sort(key=lambda o: (o.reference_only, o.monthly_usd))
    like = next((o for o in rent if not o.reference_only), None)
    return BuyOrRent(
        build_id=row.build_id,
        model=model.id,
        local=local,
        rent=tuple(rent),
        break_even=tuple(break_even(local, o, work) for o in rent),
        local_monthly_usd=local.monthly_usd,
        cloud_monthly_usd=like.monthly_usd if like else None,
        cloud_name=like.name if like else None,
    )


def apis_for(
    model_id: str,
    providers,
    *,
    pick: str | None = None,
    custom: tuple[float, float] | None = None,
    today: str = "2026-01-01",
) -> list:
    """The API prices to compare: a custom price, one named provider, or every provider
    serving this open model plus the proprietary ones as reference."""
    if custom is not None:
        return [
            CloudPrice(
                id="custom",
                name="custom API price",
                kind="open",
                input_per_m=custom[0],
                output_per_m=custom[1],
                date=today,
                source="https://user.override/api",
            )
        ]
    by_id = {p.id: p for p in providers}
    if pick:
        if pick not in by_id:
            raise SizingError(f"unknown API provider {pick[:60]!r}; known: {', '.join(by_id)}")
        return [by_id[pick]]
    return [p for p in providers if model_id in p.serves] + [p for p in providers if p.kind == "proprietary"]

"""Purchase planner and local-versus-cloud cost.

``plan_purchase`` answers "what should I buy to run these models at this context and this
speed?": it builds candidate machines from the hardware database (one GPU, 2–8 of the
same GPU, unified-memory machines such as Apple's and DGX Spark), places and times every
target model on each, and ranks those within budget and power cap by price, showing
$ per token/s, watts, memory headroom and the Pareto front of price against speed. When
nothing meets the target it says so and lists the closest options instead of guessing.

``local_vs_cloud`` compares a machine's monthly cost (purchase spread over its life plus
electricity while generating) with an API's per-token prices, and finds the break-even.

Pure: the database entries, prices and a memory estimator are passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.tables import data_file, read_yaml, validate
from sizing.errors import SizingError
from sizing.core.arch import ModelArch
from sizing.core.machine import DEFAULT_HOST, Hardware, HostSpec, machine_from_gpu
from sizing.core.offload_builds import experts_offloaded, offload_candidates
from sizing.core.solver import MemoryFn, check_context, solve
from sizing.core.speed.estimate import decode_step_seconds
from sizing.core.speed.estimate import CalibrationSet
from sizing.units import GIB

COUNTS: tuple[int, ...] = (1, 2, 3, 4, 6, 8)
DAYS_PER_MONTH = 365.25 / 12
if TYPE_CHECKING:
    from sizing.core.tables import DataPath

CLOUD_FILE = data_file("cloud_prices.yaml")
MACHINES_FILE = data_file("machine_prices.yaml")


# --------------------------------------------------------------------------------------
# price data


class MachinePrice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    gpu_id: str
    name: str
    kind: Literal["msrp", "street", "used"]
    price_usd: float = Field(gt=0)
    date: str = Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")
    source: str = Field(pattern=r"^https://\S+$")


class CloudPrice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    kind: Literal["open", "proprietary"] = Field(description="open: serves an open-weight model (like for like)")
    serves: tuple[str, ...] = Field((), description="catalog ids of the open model it serves")
    input_per_m: float = Field(ge=0)
    output_per_m: float = Field(ge=0)
    date: str = Field(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")
    date_basis: Literal["stated", "read"] = "stated"
    source: str = Field(pattern=r"^https://\S+$")


def _load_list(path: DataPath, key: str, model: type[BaseModel]) -> list:
    raw = read_yaml(path, "price list") or {}
    out = []
    for i, entry in enumerate(raw.get(key) or []):
        name = entry.get("id") or entry.get("gpu_id") if isinstance(entry, dict) else None
        out.append(validate(model, entry, f"{path}: entry {name or i!r},"))
    return out


@cache
def cloud_prices(path: DataPath = CLOUD_FILE) -> tuple[CloudPrice, ...]:
    return tuple(_load_list(path, "providers", CloudPrice))


@cache
def machine_prices(path: DataPath = MACHINES_FILE) -> tuple[MachinePrice, ...]:
    return tuple(_load_list(path, "machines", MachinePrice))


# --------------------------------------------------------------------------------------
# purchase planning


class Candidate(BaseModel):
    """A machine to price: n identical devices from the database."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    label: str
    gpu_id: str
    count: int
    price_usd: float | None
    price_source: str
    watts: float | None
    hardware: Hardware
    cpu_only: bool = False
    expert_offload: bool = Field(False, description="1 GPU + RAM: MoE experts may stay in RAM")


class ModelResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    model_id: str
    fits: bool
    how: str
    decode_tokens_per_s: float | None = None
    decode_low: float | None = None
    ttft_s: float | None = None
    headroom: float | None = Field(None, description="free share of the tightest device's usable memory")
    command: str | None = Field(None, description="llama-server command of an expert-offload build")


class Option(BaseModel):
    """One ranked configuration."""

    model_config = ConfigDict(frozen=True)

    label: str
    gpu_id: str
    count: int
    price_usd: float | None
    price_source: str
    watts: float | None
    fits: bool
    meets_target: bool
    decode_tokens_per_s: float | None = Field(None, description="slowest target model, expected")
    ttft_s: float | None = None
    usd_per_token_s: float | None = None
    headroom: float | None = None
    pareto: bool = False
    models: tuple[ModelResult, ...]
    shortfall: str | None = None

    def to_json(self) -> dict:
        return self.model_dump()


class PurchasePlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    options: tuple[Option, ...]
    closest: tuple[Option, ...] = ()
    message: str
    considered: int
    notes: tuple[str, ...] = ()

    @property
    def met(self) -> bool:
        return any(o.meets_target for o in self.options)


def candidates(
    gpus: Iterable,
    *,
    counts: Sequence[int] = COUNTS,
    host: HostSpec = DEFAULT_HOST,
    machine_price_list: Sequence[MachinePrice] = (),
) -> list[Candidate]:
    """Priced machines: each discrete GPU ×1..8, each unified chip sold as a machine."""
    whole = {m.gpu_id: m for m in machine_price_list}
    out: list[Candidate] = []
    for g in gpus:
        if g.memory_bandwidth_gbs is None:
            continue
        if g.unified_memory:
            m = whole.get(g.id)
            price = m.price_usd if m else (g.street_price_usd or g.launch_price_usd)
            src = m.source if m else (g.sources.street_price or g.sources.release or "")
            label = m.name if m else g.name
            if price is None or g.memory_gb is None:
                continue
            out.append(
                Candidate(
                    label=label, gpu_id=g.id, count=1, price_usd=price, price_source=src, watts=g.tdp_w,
                    hardware=machine_from_gpu(g, host=host),
                )
            )
            continue
        price = g.street_price_usd or g.launch_price_usd
        if price is None or g.memory_gb is None or g.kind in ("embedded", "apu", "soc"):
            continue
        src = (g.sources.street_price if g.street_price_usd else g.sources.release) or ""
        for n in counts:
            out.append(
                Candidate(
                    label=f"{n}× {g.name}" if n > 1 else g.name,
                    gpu_id=g.id,
                    count=n,
                    price_usd=price * n,
                    price_source=src,
                    watts=g.tdp_w * n if g.tdp_w else None,
                    hardware=machine_from_gpu(g, n, host=host),
                )
            )
    return out


def cpu_candidates(platforms: Iterable) -> list[Candidate]:
    """CPU-only servers from data/cpus.yaml (RAM bandwidth per platform, RAM as needed).

    The data has no prices, power or core counts: these options show decode speed and
    fit, and say so for the rest."""
    from sizing.core.machine import cpu_hardware

    out = []
    for p in platforms:
        if getattr(p, "kind", None) != "server":
            continue
        ram = (p.max_memory_gb or 0) * GIB
        if ram <= 0:
            continue
        out.append(
            Candidate(
                label=f"CPU-only: {p.name}",
                gpu_id=p.id,
                count=getattr(p, "sockets", 1),
                price_usd=None,
                price_source="no price in data/cpus.yaml",
                watts=None,
                hardware=cpu_hardware(p.name, ram_bytes=int(ram), bandwidth_gbs=p.bandwidth_gbs, threads=None),
                cpu_only=True,
            )
        )
    return out


def _headroom(placement) -> float | None:
    devs = [d for d in placement.devices if d.used_bytes > 0 and d.capacity_bytes > 0]
    if not devs:
        return None
    return min((d.capacity_bytes - d.used_bytes) / d.capacity_bytes for d in devs)


def _positive(v: float) -> bool:
    """A finite number above zero (NaN and infinity are refused, not compared)."""
    return v > 0 and math.isfinite(v)


def plan_purchase(
    models: Sequence[ModelArch],
    *,
    quant: str,
    ctx: int,
    calib: CalibrationSet,
    gpus: Iterable,
    target_tps: float | None = None,
    target_ttft_s: float | None = None,
    budget_usd: float | None = None,
    power_cap_w: float | None = None,
    prompt_tokens: int | None = None,
    counts: Sequence[int] = COUNTS,
    host: HostSpec = DEFAULT_HOST,
    machine_price_list: Sequence[MachinePrice] | None = None,
    memory_fn: MemoryFn | None = None,
    limit: int = 20,
    cpus: Iterable = (),
) -> PurchasePlan:
    """Rank machines that run every model in ``models`` at ``quant`` and ``ctx``."""
    if not models:
        raise SizingError("give at least one model to plan for")
    for what, v in (("budget", budget_usd), ("power cap", power_cap_w), ("target tokens/s", target_tps),
                    ("target time to first token", target_ttft_s)):
        if v is not None and not _positive(v):
            raise SizingError(f"{what} must be a number > 0, got {v:g}")
    check_context(ctx)
    if prompt_tokens is not None and prompt_tokens <= 0:
        raise SizingError(f"prompt tokens must be > 0, got {prompt_tokens}")
    prices = machine_prices() if machine_price_list is None else machine_price_list
    cands = candidates(gpus, counts=counts, host=host, machine_price_list=prices) + cpu_candidates(cpus)
    cands += _offload(gpus, models, quant=quant, ctx=ctx, calib=calib, host=host, memory_fn=memory_fn)
    options: list[Option] = []
    for c in cands:
        results: list[ModelResult] = []
        for arch in models:
            c_ctx = min(ctx, arch.max_context)
            plan = solve(arch, quant, c_ctx, c.hardware, calib, memory_fn=memory_fn, prompt_tokens=prompt_tokens,
                         with_speed=not c.cpu_only)
            pl = plan.placement
            # a purchase should hold the model on its accelerators: offload to RAM does not count
            on_acc = pl.fits and (pl.all_on_gpu or not c.hardware.gpus
                                  or (c.expert_offload and experts_offloaded(pl)))
            sp = plan.speed
            decode = low = ttft = None
            if on_acc and sp:
                decode, low, ttft = sp.decode_tokens_per_s.expected, sp.decode_tokens_per_s.low, sp.ttft_s.expected
            elif on_acc and c.cpu_only:  # no thread count: decode (bandwidth-bound) only
                step, _ = decode_step_seconds(pl.works, calib)
                decode = 1.0 / step
                low = decode * min(calib.get("cpu", "cpu").decode_spread[0], 1.0)
            results.append(
                ModelResult(
                    model_id=arch.id,
                    fits=on_acc,
                    how=pl.how,
                    decode_tokens_per_s=decode,
                    decode_low=low,
                    ttft_s=ttft,
                    headroom=_headroom(pl) if on_acc and not c.cpu_only else None,
                    command=_command(arch, quant, c_ctx, pl) if on_acc and c.expert_offload else None,
                )
            )
        fits = all(r.fits for r in results)
        tps = min((r.decode_tokens_per_s for r in results if r.decode_tokens_per_s), default=None) if fits else None
        ttft = max((r.ttft_s for r in results if r.ttft_s is not None), default=None) if fits else None
        head = min((r.headroom for r in results if r.headroom is not None), default=None) if fits else None
        short = []
        if not fits:
            short.append("does not hold every model in accelerator memory")
        if fits and target_tps and tps is not None and tps < target_tps:
            short.append(f"{tps:.1f} tok/s < {target_tps:g}")
        if fits and target_ttft_s and ttft is not None and ttft > target_ttft_s:
            short.append(f"TTFT {ttft:.2f} s > {target_ttft_s:g} s")
        if fits and target_ttft_s and ttft is None:
            short.append("TTFT unknown (no core count in the data)")
        if budget_usd is not None and c.price_usd is None:
            short.append("price unknown")
        if budget_usd is not None and c.price_usd is not None and c.price_usd > budget_usd:
            short.append(f"${c.price_usd:,.0f} > budget ${budget_usd:,.0f}")
        if power_cap_w is not None and c.watts is not None and c.watts > power_cap_w:
            short.append(f"{c.watts:.0f} W > cap {power_cap_w:g} W")
        if power_cap_w is not None and c.watts is None:
            short.append("power draw unknown")
        options.append(
            Option(
                label=c.label,
                gpu_id=c.gpu_id,
                count=c.count,
                price_usd=c.price_usd,
                price_source=c.price_source,
                watts=c.watts,
                fits=fits,
                meets_target=not short,
                decode_tokens_per_s=tps,
                ttft_s=ttft,
                usd_per_token_s=(c.price_usd / tps) if (tps and c.price_usd) else None,
                headroom=head,
                models=tuple(results),
                shortfall="; ".join(short) or None,
            )
        )
    good = [o for o in options if o.meets_target]
    good.sort(key=lambda o: (o.price_usd or math.inf, -(o.decode_tokens_per_s or 0)))
    front = _pareto(good)
    good = [o.model_copy(update={"pareto": o.label in front}) for o in good]
    notes = (
        "prices: GPU cards at launch (or street) price, host not included; Apple machines as sold"
        + ("; CPU-only servers: no price, power or core count in the data (decode speed only)" if cpus else ""),
        f"candidates: {len(cands)} priced configurations (1–8 identical GPUs, unified-memory machines, "
        "1 GPU + RAM for MoE experts)",
    ) + ((f"host for multi-GPU and offload: {host.name}",) if host.assumed else ())
    if good:
        return PurchasePlan(
            options=tuple(good[:limit]),
            message=f"{len(good)} configurations meet the target; cheapest: {good[0].label}",
            considered=len(options),
            notes=notes,
        )
    # nothing meets it: the closest, by how much of the target they reach per dollar
    def closeness(o: Option) -> tuple:
        """Fits first; then how much of the speed and latency targets it reaches; then price."""
        reach = 1.0 if o.fits else 0.0
        if target_tps:
            reach *= min((o.decode_tokens_per_s or 0) / target_tps, 1.0)
        if target_ttft_s and o.ttft_s:
            reach *= min(target_ttft_s / o.ttft_s, 1.0)
        over_budget = (o.price_usd or math.inf) / budget_usd if budget_usd else 1.0
        return (not o.fits, -round(reach, 3), over_budget, o.price_usd or math.inf)

    closest, seen = [], set()
    for o in sorted(options, key=closeness):  # one line per device: more of a card that is
        if o.gpu_id in seen:                  # already too slow is not a closer option
            continue
        seen.add(o.gpu_id)
        closest.append(o)
        if len(closest) == 5:
            break
    closest = [o.model_copy(update={"pareto": o.label in _pareto([x for x in options if x.fits])}) for o in closest]
    return PurchasePlan(
        options=(),
        closest=tuple(closest),
        message="no configuration meets this; the closest options follow",
        considered=len(options),
        notes=notes,
    )


def _offload(gpus, models, **kw) -> list[Candidate]:
    """"1 GPU + N GB RAM" builds (sizing.offload_builds) as planner candidates."""
    return [Candidate(label=b.label, gpu_id=b.gpu_id, count=1, price_usd=b.price_usd, price_source=b.price_source,
                      watts=b.watts, hardware=b.hardware, expert_offload=True)
            for b in offload_candidates(gpus, models, **kw)]


def _command(arch: ModelArch, quant: str, ctx: int, placement) -> str:
    from sizing.core.commands import launch_commands

    return launch_commands(arch.id, quant, placement, ctx=ctx).llama_server


def _pareto(options: Sequence[Option]) -> set[str]:
    """Labels not beaten on both price (lower) and speed (higher) by another option."""
    front: set[str] = set()
    pts = [(o.price_usd or math.inf, -(o.decode_tokens_per_s or 0), o.label) for o in options]
    pts.sort()
    best_speed = math.inf
    for _price, neg_speed, label in pts:
        if neg_speed < best_speed:
            front.add(label)
            best_speed = neg_speed
    return front


# --------------------------------------------------------------------------------------
# local against cloud


class CostComparison(BaseModel):
    model_config = ConfigDict(frozen=True)

    tokens_in_per_day: float
    tokens_out_per_day: float
    local_monthly_usd: float
    local_hardware_monthly_usd: float
    local_power_monthly_usd: float
    local_hours_per_day: float
    cloud_monthly_usd: float
    cloud_name: str
    break_even_months: float | None = Field(None, description="None: local never pays off")
    feasible: bool = Field(True, description="False if the machine cannot produce the tokens in a day")
    basis: str


def local_vs_cloud(
    *,
    tokens_in_per_day: float,
    tokens_out_per_day: float,
    hardware_price_usd: float,
    years: float,
    watts: float,
    power_price_per_kwh: float,
    decode_tokens_per_s: float,
    prefill_tokens_per_s: float,
    cloud: CloudPrice | None = None,
    api_input_per_m: float | None = None,
    api_output_per_m: float | None = None,
    idle_watts: float = 0.0,
) -> CostComparison:
    """Monthly cost of running locally versus paying an API, and when local pays off.

    Local: purchase price spread over ``years`` plus electricity for the hours spent
    processing the day's tokens at the given speeds (plus ``idle_watts`` the rest of the
    day). Cloud: tokens × the API's per-million prices.
    """
    for name, v in (
        ("tokens in per day", tokens_in_per_day),
        ("tokens out per day", tokens_out_per_day),
        ("power price", power_price_per_kwh),
        ("idle watts", idle_watts),
    ):
        if not (v >= 0 and math.isfinite(v)):
            raise SizingError(f"{name} must be a number ≥ 0, got {v:g}")
    for name, v in (
        ("hardware price", hardware_price_usd),
        ("years", years),
        ("watts", watts),
        ("decode tokens/s", decode_tokens_per_s),
        ("prefill tokens/s", prefill_tokens_per_s),
    ):
        if not _positive(v):
            raise SizingError(f"{name} must be a number > 0, got {v:g}")
    if cloud is None and (api_input_per_m is None or api_output_per_m is None):
        raise SizingError("give a cloud provider or both API prices per million tokens")
    pin = api_input_per_m if api_input_per_m is not None else cloud.input_per_m  # type: ignore[union-attr]
    pout = api_output_per_m if api_output_per_m is not None else cloud.output_per_m  # type: ignore[union-attr]
    if not (pin >= 0 and pout >= 0 and math.isfinite(pin) and math.isfinite(pout)):
        raise SizingError(f"API prices must be numbers ≥ 0, got {pin:g} in, {pout:g} out")
    name = cloud.name if cloud is not None and api_input_per_m is None else "custom API price"

    busy_s = tokens_in_per_day / prefill_tokens_per_s + tokens_out_per_day / decode_tokens_per_s
    hours = busy_s / 3600.0
    feasible = hours <= 24.0
    kwh_day = (watts * min(hours, 24.0) + idle_watts * max(0.0, 24.0 - hours)) / 1000.0
    power_month = kwh_day * power_price_per_kwh * DAYS_PER_MONTH
    hw_month = hardware_price_usd / (years * 12.0)
    cloud_month = DAYS_PER_MONTH * (tokens_in_per_day * pin + tokens_out_per_day * pout) / 1e6
    saving = cloud_month - power_month
    breakeven = hardware_price_usd / saving if saving > 0 else None
    return CostComparison(
        tokens_in_per_day=tokens_in_per_day,
        tokens_out_per_day=tokens_out_per_day,
        local_monthly_usd=hw_month + power_month,
        local_hardware_monthly_usd=hw_month,
        local_power_monthly_usd=power_month,
        local_hours_per_day=hours,
        cloud_monthly_usd=cloud_month,
        cloud_name=name,
        break_even_months=breakeven,
        feasible=feasible,
        basis=(
            f"local: ${hardware_price_usd:,.0f} over {years:g} years + {watts:g} W while busy "
            f"({hours:.2f} h/day) at ${power_price_per_kwh:g}/kWh; cloud: ${pin:g}/M in, ${pout:g}/M out"
        ),
    )

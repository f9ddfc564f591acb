"""Whole machines to price: a host platform with N cards, a box sold whole, or a CPU-only server.

A card's price is not what a buyer pays: they need a board with the slots and lanes, a
CPU, RAM, a PSU that carries the cards, a case. A build here is one of
- a platform from ``data/platforms.yaml`` with N identical cards that physically fit it
  (``platforms.physical_fit``), priced as platform + RAM the build needs beyond what the
  platform includes + N cards;
- a complete system priced as sold (a unified-memory machine, a prebuilt multi-GPU box);
- a platform on its own with the RAM a CPU-only run needs.
Each carries its price lines (every one dated, with its kind and source), its power at
load and idle, and the ``Hardware`` the solver places models on.

Pure: data and prices are passed in.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.hosts import host_refusal, host_rule_met
from sizing.core.idle import IdleTable
from sizing.core.machine import Hardware, HostSpec, cpu_hardware, machine_from_gpu
from sizing.core.platforms import Platform, System, physical_fit
from sizing.core.prices import (
    NO_OVERRIDES,
    MachinePrice,
    Price,
    PriceBook,
    PriceOverrides,
    observed_on,
)
from sizing.units import GIB

COUNTS: tuple[int, ...] = (1, 2, 3, 4, 6, 7, 8)
GPU_BUILD_RAM_GB = 32.0  # host RAM a GPU build should have: OS, llama.cpp, staging the weights
RAM_STEP_GB = 32.0
# Expert offload is not offered on hosts whose cards get this many PCIe lanes or fewer (mining
# boards' x1 risers): prompt processing either copies the RAM-resident experts to the card per
# batch over ~1 GB/s or leaves them to the host CPU, so the first token takes minutes.
OFFLOAD_NARROW_LANES = 2


class PriceLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    item: str
    item_id: str
    qty: float
    unit: Price
    usd: float


class Build(BaseModel):
    """One machine a buyer can order, priced whole."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    id: str = Field(description="stable id, kept in links: PLATFORM+NxGPU, system:ID, machine:GPU, cpu:PLATFORM")
    label: str
    kind: str = Field(description="gpu-build | system | unified | cpu-only | offload")
    gpu_id: str | None = None
    count: int = 0
    platform_id: str | None = None
    lines: tuple[PriceLine, ...]
    total_usd: float
    load_w: float
    idle_w: float
    hardware: Hardware
    ram_gb: float = 0.0
    link_gbs: float | None = Field(None, description="the narrowest slot link a card gets, GB/s each way")
    link: str | None = Field(None, description="that link, as 'PCIe 3.0 x1'")
    host_rule: str = Field("", description="the host's own rule on the cards it is built for, which this build passes")
    host_passed_over: tuple[str, ...] = Field(
        (), description="cheaper hosts the cards fit but the host rules (sizing.core.hosts) refused, with why"
    )
    notes: tuple[str, ...] = ()

    @property
    def oldest_price(self) -> str:
        return min((ln.unit.date for ln in self.lines), key=observed_on)

    @property
    def price_kinds(self) -> tuple[str, ...]:
        return tuple(sorted({ln.unit.kind for ln in self.lines}))


def _host(platform: Platform, ram_gb: float) -> HostSpec:
    at = platform.ram_bandwidth_at(ram_gb)
    return HostSpec(
        name=platform.name,
        ram_bytes=int(ram_gb * GIB),
        bandwidth_gbs=at[0] if at else platform.ram_bandwidth_gbs,
        threads=platform.threads,
        assumed=False,
        cpu_vendor=platform.cpu_vendor,
    )


NO_IDLE_TABLE = IdleTable(cards={}, machines=())


def _idle(platform: Platform, gpu, n: int, idle: IdleTable) -> tuple[float, str]:
    """Host idle plus ``n`` cards idle with a model loaded, and what each figure rests on."""
    card = idle.card(gpu.id)
    host = (
        f"host {platform.idle_w:.0f} W ({platform.idle_source})"
        if platform.idle_source
        else f"host {platform.idle_w:.0f} W (estimate)"
    )
    return platform.idle_w + card.watts * n, f"idle: {host} + {n}× {card.basis}"


def _ram_lines(
    platform: Platform,
    need_gb: float,
    book: PriceBook,
    overrides: PriceOverrides = NO_OVERRIDES,
    today: dt.date | None = None,
) -> tuple[list[PriceLine], float, list[str]] | None:
    """RAM beyond what the platform includes, rounded up; None when it cannot be had (more
    than the board holds, or more than one DIMM per channel holds where no page gives the
    slower speed of two). A note says when two DIMMs per channel slow the RAM."""
    need = max(platform.ram_included_gb, need_gb)
    fill = platform.ram_fill(need)
    if platform.dimm_slots is not None and fill is None:
        return None
    target = fill[0] if fill else math.ceil(need / RAM_STEP_GB) * RAM_STEP_GB
    if target > platform.max_ram_gb:
        return None
    at = platform.ram_bandwidth_at(target)
    if at is None:
        return None
    dpc_notes = [at[1]] if at[1] else []
    if fill and target > platform.ram_included_gb:
        per_channel = fill[1] // platform.ram_channels
        dpc_notes.insert(
            0,
            f"RAM: {fill[1]}× {fill[2]} GB, {per_channel} per channel on all {platform.ram_channels} channels"
            + (
                f" (the {platform.ram_included_gb:.0f} GB the platform comes with counted against it)"
                if platform.ram_included_gb
                else ""
            ),
        )
    extra = target - platform.ram_included_gb
    if extra <= 0:
        return [], target, dpc_notes
    rp = book.ram.get(platform.ram_type)
    if rp is None:
        return None
    unit = Price(usd=rp.usd_per_gb, kind=rp.kind, date=rp.date, source=rp.source, note=rp.note)
    if today is not None:
        unit = overrides.price(f"ram-{platform.ram_type}", unit, today) or unit  # USD per GB
    line = PriceLine(
        item=f"{platform.ram_type.upper()} RAM (per GB)",  # qty is the GB: said once, not twice
        item_id=f"ram-{platform.ram_type}",
        qty=extra,
        unit=unit,
        usd=extra * unit.usd,
    )
    notes = [f"RAM priced per GB: {rp.caveat}"] if rp.caveat else []
    return [line], target, [*dpc_notes, *notes]


def gpu_builds(
    gpus: Iterable,
    platforms: Sequence[Platform],
    book: PriceBook,
    *,
    used: bool = False,
    overrides: PriceOverrides = NO_OVERRIDES,
    today: dt.date,
    counts: Sequence[int] = COUNTS,
    idle: IdleTable = NO_IDLE_TABLE,
    host_ram_gb: float = GPU_BUILD_RAM_GB,
) -> tuple[list[Build], int]:
    """Every platform × card × count that physically fits, passes the host rules
    (``sizing.core.hosts``: the host holds ``host_ram_gb`` of RAM, bought and priced as its
    modules; x1-riser hosts only for the cards they are built for) and has every price
    cited. Each build says which cheaper hosts the rules passed over and why.
    Returns the builds and how many combinations were refused as physically impossible."""
    out: list[Build] = []
    refused = 0
    for g in gpus:
        if g.unified_memory or g.memory_gb is None or g.memory_bandwidth_gbs is None:
            continue
        if g.kind in ("embedded", "apu", "soc", "laptop"):
            continue
        card = overrides.price(g.id, book.for_card(g.id, used=used), today)
        if card is None:
            continue
        for n in counts:
            passed: list[tuple[float, str]] = []  # (host price, why not) for hosts that fit but fail a rule
            made: list[tuple[Build, float]] = []
            for p in platforms:
                if p.gpu_slots == 0:
                    continue
                plat_price = overrides.price(p.id, p.price, today)
                fit = physical_fit(p, g, n)
                if not fit.ok:
                    refused += 1
                    continue
                rule = host_refusal(p, card.usd, n)
                if rule is not None:
                    passed.append((plat_price.usd, f"{p.name} (${plat_price.usd:,.0f}): {rule}"))
                    continue
                ram = _ram_lines(p, host_ram_gb, book, overrides, today)
                if ram is None:
                    passed.append(
                        (
                            plat_price.usd,
                            f"{p.name} (${plat_price.usd:,.0f}): cannot hold the {host_ram_gb:.0f} GB the host "
                            f"needs (at most {p.max_ram_gb:.0f} GB, or more than one DIMM per channel at no cited speed)",
                        )
                    )
                    continue
                ram_lines, ram_gb, ram_notes = ram
                lines = _bill(p, plat_price, ram_lines, g, card, n)
                hw = machine_from_gpu(g, n, host=_host(p, ram_gb))
                idle_w, idle_note = _idle(p, g, n, idle)
                label = f"{n}× {g.name} on {p.name}" if n > 1 else f"{g.name} on {p.name}"
                if ram_gb > p.ram_included_gb:
                    label += f", RAM to {ram_gb:.0f} GB"
                host_cost = sum(ln.usd for ln in lines[:-1])
                made.append(
                    (
                        Build(
                            id=f"{p.id}+{n}x{g.id}",
                            label=label,
                            kind="gpu-build",
                            gpu_id=g.id,
                            count=n,
                            platform_id=p.id,
                            lines=tuple(lines),
                            total_usd=sum(ln.usd for ln in lines),
                            load_w=fit.load_w or 0.0,
                            idle_w=idle_w,
                            hardware=hw,
                            ram_gb=ram_gb,
                            link_gbs=fit.link_gbs,
                            link=fit.link,
                            host_rule=host_rule_met(p, card.usd, n),
                            notes=(*fit.notes, *ram_notes, *((p.note,) if p.note else ()), idle_note),
                        ),
                        host_cost,
                    )
                )
            for b, host_cost in made:
                cheaper = [why for usd, why in sorted(passed) if usd < host_cost]
                out.append(b.model_copy(update={"host_passed_over": tuple(cheaper)}))
    return out, refused


def _bill(p: Platform, plat_price, ram_lines: Sequence[PriceLine], g, card, n: int) -> list[PriceLine]:
    """A build's bill: the platform, the RAM bought for it, the cards."""
    return [
        PriceLine(item=p.name, item_id=p.id, qty=1, unit=plat_price, usd=plat_price.usd),
        *ram_lines,
        PriceLine(item=g.name, item_id=g.id, qty=n, unit=card, usd=card.usd * n),
    ]


def offload_builds(
    gpus: Iterable,
    platforms: Sequence[Platform],
    book: PriceBook,
    *,
    ram_need_gb: float,
    model_gb: float,
    used: bool = False,
    overrides: PriceOverrides = NO_OVERRIDES,
    today: dt.date,
    counts: Sequence[int] = (1, 2),
    ram_for: Callable[[object, int], float | None] | None = None,
    idle: IdleTable = NO_IDLE_TABLE,
) -> list[Build]:
    """ "1-2 cards + N GB RAM": a MoE model's routed experts in system RAM (--n-cpu-moe),
    the rest on the cards. Same physical checks and whole-build price as ``gpu_builds``.
    RAM: ``ram_for(card, count)`` GiB when given (None: that card cannot keep every layer
    while its experts sit in RAM), else ``ram_need_gb``. Only where the cards cannot hold
    the model (``model_gb``) and only cards no other card beats on price, memory,
    bandwidth, compute and power at once."""
    out: list[Build] = []
    cards = []
    for g in gpus:
        if g.unified_memory or g.memory_gb is None or g.memory_bandwidth_gbs is None or g.memory_gb < 8:
            continue
        if g.kind in ("embedded", "apu", "soc", "laptop"):
            continue
        card = overrides.price(g.id, book.for_card(g.id, used=used), today)
        if card is not None:
            cards.append((g, card))
    for g, card in _undominated(cards):
        for n in counts:
            if n * g.memory_gb >= model_gb:
                continue
            need = ram_for(g, n) if ram_for is not None else ram_need_gb
            if need is None:
                continue
            for p in platforms:
                fit = physical_fit(p, g, n)
                if not fit.ok or min(fit.lanes, default=16) <= OFFLOAD_NARROW_LANES:
                    continue
                if host_refusal(p, card.usd, n) is not None:
                    continue
                ram = _ram_lines(p, need, book, overrides, today)
                if ram is None:
                    continue
                ram_lines, ram_gb, ram_notes = ram
                plat_price = overrides.price(p.id, p.price, today)
                lines = _bill(p, plat_price, ram_lines, g, card, n)
                what = f"{n}× {g.name}" if n > 1 else g.name
                idle_w, idle_note = _idle(p, g, n, idle)
                out.append(
                    Build(
                        id=f"{p.id}+{n}x{g.id}+ram{ram_gb:.0f}",
                        label=f"{what} + {ram_gb:.0f} GB RAM on {p.name} (experts in RAM)",
                        kind="offload",
                        gpu_id=g.id,
                        count=n,
                        platform_id=p.id,
                        lines=tuple(lines),
                        total_usd=sum(ln.usd for ln in lines),
                        load_w=fit.load_w or 0.0,
                        idle_w=idle_w,
                        hardware=machine_from_gpu(g, n, host=_host(p, ram_gb)),
                        ram_gb=ram_gb,
                        notes=(
                            *fit.notes,
                            *ram_notes,
                            "MoE expert offload: routed experts in system RAM (llama.cpp --n-cpu-moe)",
                            idle_note,
                        ),
                    )
                )
    return out


def _undominated(cards: list) -> list:
    """Cards no other card matches or beats on price, memory, bandwidth, compute and power
    at once (a dominated card cannot rank first by any objective)."""

    def key(g, price) -> tuple:
        return (-price.usd, g.memory_gb, g.memory_bandwidth_gbs, g.fp16_tflops or 0.0, -(g.tdp_w or 1e9))

    keys = [key(g, p) for g, p in cards]
    out = []
    for i, c in enumerate(cards):
        ki = keys[i]
        beaten = any(j != i and all(a >= b for a, b in zip(kj, ki)) and kj != ki for j, kj in enumerate(keys))
        if not beaten:
            out.append(c)
    return out


def system_builds(
    systems: Sequence[System], gpus_by_id: dict, *, overrides: PriceOverrides = NO_OVERRIDES, today: dt.date
) -> list[Build]:
    """Boxes sold whole with N discrete cards (tinybox and the like)."""
    out = []
    for s in systems:
        g = gpus_by_id.get(s.gpu_id)
        if g is None or g.memory_gb is None or g.memory_bandwidth_gbs is None:
            continue
        price = overrides.price(s.id, s.price, today)
        host = HostSpec(
            name=f"{s.name} host",
            ram_bytes=int(s.host_ram_gb * GIB),
            bandwidth_gbs=s.host_bandwidth_gbs,
            threads=s.threads,
            assumed=False,
        )
        hw = machine_from_gpu(g, s.count, host=host)
        load = (g.tdp_w or 0) * s.count + 300.0
        out.append(
            Build(
                id=f"system:{s.id}",
                label=s.name,
                kind="system",
                gpu_id=g.id,
                count=s.count,
                lines=(PriceLine(item=s.name, item_id=s.id, qty=1, unit=price, usd=price.usd),),
                total_usd=price.usd,
                load_w=load,
                idle_w=s.idle_w,
                hardware=hw,
                ram_gb=s.host_ram_gb,
                notes=("complete system priced as sold", "load power: cards' TDP + 300 W host (estimate)"),
            )
        )
    return out


def unified_builds(
    machine_prices: Sequence[MachinePrice],
    gpus_by_id: dict,
    *,
    overrides: PriceOverrides = NO_OVERRIDES,
    today: dt.date,
    idle: IdleTable = NO_IDLE_TABLE,
    used: bool = True,
) -> list[Build]:
    """Unified-memory machines priced as sold (Mac mini/Studio, Strix Halo, DGX Spark); a
    configuration the maker no longer sells only when used machines are allowed.

    A product (chip and name) listed more than once is priced by its newest entry, whose
    ``sold_new`` also says whether it is still sold: these prices moved a lot in 2026, and a
    launch price next to a later one would otherwise win by being lower. Boxes from several
    makers with one chip (Strix Halo) give one line per chip: the cheapest current product."""
    out = []
    latest: dict[tuple[str, str], MachinePrice] = {}
    for m in machine_prices:
        key = (m.gpu_id, m.name)
        if key not in latest or observed_on(m.date) >= observed_on(latest[key].date):
            latest[key] = m
    best: dict[str, MachinePrice] = {}
    for m in latest.values():
        if not used and not getattr(m, "sold_new", True):
            continue
        if m.gpu_id not in best or m.price_usd < best[m.gpu_id].price_usd:
            best[m.gpu_id] = m
    for gid, m in best.items():
        g = gpus_by_id.get(gid)
        if g is None or not g.unified_memory or g.memory_gb is None or g.memory_bandwidth_gbs is None:
            continue
        base = Price(
            usd=m.price_usd,
            kind=m.kind,
            date=m.date,
            source=m.source,
            note=getattr(m, "note", None),
        )
        price = overrides.price(f"machine:{gid}", base, today)
        at_load = idle.machine_load(gid, g.tdp_w)
        load = at_load.watts
        draw = idle.machine(gid, g.tdp_w)
        note = getattr(m, "note", None)
        out.append(
            Build(
                id=f"machine:{gid}",
                label=m.name,
                kind="unified",
                gpu_id=gid,
                count=1,
                lines=(PriceLine(item=m.name, item_id=f"machine:{gid}", qty=1, unit=price, usd=price.usd),),
                total_usd=price.usd,
                load_w=load,
                idle_w=draw.watts,
                hardware=machine_from_gpu(g),
                ram_gb=g.memory_gb,
                notes=(
                    "complete system priced as sold",
                    *((note,) if note else ()),
                    f"load: {at_load.basis}",
                    f"idle: {draw.basis}",
                ),
            )
        )
    return out


def cpu_builds(
    platforms: Sequence[Platform],
    book: PriceBook,
    *,
    ram_need_gb: float,
    overrides: PriceOverrides = NO_OVERRIDES,
    today: dt.date,
) -> list[Build]:
    """Platforms run CPU-only, with the RAM the models need (priced per GB)."""
    out = []
    for p in platforms:
        ram = _ram_lines(p, ram_need_gb, book, overrides, today)
        if ram is None:
            continue
        ram_lines, ram_gb, ram_notes = ram
        plat = overrides.price(p.id, p.price, today)
        lines = (PriceLine(item=p.name, item_id=p.id, qty=1, unit=plat, usd=plat.usd), *ram_lines)
        hw = cpu_hardware(
            f"CPU-only: {p.name}",
            ram_bytes=int(ram_gb * GIB),
            bandwidth_gbs=_host(p, ram_gb).bandwidth_gbs,
            threads=p.threads,
            cpu_vendor=p.cpu_vendor,
        )
        out.append(
            Build(
                id=f"cpu:{p.id}",
                label=f"CPU-only: {p.name}, {ram_gb:.0f} GB",
                kind="cpu-only",
                platform_id=p.id,
                lines=lines,
                total_usd=sum(ln.usd for ln in lines),
                load_w=p.cpu_w + 50.0,
                idle_w=p.idle_w,
                hardware=hw,
                ram_gb=ram_gb,
                notes=(
                    *ram_notes,
                    *((p.note,) if p.note else ()),
                    f"idle {p.idle_w:.0f} W ({p.idle_source})"
                    if p.idle_source
                    else f"idle {p.idle_w:.0f} W (estimate)",
                ),
            )
        )
    return out


def all_builds(
    gpus: Sequence,
    *,
    used: bool,
    overrides: PriceOverrides,
    today: dt.date,
    ram_need_gb: float,
    cpu_only: bool = True,
    offload: bool = False,
    model_gb: float = 0.0,
    ram_for: Callable[[object, int], float | None] | None = None,
    host_ram_gb: float = GPU_BUILD_RAM_GB,
) -> tuple[list[Build], int]:
    """Every build the data can price: GPU builds on each platform, complete systems,
    unified-memory machines, (with ``cpu_only``) CPU-only servers and (with ``offload``,
    for MoE models) cards + RAM with the experts in RAM. ``host_ram_gb``: the RAM a GPU
    build's host needs (``hosts.gpu_host_ram_gb`` of the weights the plan loads). Loads the
    data files."""
    from sizing.core.idle import idle_table
    from sizing.core.platforms import load_platforms
    from sizing.core.prices import machine_prices, price_book

    platforms, systems = load_platforms()
    book = price_book(gpus)
    idle = idle_table()
    by_id = {g.id: g for g in gpus}
    gpu_side, refused = _gpu_builds(tuple(gpus), used, tuple(sorted(overrides.usd.items())), today, host_ram_gb)
    builds = list(gpu_side)
    builds += system_builds(systems, by_id, overrides=overrides, today=today)
    builds += unified_builds(machine_prices(), by_id, overrides=overrides, today=today, idle=idle, used=used)
    if offload:
        builds += offload_builds(
            gpus,
            platforms,
            book,
            ram_need_gb=ram_need_gb,
            model_gb=model_gb or ram_need_gb,
            used=used,
            overrides=overrides,
            today=today,
            ram_for=ram_for,
            idle=idle,
        )
    if cpu_only:
        builds += cpu_builds(
            [p for p in platforms if p.klass != "desktop"],
            book,
            ram_need_gb=ram_need_gb,
            overrides=overrides,
            today=today,
        )
    return builds, refused


@lru_cache(maxsize=1)  # one set is ~20 MiB (1,700 builds with their hardware): keep the last only
def _gpu_builds(
    gpus: tuple, used: bool, overrides: tuple[tuple[str, float], ...], today: dt.date, host_ram_gb: float
) -> tuple[tuple[Build, ...], int]:
    """``gpu_builds`` over the packaged platforms, prices and idle figures, memoised by
    value (the GPUs, new or used, the typed prices, the day, the host RAM): those builds
    depend on the models only through the RAM their host needs, so a plan for a context
    or an objective reuses them.
    Only the last set is kept: most plans ask for new prices as listed, and a set is large."""
    from sizing.core.idle import idle_table
    from sizing.core.platforms import load_platforms
    from sizing.core.prices import price_book

    platforms, _ = load_platforms()
    builds, refused = gpu_builds(
        gpus,
        platforms,
        price_book(gpus),
        used=used,
        overrides=PriceOverrides(usd=dict(overrides)),
        today=today,
        idle=idle_table(),
        host_ram_gb=host_ram_gb,
    )
    return tuple(builds), refused


def priced_ids(gpus: Sequence) -> set[str]:
    """Every id a price override may name."""
    from sizing.core.platforms import load_platforms
    from sizing.core.prices import machine_prices

    platforms, systems = load_platforms()
    return (
        {g.id for g in gpus}
        | {p.id for p in platforms}
        | {s.id for s in systems}
        | {f"machine:{m.gpu_id}" for m in machine_prices()}
        | {"ram-ddr4", "ram-ddr5", "ram-ddr5-rdimm"}
    )

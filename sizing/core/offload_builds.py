"""Purchase candidates of one GPU plus enough system RAM to hold a MoE model's experts.

How most people run gpt-oss-120b, Qwen3-235B-A22B or GLM-4.5-Air: attention, shared
weights and KV cache on one card, the routed experts (or those of N layers) in system
RAM with llama.cpp's ``--n-cpu-moe N`` (``-ot exps=CPU`` for all). A token reads only
its few active experts, so RAM bandwidth still gives usable speed, and RAM costs far
less per GB than more cards.

``offload_candidates`` sizes the RAM for each card: it places every model on the card
with unbounded RAM, reads what the host side holds, and picks the smallest size of
``sizing/data/ram_prices.yaml`` that fits it. The planner then places and times these builds
like any other candidate, accepting expert offload (not whole layers) on them.
Pure apart from reading the price file once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Literal, TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.arch import ModelArch
from sizing.core.machine import DEFAULT_HOST, Hardware, HostSpec, machine_from_gpu
from sizing.core.solver import MemoryFn, solve
from sizing.core.speed.estimate import CalibrationSet
from sizing.core.tables import data_file, read_yaml, validate
from sizing.units import GIB

if TYPE_CHECKING:
    from sizing.core.tables import DataPath

RAM_FILE = data_file("ram_prices.yaml")
OS_RESERVE_GB = 8  # the OS, the desktop and llama-server's own heap stay in RAM too


class RamPrice(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    memory: str
    kind: Literal["msrp", "street", "used"]
    usd_per_gb: float = Field(gt=0)
    date: str
    source: str = Field(min_length=8)
    source_note: str | None = None
    sizes_gb: tuple[int, ...] = Field(min_length=1)


@cache
def ram_price(path: "DataPath" = RAM_FILE) -> RamPrice:
    raw = read_yaml(path, "RAM prices") or {}
    return validate(RamPrice, (raw or {}).get("ram") if isinstance(raw, dict) else None, f"{path}: ram,")


class OffloadBuild(BaseModel):
    """One card plus RAM: what the planner prices and places."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    label: str
    gpu_id: str
    ram_gb: int
    price_usd: float
    price_source: str
    watts: float | None
    hardware: Hardware


def experts_offloaded(placement) -> bool:
    """Every layer on the GPU, some routed experts in RAM: the build's intended placement."""
    return placement.fits and placement.gpu_layers >= placement.n_layers + 1 and (
        placement.cpu_moe or placement.n_cpu_moe > 0)


def _host(ram_gb: float, base: HostSpec) -> HostSpec:
    return HostSpec(name=f"{ram_gb:g} GB RAM at {base.bandwidth_gbs:g} GB/s, {base.threads} threads",
                    ram_bytes=int(ram_gb * GIB), bandwidth_gbs=base.bandwidth_gbs, threads=base.threads,
                    assumed=False)


def offload_candidates(
    gpus: Iterable,
    models: Sequence[ModelArch],
    *,
    quant: str,
    ctx: int,
    calib: CalibrationSet,
    host: HostSpec = DEFAULT_HOST,
    price: RamPrice | None = None,
    memory_fn: MemoryFn | None = None,
) -> list[OffloadBuild]:
    """For each priced discrete card: the smallest RAM size holding the experts of every
    MoE model in ``models`` that the card cannot (none when no model needs it)."""
    if not any(m.is_moe for m in models):
        return []
    price = price or ram_price()
    big = _host(max(price.sizes_gb) * 4, host)  # unbounded for sizing purposes
    out: list[OffloadBuild] = []
    seen: set[tuple] = set()
    for g in gpus:
        card = g.street_price_usd or g.launch_price_usd
        if (g.unified_memory or card is None or g.memory_gb is None or g.memory_bandwidth_gbs is None
                or g.kind in ("embedded", "apu", "soc")):
            continue
        need = 0.0
        for arch in models:
            plan = solve(arch, quant, min(ctx, arch.max_context), machine_from_gpu(g, host=big), calib,
                         memory_fn=memory_fn, with_speed=False)
            pl = plan.placement
            if not pl.fits or pl.gpu_layers < pl.n_layers + 1:
                need = -1.0  # the card cannot hold even the non-expert part
                break
            need = max(need, pl.devices[-1].used_bytes / GIB)
        if need <= 0:  # nothing to offload, or it cannot be done on this card
            continue
        size = next((s for s in sorted(price.sizes_gb) if s >= need + OS_RESERVE_GB), None)
        if size is None:
            continue
        key = (g.name, size)
        if key in seen:
            continue
        seen.add(key)
        src = (g.sources.street_price if g.street_price_usd else g.sources.release) or ""
        out.append(OffloadBuild(
            label=f"{g.name} + {size} GB RAM (experts in RAM)",
            gpu_id=g.id,
            ram_gb=size,
            price_usd=card + size * price.usd_per_gb,
            price_source=f"card: {src}; RAM {price.memory} ({price.kind}) ${price.usd_per_gb:g}/GB ({price.date}): {price.source}",
            watts=g.tdp_w,
            hardware=machine_from_gpu(g, host=_host(size, host)),
        ))
    return out

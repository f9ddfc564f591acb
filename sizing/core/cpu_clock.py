"""The clock a CPU's cores run llama.cpp at, where the OS states only the nominal one.

The CPU speed model counts in cycles: a thread streams so many weight bytes per GHz, and
its per-GHz rates were fitted at the public rows' boost clocks (the maker's "max boost").
A cloud VM has no frequency driver, so the OS states only the nominal clock the hypervisor
passes on: 2.6 GHz for a Zen 4 EPYC whose cores run at up to 3.7 under load, 2.1 for a
Xeon that turbos past 3. Taken at that clock a 2-vCPU guest was predicted 1.6-1.8 times
too slow on 1-8B models. ``data/cpu_boost.yaml`` holds each server generation's boost
clock as the clouds that rent it state it, keyed by the CPUID family and model the guest
still sees; a generation it does not list keeps the stated clock.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.tables import data_file, parse_entries, read_yaml

if TYPE_CHECKING:
    from sizing.core.tables import DataPath

BOOST_FILE = data_file("cpu_boost.yaml")


class CpuGeneration(BaseModel):
    """One server CPU generation, as CPUID names it, and the clock its cores run at."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    vendor: Literal["AuthenticAMD", "GenuineIntel"]
    family: int = Field(ge=0, description="CPUID family, as /proc/cpuinfo prints it (decimal)")
    models: tuple[int, ...] = Field(min_length=1, description="CPUID models of this generation (decimal)")
    boost_ghz: float = Field(gt=1.0, le=6.0, description="the boost clock its cloud instances state")
    source: str = Field(min_length=8)


class CpuId(BaseModel):
    """What CPUID tells a guest about its processor even when the model name is masked."""

    model_config = ConfigDict(frozen=True)

    vendor: str
    family: int
    model: int


class CoreClock(BaseModel):
    """The clock the speed model uses for a CPU, and where it comes from."""

    model_config = ConfigDict(frozen=True)

    ghz: float = Field(gt=0)
    basis: str


@cache
def cpu_generations(path: "DataPath" = BOOST_FILE) -> tuple[CpuGeneration, ...]:
    """The shipped generations, validated (a bad entry names the file, entry and field)."""
    return tuple(parse_entries(read_yaml(path, "CPU boost clocks"), "generations", CpuGeneration, path))


def generation_of(cpuid: CpuId | None) -> CpuGeneration | None:
    if cpuid is None:
        return None
    for g in cpu_generations():
        if g.vendor == cpuid.vendor and g.family == cpuid.family and cpuid.model in g.models:
            return g
    return None


def core_clock(stated_ghz: float | None, *, is_max: bool, cpuid: CpuId | None) -> CoreClock | None:
    """The clock to count cycles at: the OS's maximum where it states one (a frequency
    driver's turbo clock); else, for a listed generation, its boost clock when that is
    above the stated nominal one; else the stated clock (None: the OS states none)."""
    if is_max and stated_ghz:
        return CoreClock(ghz=stated_ghz, basis="the maximum (turbo) clock the OS states")
    gen = generation_of(cpuid)
    if gen is not None and (stated_ghz is None or gen.boost_ghz > stated_ghz):
        stated = f"{stated_ghz:.2f} GHz" if stated_ghz else "no clock"
        return CoreClock(
            ghz=gen.boost_ghz,
            basis=f"{gen.name}'s boost clock (the OS states only {stated}, its nominal clock): {gen.source}",
        )
    if stated_ghz:
        return CoreClock(ghz=stated_ghz, basis="the clock the OS states (no frequency driver: the nominal clock)")
    return None

"""The GPU's share of a unified-memory machine's RAM, per platform, with the line that raises it.

On one pool of RAM the GPU may still not use all of it: DGX Spark's OS sees 121.69 GiB of
its 128 GB, Linux maps only about half of a Strix Halo's RAM into the GPU (GTT) until
``ttm.pages_limit`` is raised, and macOS wires only its working set for the GPU until
``iogpu.wired_limit_mb`` is raised. ``sizing/data/unified_limits.yaml`` holds each rule with its
source; a platform it does not list is reported as unknown, never guessed.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.tables import data_file, read_yaml_mapping, validate
from sizing.units import GIB, MIB

if TYPE_CHECKING:
    from sizing.core.tables import DataPath

LIMITS_FILE = data_file("unified_limits.yaml")
PAGE = 4096


class EarlierPoint(BaseModel):
    """One measured working set on an earlier OS release."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ram_gib: float = Field(gt=0)
    gpu_mib: float = Field(gt=0)
    source: str = Field(min_length=8)


class Earlier(BaseModel):
    """What the limit was on earlier releases of the OS: shown, not applied (we size for the current one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    when: str
    points: tuple[EarlierPoint, ...] = Field(min_length=1)

    def said(self) -> str:
        shares = ", ".join(f"{p.gpu_mib / (p.ram_gib * 1024):.0%} on {p.ram_gib:g} GB" for p in self.points)
        return f"{self.when}: the GPU got {shares}"


class PlatformLimit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    gpu_ids: tuple[str, ...] = ()
    vendor: str | None = None
    name: str
    rule: Literal["os_total", "fraction", "apple"]
    usable_gib: float | None = Field(None, gt=0)
    fraction: float | None = Field(None, gt=0, le=1)
    raise_: str | None = Field(None, alias="raise")
    explain: str
    source: str = Field(min_length=8)
    earlier: Earlier | None = None


class GpuLimit(BaseModel):
    """What the GPU of one unified machine may use, and why."""

    model_config = ConfigDict(frozen=True)

    ram_bytes: int = Field(description="RAM as the OS sees it (host and GPU share it)")
    gpu_bytes: int = Field(description="what the GPU may allocate by default (or as raised)")
    known: bool
    note: str
    raise_line: str | None = None
    source: str | None = None


@cache
def platform_limits(path: "DataPath" = LIMITS_FILE) -> tuple[PlatformLimit, ...]:
    raw = read_yaml_mapping(path, "unified-memory limits")
    items = raw.get("platforms") if isinstance(raw, dict) else None
    return tuple(validate(PlatformLimit, e, f"{path}: platform {i},") for i, e in enumerate(items or []))


def _find(gpu_id: str | None, vendor: str | None) -> PlatformLimit | None:
    for p in platform_limits():
        if gpu_id and gpu_id in p.gpu_ids:
            return p
    for p in platform_limits():
        if p.vendor and vendor == p.vendor:
            return p
    return None


def gpu_limit(
    *,
    gpu_id: str | None,
    vendor: str | None,
    ram_bytes: int,
    raised_mb: int | None = None,
    apple_fraction: float | None = None,
) -> GpuLimit:
    """The GPU's limit on a unified machine of ``ram_bytes`` nameplate RAM.

    ``raised_mb``: the limit as the user raised it (Apple wired limit, Linux GTT size).
    ``apple_fraction``: macOS's working-set share for this RAM size (from placement)."""
    p = _find(gpu_id, vendor)
    if p is None:
        return GpuLimit(
            ram_bytes=ram_bytes,
            gpu_bytes=ram_bytes if raised_mb is None else raised_mb * MIB,
            known=False,
            note="the GPU's share of RAM on this platform is unknown: sized as if it "
            "may use all of it" + (f" (given: {raised_mb} MiB)" if raised_mb else ""),
        )
    ram = int(p.usable_gib * GIB) if p.rule == "os_total" and p.usable_gib else ram_bytes
    if p.rule == "os_total":
        default = ram
    elif p.rule == "fraction":
        default = int(ram * (p.fraction or 1.0))
    else:
        default = int(ram * (apple_fraction or 1.0))
    gpu = default if raised_mb is None else raised_mb * MIB
    target = max(ram - 8 * GIB, default)  # what one would raise it to: all but 8 GiB for the OS
    line = None
    if p.raise_:
        line = p.raise_.format(mb=target // MIB, pages=target // PAGE, gib=f"{target / GIB:.0f}")
    share = f"{gpu / GIB:.1f} of {ram / GIB:.1f} GiB"
    if raised_mb is not None:
        note = f"{p.name}: GPU limit raised to {share}"
    elif p.rule == "os_total":
        note = f"{p.name}: {p.explain} ({share})"
    else:
        then = f" as measured on current releases ({p.earlier.said()})" if p.earlier is not None else ""
        note = f"{p.name}: {p.explain}: GPU may use {share}{then}" + (f"; raise it: {line}" if line else "")
    return GpuLimit(ram_bytes=ram, gpu_bytes=min(gpu, ram), known=True, note=note, raise_line=line, source=p.source)

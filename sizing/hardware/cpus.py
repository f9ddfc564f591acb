"""CPU-only platforms: how much RAM bandwidth a class of machine has on paper.

On a CPU-only machine, decode speed is bounded by RAM bandwidth, which is set by the
memory channels and their transfer rate, not by the CPU model. Entries therefore
describe platforms (desktop dual-channel DDR5-6000, a 12-channel EPYC socket, ...) and
state the theoretical bandwidth, channels x 8 bytes x MT/s, which the loader checks
against the channels and speed so a typo cannot slip in. Measured bandwidth on a
real machine comes from ``sizing.hardware.detect.cpu``.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sizing.core.tables import data_file, parse_entries, read_yaml
from sizing.errors import SizingError

if TYPE_CHECKING:  # pragma: no cover
    from sizing.core.tables import DataPath

CPUS_FILE = data_file("cpus.yaml")


class CPUSources(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    memory: str = Field(description="channels and speed")
    isa: str | None = None
    note: str | None = None


class CPUPlatform(BaseModel):
    """A CPU memory platform, per socket unless ``sockets`` says otherwise."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    name: str
    kind: Literal["desktop", "laptop", "hedt", "server"]
    vendor: Literal["amd", "intel", "any", "arm"]
    memory_type: str
    channels: int = Field(gt=0, le=32, description="64-bit channel equivalents, all sockets")
    speed_mts: int = Field(gt=0, le=20000)
    sockets: int = Field(1, ge=1, le=8)
    bandwidth_gbs: float = Field(gt=0, description="theoretical: channels x 8 B x MT/s")
    max_memory_gb: float | None = Field(None, gt=0)
    isa: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    year: int | None = Field(None, ge=2010, le=2030)
    sources: CPUSources

    @model_validator(mode="after")
    def _bandwidth_matches_channels(self) -> CPUPlatform:
        expected = self.channels * 8 * self.speed_mts / 1000
        if abs(self.bandwidth_gbs - expected) > 0.005 * expected + 0.05:
            raise ValueError(f"bandwidth_gbs {self.bandwidth_gbs} != channels x 8 B x MT/s = {expected:.1f}")
        return self


class CPUDatabase:
    def __init__(self, platforms: list[CPUPlatform]) -> None:
        self.all = tuple(platforms)
        self._by_id = {p.id: p for p in self.all}

    def __len__(self) -> int:
        return len(self.all)

    def get(self, platform_id: str) -> CPUPlatform:
        try:
            return self._by_id[platform_id]
        except KeyError:
            raise SizingError(f"unknown CPU platform {platform_id!r}") from None


def load_cpus_file(path: DataPath) -> CPUDatabase:
    return CPUDatabase(parse_entries(read_yaml(path, "CPU platforms"), "cpus", CPUPlatform, path))


@cache
def load_cpus() -> CPUDatabase:
    """The shipped CPU platforms (``data/cpus.yaml``), loaded once per process."""
    return load_cpus_file(CPUS_FILE)

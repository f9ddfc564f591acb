"""The host's work per decoded token over the vocabulary when a server samples.

The public speed rows are llama-bench's, which time the graph alone. A server copies each
token's logits to the host and samples on one CPU thread over a candidate list as long as
the vocabulary; on Gemma 3's 262,144 tokens that is milliseconds a token, a fifth of a
small model's step on a 2-core machine. A live check runs a server, so its prediction adds
this part, and this machine's calibration takes it out of the measured step before fitting
the line that the llama-bench-based speed model uses. ``data/host_sampling.yaml`` holds the
measured cost in cycles per vocabulary entry (``bench/host_sampling.py``).
"""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.tables import data_file, read_yaml_mapping, validate
from sizing.errors import SizingError

if TYPE_CHECKING:
    from sizing.core.tables import DataPath

SAMPLING_FILE = data_file("host_sampling.yaml")


class HostSampling(BaseModel):
    """Cycles a host thread spends per vocabulary entry on each sampled token, as measured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cycles_per_entry: float = Field(gt=0, le=1000)
    clock_ghz: float = Field(gt=0, description="the clock the measurement counted")
    threads: int = Field(ge=1)
    sampler: str = Field(min_length=3)
    build: str = Field(min_length=3)
    date: date
    source: str = Field(min_length=8)

    def seconds(self, n_vocab: int, clock_ghz: float | None = None) -> float:
        """Seconds per token over ``n_vocab`` entries at ``clock_ghz`` (None: the measured clock)."""
        return max(0, n_vocab) * self.cycles_per_entry / ((clock_ghz or self.clock_ghz) * 1e9)

    def describe(self, n_vocab: int, clock_ghz: float | None = None) -> str:
        return (
            f"sampling over {n_vocab:,} vocabulary entries on the host: "
            f"{self.seconds(n_vocab, clock_ghz) * 1e3:.2f} ms/token ({self.cycles_per_entry:g} cycles an entry "
            f"at {clock_ghz or self.clock_ghz:.2f} GHz; {self.source})"
        )


@cache
def host_sampling(path: DataPath = SAMPLING_FILE) -> HostSampling:
    """The shipped measurement, validated (a bad field names the file and the field)."""
    raw = read_yaml_mapping(path, "host sampling cost")
    if "host_sampling" not in raw:
        raise SizingError(f"{path}: expected a 'host_sampling' mapping")
    return validate(HostSampling, raw["host_sampling"], f"{path}: host_sampling:")

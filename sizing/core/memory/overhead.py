"""Runtime overhead per llama.cpp backend, from ``data/backend_overhead.yaml``.

llama.cpp logs its own buffers; what it does not log (a GPU driver context, the host heap
holding the tokenizer) still takes memory. The figures are data with sources, not code.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.tables import data_file, read_yaml, validate
from sizing.units import MIB

DATA = data_file("backend_overhead.yaml")


class BackendOverhead(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    device_mib: float = Field(ge=0, description="on the accelerator (0 for cpu)")
    host_mib: float = Field(ge=0)
    host_bytes_per_vocab_token: float = Field(ge=0)
    source: str = Field(min_length=10)

    def device_bytes(self) -> int:
        return int(self.device_mib * MIB)

    def host_bytes(self, vocab_size: int) -> int:
        return int(self.host_mib * MIB + self.host_bytes_per_vocab_token * vocab_size)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    backends: dict[str, BackendOverhead]


@lru_cache(maxsize=4)
def load_overheads(path: str | None = None) -> dict[str, BackendOverhead]:
    """Backend name -> overhead; SizingError naming file, entry and field if invalid."""
    p = path or DATA
    return validate(_File, read_yaml(p, "backend overheads"), f"{p}:").backends

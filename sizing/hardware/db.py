"""The hardware database: GPUs, accelerators and unified-memory chips, loaded from YAML.

A fit verdict is only as good as the figures behind it, so every entry is validated on
load and every group of figures must name its source. An unknown figure is ``null``,
never a guess. Compute figures are *dense* (no 2:4 sparsity): FP16/BF16 tensor
TFLOPS with FP32 accumulate, and INT8 tensor TOPS.

A malformed entry fails with the file, the entry id and the field named, because the
person who edits ``data/gpus.yaml`` needs to know exactly which line to fix.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from sizing.core.gpu import GPU
from sizing.core.tables import data_file, parse_entries, read_yaml
from sizing.errors import SizingError

if TYPE_CHECKING:  # pragma: no cover
    from sizing.core.tables import DataPath
    from sizing.hardware.match import Matcher, MatchResult

GPUS_FILE = data_file("gpus.yaml")


class GPUDatabase:
    """All entries, with lookup by id and name matching (see ``sizing.hardware.match``)."""

    def __init__(self, gpus: list[GPU], path: DataPath | None = None) -> None:
        self.all: tuple[GPU, ...] = tuple(gpus)
        self.path = path
        self._by_id = {g.id: g for g in self.all}
        self._matcher: Matcher | None = None

    def __len__(self) -> int:
        return len(self.all)

    def get(self, gpu_id: str) -> GPU:
        try:
            return self._by_id[gpu_id]
        except KeyError:
            raise SizingError(f"unknown GPU id {gpu_id!r}") from None

    def by_vendor(self, vendor: str) -> tuple[GPU, ...]:
        v = vendor.strip().lower()
        return tuple(g for g in self.all if g.vendor == v)

    def match(self, name: str, *, memory_gb: float | None = None, gpu_cores: int | None = None) -> MatchResult:
        from sizing.hardware.match import Matcher

        if self._matcher is None:
            self._matcher = Matcher(self.all)
        return self._matcher.match(name, memory_gb=memory_gb, gpu_cores=gpu_cores)


def parse_gpus(raw: object, path: DataPath) -> list[GPU]:
    return parse_entries(raw, "gpus", GPU, path)


def load_gpus_file(path: DataPath) -> GPUDatabase:
    """Load and validate one GPU YAML file (uncached; for tests and tools)."""
    return GPUDatabase(parse_gpus(read_yaml(path, "GPU database"), path), path)


@cache
def load_gpus() -> GPUDatabase:
    """The shipped database (``data/gpus.yaml``), loaded once per process."""
    return load_gpus_file(GPUS_FILE)

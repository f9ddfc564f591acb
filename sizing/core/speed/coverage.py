"""How many public llama-bench rows back each device class, for a buyer to judge a speed.

A predicted speed is only as trustworthy as the public runs behind its device class
(backend and kind: ``cuda/gpu``, ``metal/unified``...). This reads only what that count
needs from ``sizing/data/llama_bench.yaml``: each row's device and backend, whether it is
a mixture-of-experts model (it names its active parameters), and each device's kind and
``data/gpus.yaml`` id. MoE rows are counted apart: a device class whose speed was fitted
on dense models alone says little about a fine-grained MoE, whose decode also pays for
every active expert's small matrix-vector product, so a buyer must see that. The full rows and the fit live in
``harness/speed_fit.py``.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from sizing.core.tables import data_file, read_yaml
from sizing.errors import SizingError

if TYPE_CHECKING:
    from sizing.core.tables import DataPath

BENCH_FILE = data_file("llama_bench.yaml")


class BenchCoverage(BaseModel):
    """Row counts by device class and by ``data/gpus.yaml`` id."""

    model_config = ConfigDict(frozen=True)

    by_class: dict[str, int]
    by_gpu: dict[str, int]
    moe_by_class: dict[str, int] = {}

    def rows(self, backend: str, kind: Literal["gpu", "cpu", "unified"] | str) -> int:
        return self.by_class.get(f"{backend}/{kind}", 0)

    def moe_rows(self, backend: str, kind: Literal["gpu", "cpu", "unified"] | str) -> int:
        """Rows of mixture-of-experts models in this device class."""
        return self.moe_by_class.get(f"{backend}/{kind}", 0)


@cache
def bench_coverage(path: DataPath = BENCH_FILE) -> BenchCoverage:
    """Counts over the rows the fit uses (host-limited rows are left out, as in the fit)."""
    raw = read_yaml(path, "benchmark data")
    if not isinstance(raw, dict) or not isinstance(raw.get("rows"), list) or not isinstance(raw.get("devices"), dict):
        raise SizingError(f"{path}: expected a mapping with 'devices' and 'rows'")
    devices = raw["devices"]
    by_class: Counter[str] = Counter()
    by_gpu: Counter[str] = Counter()
    moe: Counter[str] = Counter()
    for i, row in enumerate(raw["rows"]):
        if (
            not isinstance(row, dict)
            or row.get("device") not in devices
            or not isinstance(devices[row["device"]], dict)
        ):
            raise SizingError(f"{path}: row {i}: unknown or missing device")
        dev = devices[row["device"]]
        if dev.get("db_id"):
            by_gpu[dev["db_id"]] += 1
        if not row.get("host_limited"):
            cls = f"{row.get('backend')}/{dev.get('kind')}"
            by_class[cls] += 1
            if row.get("active_params_b"):
                moe[cls] += 1
    return BenchCoverage(by_class=dict(by_class), by_gpu=dict(by_gpu), moe_by_class=dict(moe))

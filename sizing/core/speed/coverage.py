"""How many public llama-bench rows back each device class, for a buyer to judge a speed.

A predicted speed is only as trustworthy as the public runs behind its device class
(backend and kind: ``cuda/gpu``, ``metal/unified``...). This reads only what that count
needs from ``sizing/data/llama_bench.yaml``: each row's device and backend, whether it is
a mixture-of-experts model (it names its active parameters), and each device's kind and
``data/gpus.yaml`` id, and each device's architecture (its own ``family``, else its
``data/gpus.yaml`` entry's architecture, as the fit reads it). MoE rows are counted apart: a device class whose speed was fitted
on dense models alone says little about a fine-grained MoE, whose decode also pays for
every active expert's small matrix-vector product, so a buyer must see that. The full rows and the fit live in
``harness/speed_fit.py``.
"""

from __future__ import annotations

from collections import Counter
from functools import cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.machine import family_of
from sizing.core.tables import data_file, read_yaml
from sizing.errors import SizingError

if TYPE_CHECKING:
    from sizing.core.tables import DataPath

BENCH_FILE = data_file("llama_bench.yaml")
GPUS_FILE = data_file("gpus.yaml")

# GPU families whose MoE costs are their own on every backend: Intel's. On Vulkan an Arc runs
# Mesa ANV's kernels, and one Arc Pro B70 on one build (kyuz0/intel-b70-ai-toolboxes, May 2026)
# decoded its MoE files at 55-85% of its SYCL speed (Qwen3.6-35B-A3B 39 against 72 tok/s) where
# a Radeon 8060S on RADV is as fast as on ROCm. Their rows set the MoE costs of their own
# family's entries (and its chips') and count as MoE coverage for that family only, never for
# another family on the same backend (harness/speed_fit.py, _per_backend_median).
OWN_MOE_FAMILIES = ("xe-hpg", "xe2-hpg")


class BenchCoverage(BaseModel):
    """Row counts by device class, by ``data/gpus.yaml`` id, and decode rows by backend and
    architecture."""

    model_config = ConfigDict(frozen=True)

    by_class: dict[str, int]
    by_gpu: dict[str, int]
    moe_by_class: dict[str, int] = Field({}, description="MoE rows by class, rows of OWN_MOE_FAMILIES left out")
    moe_by_own_family: dict[str, int] = Field({}, description="MoE rows of OWN_MOE_FAMILIES, by backend/family")
    decode_by_family: dict[str, int] = {}
    decode_devices_by_family: dict[str, int] = {}

    def rows(self, backend: str, kind: Literal["gpu", "cpu", "unified"] | str) -> int:
        return self.by_class.get(f"{backend}/{kind}", 0)

    def moe_rows(self, backend: str, kind: Literal["gpu", "cpu", "unified"] | str, family: str | None = None) -> int:
        """Rows of mixture-of-experts models behind a device's MoE costs: its own family's
        where that family is in OWN_MOE_FAMILIES, else its class's other families'."""
        if family in OWN_MOE_FAMILIES:
            return self.moe_by_own_family.get(f"{backend}/{family}", 0)
        return self.moe_by_class.get(f"{backend}/{kind}", 0)

    def family_decode_rows(self, backend: str, family: str) -> int:
        """Decode rows run with this backend on devices of this architecture ("cuda",
        "turing"): what the fit could give that architecture an entry of its own from."""
        return self.decode_by_family.get(f"{backend}/{family}", 0)

    def family_decode_devices(self, backend: str, family: str) -> int:
        """How many devices of this architecture ran those decode rows: rows all on one
        card pin that card's efficiency, which its memory system shares with no sibling."""
        return self.decode_devices_by_family.get(f"{backend}/{family}", 0)


def _gpu_families(path: DataPath) -> dict[str, str]:
    """``data/gpus.yaml`` id -> architecture, spelled as the speed calibration names it."""
    raw = read_yaml(path, "GPU database")
    gpus = raw.get("gpus") if isinstance(raw, dict) else None
    if not isinstance(gpus, list):
        raise SizingError(f"{path}: expected a mapping with 'gpus'")
    out = {}
    for g in gpus:
        fam = family_of(g.get("architecture")) if isinstance(g, dict) else None
        if fam and isinstance(g.get("id"), str):
            out[g["id"]] = fam
    return out


@cache
def bench_coverage(path: DataPath = BENCH_FILE, gpus_path: DataPath = GPUS_FILE) -> BenchCoverage:
    """Counts over the rows the fit uses (host-limited rows are left out, as in the fit:
    a Pi-hosted run says nothing of the card's speed in a PC). A row's architecture is its
    device's own ``family`` or, failing that, the architecture of its ``data/gpus.yaml``
    entry; a decode row is one with a decode figure (``tg128``)."""
    families = _gpu_families(gpus_path)
    raw = read_yaml(path, "benchmark data")
    if not isinstance(raw, dict) or not isinstance(raw.get("rows"), list) or not isinstance(raw.get("devices"), dict):
        raise SizingError(f"{path}: expected a mapping with 'devices' and 'rows'")
    devices = raw["devices"]
    by_class: Counter[str] = Counter()
    by_gpu: Counter[str] = Counter()
    moe: Counter[str] = Counter()
    moe_own: Counter[str] = Counter()
    decode_fam: Counter[str] = Counter()
    decode_devs: dict[str, set[str]] = {}
    for i, row in enumerate(raw["rows"]):
        if (
            not isinstance(row, dict)
            or row.get("device") not in devices
            or not isinstance(devices[row["device"]], dict)
        ):
            raise SizingError(f"{path}: row {i}: unknown or missing device")
        dev = devices[row["device"]]
        if row.get("host_limited"):
            continue
        if dev.get("db_id"):
            by_gpu[dev["db_id"]] += 1
        cls = f"{row.get('backend')}/{dev.get('kind')}"
        by_class[cls] += 1
        fam = dev.get("family") or families.get(dev.get("db_id") or "")
        if row.get("active_params_b"):
            if fam in OWN_MOE_FAMILIES:
                moe_own[f"{row.get('backend')}/{fam}"] += 1
            else:
                moe[cls] += 1
        if fam and row.get("tg128") is not None:
            decode_fam[f"{row.get('backend')}/{fam}"] += 1
            decode_devs.setdefault(f"{row.get('backend')}/{fam}", set()).add(row["device"])
    return BenchCoverage(
        by_class=dict(by_class),
        by_gpu=dict(by_gpu),
        moe_by_class=dict(moe),
        moe_by_own_family=dict(moe_own),
        decode_by_family=dict(decode_fam),
        decode_devices_by_family={k: len(v) for k, v in decode_devs.items()},
    )

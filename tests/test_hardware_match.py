"""Names as drivers and people write them resolve to the right entries, or say why not."""

from __future__ import annotations

import pytest

from sizing.hardware.db import load_gpus
from sizing.hardware.match import Matcher, parse_name


@pytest.fixture(scope="module")
def db():
    return load_gpus()


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # NVML spellings
        ("NVIDIA GeForce RTX 4090", "nvidia-rtx-4090"),
        ("GeForce RTX 2080 Ti", "nvidia-rtx-2080-ti"),  # older drivers: no "NVIDIA" prefix
        ("NVIDIA H100 80GB HBM3", "nvidia-h100-sxm5-80gb"),
        ("NVIDIA H100 PCIe", "nvidia-h100-pcie-80gb"),
        ("NVIDIA H100 NVL", "nvidia-h100-nvl-94gb"),
        ("NVIDIA A100-SXM4-80GB", "nvidia-a100-sxm4-80gb"),
        ("NVIDIA A100-PCIE-40GB", "nvidia-a100-pcie-40gb"),
        ("Tesla V100-SXM2-16GB", "nvidia-v100-sxm2-16gb"),
        ("Tesla T4", "nvidia-t4"),
        ("NVIDIA RTX 6000 Ada Generation", "nvidia-rtx-6000-ada"),
        ("NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "nvidia-rtx-pro-6000-blackwell"),
        ("NVIDIA GB10", "nvidia-dgx-spark-128gb"),
        # marketing
        ("RTX 4090", "nvidia-rtx-4090"),
        ("4090 24GB", "nvidia-rtx-4090"),
        ("rtx4090", None),  # glued tokens are not guessed apart
        ("RTX 3060 12GB", "nvidia-rtx-3060-12gb"),
        ("RTX A6000", "nvidia-rtx-a6000"),
        ("L40S", "nvidia-l40s"),
        # AMD / ROCm
        ("AMD Instinct MI300X", "amd-mi300x"),
        ("Instinct MI250X", "amd-mi250x"),
        ("AMD Radeon RX 7900 XTX", "amd-rx-7900-xtx"),
        ("Radeon RX 7900 XT", "amd-rx-7900-xt"),
        ("7900XTX", "amd-rx-7900-xtx"),
        ("AMD Radeon PRO W7900", "amd-radeon-pro-w7900"),
        ("AMD Ryzen AI Max+ 395 128GB", "amd-ryzen-ai-max-plus-395-128gb"),
        # Intel (Level Zero / sysfs spelling)
        ("Intel(R) Arc(TM) B580 Graphics", "intel-arc-b580"),
        # Apple with GPU cores and memory
        ("Apple M3 Max 40-core GPU 128GB", "apple-m3-max-40c-128gb"),
        ("M2 Ultra 76-core 192GB", "apple-m2-ultra-76c-192gb"),
        ("Apple M4 Max 32c", "apple-m4-max-32c-36gb"),
    ],
)
def test_names_resolve(db, name, expected):
    r = db.match(name)
    if expected is None:
        assert not r.matched
    else:
        assert r.matched, r.message()
        assert r.gpu.id == expected


@pytest.mark.parametrize(
    ("name", "must_include"),
    [
        ("H100", {"nvidia-h100-sxm5-80gb", "nvidia-h100-pcie-80gb", "nvidia-h100-nvl-94gb"}),
        ("A100 80GB", {"nvidia-a100-sxm4-80gb", "nvidia-a100-pcie-80gb"}),
        ("Apple M3 Max", {"apple-m3-max-30c-36gb", "apple-m3-max-40c-128gb"}),
        ("RTX 6000", {"nvidia-rtx-6000-ada", "nvidia-rtx-pro-6000-blackwell"}),
        ("NVIDIA GeForce RTX 4060 Ti", {"nvidia-rtx-4060-ti-8gb", "nvidia-rtx-4060-ti-16gb"}),
    ],
)
def test_ambiguous_names_list_candidates(db, name, must_include):
    r = db.match(name)
    assert r.status == "ambiguous"
    assert must_include <= {c.id for c in r.candidates}
    assert "matches several devices" in r.message()


def test_hints_resolve_ambiguity(db):
    assert db.match("Apple M3 Max", gpu_cores=40, memory_gb=48).gpu.id == "apple-m3-max-40c-48gb"
    # NVML reports binary sizes slightly under the marketing figure
    assert db.match("NVIDIA GeForce RTX 4060 Ti", memory_gb=15.7).gpu.id == "nvidia-rtx-4060-ti-16gb"
    assert db.match("NVIDIA A100 80GB PCIe").gpu.id == "nvidia-a100-pcie-80gb"


def test_unknown_names_say_so_with_suggestions(db):
    r = db.match("NVIDIA GeForce RTX 4090 Super Ultra")
    assert r.status == "unknown" and "unknown device" in r.message()
    r = db.match("GeForce RTX 4009")
    assert r.status == "unknown" and r.suggestions
    assert db.match("   ").status == "unknown"


def test_parse_name_hints():
    p = parse_name("Apple M3 Max (14-core CPU, 30-core GPU) 36GB")
    assert (p.gpu_cores, p.memory_gb) == (30, 36.0)
    assert parse_name("NVIDIA A100-SXM4-80GB").tokens == {"a100", "sxm4"}


def test_matching_every_nvidia_alias_is_self_consistent(db):
    names = [n for g in db.all if g.vendor == "nvidia" for n in (g.name, *g.aliases)]
    matcher = Matcher(db.all)
    results = [matcher.match(n) for n in names]
    # every entry's own name finds that entry
    for g in db.all:
        r = matcher.match(g.name)
        assert r.matched and r.gpu.id == g.id, (g.name, r.message())
    assert sum(r.status != "unknown" for r in results) == len(names)

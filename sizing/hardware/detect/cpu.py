"""The CPU and its RAM: model, cores, ISA features llama.cpp uses, and RAM bandwidth.

On a CPU-only machine decode speed is bounded by RAM bandwidth, and theoretical
figures (channels x MT/s) are often far from what a box delivers, so we measure it: a
short multi-threaded numpy copy over a buffer much larger than the caches, repeated
to report a median and a spread. The result is cached so the UI does not pay for it
twice.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from sizing.core.cpu_clock import CpuId, core_clock
from sizing.core.speed.cpu import vendor_from_name
from sizing.hardware.detect.command import run_command
from sizing.hardware.detect.machine import BandwidthProbe, CPUInfo

# /proc/cpuinfo (x86 "flags", ARM "Features") names -> names people know.
_FLAG_NAMES = {
    "avx": "AVX",
    "avx2": "AVX2",
    "fma": "FMA",
    "f16c": "F16C",
    "avx512f": "AVX512F",
    "avx512bw": "AVX512BW",
    "avx512_vnni": "AVX512_VNNI",
    "avx512_bf16": "AVX512_BF16",
    "avx_vnni": "AVX_VNNI",
    "amx_tile": "AMX",
    "amx_int8": "AMX_INT8",
    "amx_bf16": "AMX_BF16",
    "asimd": "NEON",
    "asimddp": "DOTPROD",
    "i8mm": "I8MM",
    "sve": "SVE",
    "sve2": "SVE2",
    "bf16": "BF16",
}
CACHE_MAX_AGE_S = 7 * 24 * 3600


def cache_dir() -> Path:
    """Where cached probe results live (``LLM_SIZING_CACHE_DIR`` overrides)."""
    env = os.environ.get("LLM_SIZING_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llm-sizing"


def parse_cpuinfo(text: str) -> tuple[str | None, tuple[str, ...]]:
    """Model name and known ISA flags from /proc/cpuinfo text (x86 or ARM)."""
    model = None
    raw: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and model is None and value.strip():
            model = value.strip()
        elif key in ("flags", "features"):
            raw.update(value.split())
    flags = tuple(sorted({_FLAG_NAMES[f] for f in raw if f in _FLAG_NAMES}))
    return model, flags


def _run(cmd: list[str]) -> str | None:
    return run_command(cmd, timeout_s=5)


def _model_and_flags() -> tuple[str, tuple[str, ...]]:
    system = platform.system()
    if system == "Linux":
        try:
            model, flags = parse_cpuinfo(Path("/proc/cpuinfo").read_text())
        except OSError:
            model, flags = None, ()
        return model or platform.processor() or platform.machine(), flags
    if system == "Darwin":
        brand = (_run(["sysctl", "-n", "machdep.cpu.brand_string"]) or "").strip()
        found: list[str] = []
        if platform.machine() == "arm64":
            found.append("NEON")
            feats = (
                _run(
                    ["sysctl", "hw.optional.arm.FEAT_DotProd", "hw.optional.arm.FEAT_I8MM", "hw.optional.arm.FEAT_BF16"]
                )
                or ""
            )
            for line in feats.splitlines():
                name, _, val = line.partition(":")
                if val.strip() == "1":
                    found.append(name.rsplit("FEAT_", 1)[-1].upper())
        return brand or platform.machine(), tuple(sorted(found))
    return platform.processor() or platform.machine(), ()


def _copy_bandwidth(runs: int, buffer_bytes: int, threads: int, budget_s: float) -> BandwidthProbe:
    import numpy as np

    n = buffer_bytes // 16  # float64 elements per array (source + destination = buffer_bytes)
    src = np.ones(n, dtype=np.float64)
    dst = np.empty_like(src)
    chunks = [(i * n // threads, (i + 1) * n // threads) for i in range(threads)]

    def copy(bounds: tuple[int, int]) -> None:
        a, b = bounds
        np.copyto(dst[a:b], src[a:b])  # releases the GIL: threads stream in parallel

    rates: list[float] = []
    t_start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(copy, chunks))  # warm-up: fault in the pages
        for _ in range(runs):
            t0 = time.perf_counter()
            list(pool.map(copy, chunks))
            dt = time.perf_counter() - t0
            rates.append(2 * n * 8 / dt / 1e9)  # each byte read once and written once
            if len(rates) >= 3 and time.perf_counter() - t_start > budget_s:
                break  # a busy machine: keep the probe short, the spread shows the noise
    med = statistics.median(rates)
    return BandwidthProbe(
        gbs=round(med, 2),
        min_gbs=round(min(rates), 2),
        max_gbs=round(max(rates), 2),
        spread_pct=round((max(rates) - min(rates)) / med * 100, 1),
        runs=len(rates),
        buffer_bytes=2 * n * 8,
        seconds=round(time.perf_counter() - t_start, 3),
        method=f"numpy copy, {threads} threads, read+write bytes counted",
    )


def _cache_key(model: str) -> str:
    return f"{model}|{psutil.virtual_memory().total}|{os.cpu_count()}"


def probe_bandwidth(
    model: str,
    *,
    runs: int = 7,
    buffer_bytes: int = 256 << 20,
    budget_s: float = 1.2,
    refresh: bool = False,
) -> BandwidthProbe:
    """Measure (or reuse a cached measurement of) RAM bandwidth for this machine."""
    path = cache_dir() / "ram_bandwidth.json"
    key = _cache_key(model)
    if not refresh:
        cached = read_cached_bandwidth(model)
        if cached is not None:
            return cached
    threads = max(1, min(psutil.cpu_count(logical=False) or 1, 16))
    # Keep the buffer inside free RAM on small machines.
    avail = psutil.virtual_memory().available
    buffer_bytes = int(min(buffer_bytes, max(16 << 20, avail // 8)))
    result = _copy_bandwidth(runs, buffer_bytes, threads, budget_s)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"key": key, "time": time.time(), "probe": result.model_dump()}))
    except OSError:
        pass  # a read-only home only costs us the cache
    return result


def read_cached_bandwidth(model: str) -> BandwidthProbe | None:
    path = cache_dir() / "ram_bandwidth.json"
    try:
        data = json.loads(path.read_text())
        if data.get("key") != _cache_key(model) or time.time() - data["time"] > CACHE_MAX_AGE_S:
            return None
        return BandwidthProbe.model_validate({**data["probe"], "cached": True})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def parse_cpuid(text: str) -> CpuId | None:
    """Vendor, family and model from /proc/cpuinfo (x86): what a guest still sees of its
    processor when the hypervisor masks the model name ("AMD EPYC")."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("vendor_id", "cpu family", "model") and key not in fields:
            fields[key] = value.strip()
        if not line.strip() and fields:  # the first processor's block is enough
            break
    try:
        return CpuId(vendor=fields["vendor_id"], family=int(fields["cpu family"]), model=int(fields["model"]))
    except (KeyError, ValueError):
        return None


def stated_clock() -> tuple[float | None, bool]:
    """(GHz, whether it is a maximum): cpufreq's maximum (the turbo clock) where a frequency
    driver runs, else the current clock it reports, which in a VM without one is the
    nominal clock the hypervisor passes on (psutil reads both)."""
    try:
        f = psutil.cpu_freq()
    except (OSError, RuntimeError, NotImplementedError):
        return None, False
    if f is None:
        return None, False
    is_max = bool(f.max and f.max > 0)
    mhz = f.max if is_max else f.current
    return (round(mhz / 1000.0, 3), is_max) if mhz and mhz > 0 else (None, False)


def _cpuid() -> CpuId | None:
    if platform.system() != "Linux":
        return None
    try:
        return parse_cpuid(Path("/proc/cpuinfo").read_text())
    except OSError:
        return None


def detect_cpu(*, probe: bool = False) -> CPUInfo:
    """CPU facts; with ``probe`` measure RAM bandwidth, else reuse a cached probe if any."""
    model, flags = _model_and_flags()
    vm = psutil.virtual_memory()
    bandwidth = probe_bandwidth(model) if probe else read_cached_bandwidth(model)
    stated, is_max = stated_clock()
    cpuid = _cpuid()
    clock = core_clock(stated, is_max=is_max, cpuid=cpuid)
    return CPUInfo(
        model=model,
        arch=platform.machine(),
        cores=psutil.cpu_count(logical=False),
        threads=psutil.cpu_count(logical=True),
        flags=flags,
        # where /proc/cpuinfo is not there (Windows, macOS), the maker the model name states
        vendor=cpuid.vendor if cpuid else vendor_from_name(model),
        clock_ghz=clock.ghz if clock else None,
        clock_basis=clock.basis if clock else None,
        clock_stated_ghz=stated,
        ram_total_bytes=vm.total,
        ram_available_bytes=vm.available,
        bandwidth=bandwidth,
    )

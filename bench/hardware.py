#!/usr/bin/env python3
"""Benchmark hardware detection and name matching; prints figures (targets in brackets).

    .venv/bin/python bench/hardware.py [--repeat N]

- detection without the bandwidth probe          [< 1 s]
- the RAM bandwidth probe (fresh, not cached)    [< 2 s]
- matching every NVML-style name in the database [< 100 ms total]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sizing.hardware.db import load_gpus  # noqa: E402
from sizing.hardware.detect import detect_machine  # noqa: E402
from sizing.hardware.detect.cpu import probe_bandwidth  # noqa: E402
from sizing.hardware.match import Matcher  # noqa: E402


def timed(fn, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as cache:
        os.environ["LLM_SIZING_CACHE_DIR"] = cache  # no cached probe: measure the real cost
        load_gpus()  # the DB load is shared by all callers; time it separately
        t0 = time.perf_counter()
        load_gpus.cache_clear()
        db = load_gpus()
        db_load = time.perf_counter() - t0

        def cold_detect():
            load_gpus.cache_clear()  # include loading and validating the GPU database
            return detect_machine(probe_bandwidth=False)

        det, machine = timed(cold_detect, args.repeat)
        warm, _ = timed(lambda: detect_machine(probe_bandwidth=False), args.repeat)
        probe, bw = timed(lambda: probe_bandwidth(machine.cpu.model, refresh=True), args.repeat)

    names = [n for g in db.all if g.vendor == "nvidia" for n in (g.name, *g.aliases)]
    all_names = [n for g in db.all for n in (g.name, *g.aliases)]
    matcher = Matcher(db.all)
    nv, _ = timed(lambda: [matcher.match(n) for n in names], args.repeat)
    every, _ = timed(lambda: [matcher.match(n) for n in all_names], args.repeat)

    print(f"GPU database: {len(db)} entries, loaded and validated in {db_load * 1000:.0f} ms")
    print(
        f"detection without probe: median {statistics.median(det):.3f} s, max {max(det):.3f} s "
        f"over {args.repeat} runs, incl. DB load  [target < 1 s]  "
        f"({'CPU-only' if machine.cpu_only else f'{len(machine.gpus)} GPU(s)'}); "
        f"with the DB already loaded: {statistics.median(warm) * 1000:.0f} ms"
    )
    print(
        f"bandwidth probe: median {statistics.median(probe):.3f} s, max {max(probe):.3f} s  [target < 2 s]; "
        f"last: {bw.gbs:.1f} GB/s (min {bw.min_gbs:.1f}, max {bw.max_gbs:.1f}, spread {bw.spread_pct:.0f}%, {bw.runs} runs)"
    )
    print(f"match {len(names)} NVIDIA names: median {statistics.median(nv) * 1000:.1f} ms  [target < 100 ms]")
    print(f"match all {len(all_names)} names in the DB: median {statistics.median(every) * 1000:.1f} ms")
    ok = statistics.median(det) < 1 and statistics.median(probe) < 2 and statistics.median(nv) < 0.1
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

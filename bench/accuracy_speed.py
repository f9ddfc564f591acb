"""Accuracy of the speed model against public llama-bench results (data/llama_bench.yaml).

Prints, per backend, the median and 90th-percentile relative error of predicted decode
(tg128) and prefill (pp512) speed, on the rows the calibration was fitted to and on the
third of rows held out from a fit of the other two thirds (the shipped calibration fits
every row), side by side with the popular
"0.55 × bandwidth ÷ model size" rule for decode. Rows run on slow hosts (Raspberry Pi,
RISC-V boards) are reported separately: the fit leaves them out. So are the prompt figures of
quantized CUDA rows measured before llama.cpp made its int8 tensor-core kernels the default,
of RDNA 3.5 iGPU rows from before October 2025 on ROCm and before 2026 on Vulkan, and of Intel
Xe2 rows from before 2026 on Vulkan (harness.speed_fit.superseded_prompt): they time a path no current build takes.

It then scores decode at depth: each run of one model at several depths (data file's
``depth_runs``) predicted with the attention cost its backend's other runs imply.

With ``--folds``, it also refits three times, each time holding out a different third of
every backend's rows, and prints the error
of every row as predicted by the fit it was left out of: a figure that one lucky or
unlucky split cannot move, for comparing model changes. With ``--shuffles N`` it repeats
that three-fold figure on N other reproducible partitions (rows ordered by a SHA-256 of
a seed and their id instead of by id): a change that helps only the one partition the
calibration file uses shows up there.

Run: .venv/bin/python bench/accuracy_speed.py [--folds] [--shuffles N]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.speed_fit import (  # noqa: E402
    depth_checks,
    fit,
    fit_from_files,
    load_bench_with_db,
    predict_decode,
    predict_prefill,
    row_device,
    split_rows,
    superseded_prompt,
)
from sizing.units import GIB  # noqa: E402
from sizing.errors import SizingError  # noqa: E402
from sizing.core.speed.estimate import rule_of_thumb_tokens_per_s  # noqa: E402


def rel(pred: float, meas: float) -> float:
    return abs(pred - meas) / meas


def p90(xs: list[float]) -> float:
    if len(xs) < 2:
        return xs[0] if xs else float("nan")
    return statistics.quantiles(xs, n=10, method="inclusive")[-1]


def fmt(xs: list[float]) -> str:
    if not xs:
        return "      -        -    (n=0) "
    return f"{100 * statistics.median(xs):6.1f}% {100 * p90(xs):6.1f}%  (n={len(xs):2d})"


def add_errors(by_key, held, data, calib, with_totals: bool = False) -> None:
    """Each held-out row's decode and prefill errors under the calibration entry that
    predicts it (backend / class / architecture); ``with_totals`` also under its backend
    and under ALL."""
    for r in held:
        if r.host_limited:
            continue
        d = data.devices[r.device]
        dev = row_device(r, d)
        key = calib.key(dev.backend, dev.kind, dev.family)
        for k in {key, r.backend, "ALL"} if with_totals else {key}:
            dec, pre = by_key.setdefault(k, ([], []))
            if r.tg128:
                dec.append(rel(predict_decode(r, d, calib), r.tg128))
            if r.pp512 and not superseded_prompt(r, d):
                try:
                    pre.append(rel(predict_prefill(r, d, calib), r.pp512))
                except SizingError:
                    pass


def cross_validated() -> None:
    """Every row predicted by the fit of the fold that held it out, per calibration entry."""
    data = load_bench_with_db()
    by_key: dict[str, tuple[list[float], list[float]]] = {}
    for fold in range(3):
        calib = fit(data, fold=fold)
        _, held = split_rows(data.rows, fold)
        add_errors(by_key, held, data, calib, with_totals=True)
    print("\n== three folds: every row predicted by the fit that held it out (backend, then entry)")
    print(f"{'entry':24} {'decode median, P90 (n)':28} {'prefill median, P90 (n)':28}")
    for key in sorted(by_key, key=lambda k: (k == "ALL", k)):
        dec, pre = by_key[key]
        print(f"{key:24} {fmt(dec):28} {fmt(pre):28}")


def depth() -> None:
    """Speed at depth: each run's slowdown at its deepest depth, measured and predicted with
    the attention cost its backend's other runs imply (the run left out), and with none."""
    data = load_bench_with_db()
    calib = fit_from_files()
    for what in ("decode", "prompt"):
        checks = depth_checks(data, calib, what)
        if not checks:
            continue
        print(
            f"\n== {what} at depth: speed at the deepest run / at depth 0 (each run left out of its backend's median)"
        )
        print(f"{'run':34} {'depth':>6} {'measured':>9} {'predicted':>9} {'no scale':>9}  scale (others)")
        for c in checks:
            print(f"{c.run_id:34} {c.depth:6d} {c.measured:9.3f} {c.predicted:9.3f} {c.unscaled:9.3f}  {c.scale:.2f}")
        for name, xs in (("predicted", [c.error for c in checks]), ("no scale", [c.unscaled_error for c in checks])):
            print(
                f"  {name:10} error of the ratio: median {100 * statistics.median(xs):4.1f}%, max {100 * max(xs):4.1f}%"
            )


def shuffled(n: int) -> None:
    """The three-fold decode and prefill figures on ``n`` other partitions, and their mean."""
    data = load_bench_with_db()
    print(f"\n== three folds on {n} other partitions (rows ordered by SHA-256 of seed + id)")
    print(f"{'partition':10} {'decode median, P90 (n)':28} {'prefill median, P90 (n)':28}")
    stats = []
    for seed in ["by id", *(f"s{i}" for i in range(1, n + 1))]:
        by_key: dict[str, tuple[list[float], list[float]]] = {}
        for fold in range(3):
            shuffle = None if seed == "by id" else seed
            calib = fit(data, fold=fold, shuffle=shuffle)
            _, held = split_rows(data.rows, fold, shuffle)
            add_errors(by_key, held, data, calib, with_totals=True)
        dec, pre = by_key["ALL"]
        stats.append((statistics.median(dec), p90(dec), statistics.median(pre), p90(pre)))
        print(f"{seed:10} {fmt(dec):28} {fmt(pre):28}")
    mean = [100 * statistics.mean(s[i] for s in stats) for i in range(4)]
    print(f"{'mean':10} {mean[0]:6.1f}% {mean[1]:6.1f}%{'':14} {mean[2]:6.1f}% {mean[3]:6.1f}%")


def main() -> int:
    data = load_bench_with_db()
    shipped = fit_from_files()
    # the shipped calibration fits every row; the fixed split below is its method fitted on
    # two thirds of each backend's rows, scored on the third it left out
    calib = fit(data, fold=2)
    fit_rows, held = split_rows(data.rows)
    groups = {"fit": fit_rows, "held-out": held}
    backends = sorted({r.backend for r in data.rows})
    print(
        f"calibration {shipped.name} (shipped: every one of {len(data.rows)} rows fitted); "
        f"fixed split below: fitted on {len(fit_rows)}, {len(held)} held out\n"
    )
    print("error = |predicted - measured| / measured; columns: median, P90 (n rows)")
    for what in ("decode", "prefill"):
        print(f"\n== {what} ({'tg128' if what == 'decode' else 'pp512'})")
        header = f"{'backend':8} {'set':9} {'model':26}"
        if what == "decode":
            header += f" {'0.55 x bw / size rule':26}"
        print(header)
        totals: dict[str, tuple[list[float], list[float]]] = {}
        for backend in backends + ["ALL"]:
            for name, rows in groups.items():
                ours, rule = [], []
                for r in rows:
                    if backend != "ALL" and r.backend != backend:
                        continue
                    if r.host_limited:
                        continue
                    d = data.devices[r.device]
                    try:
                        if what == "decode" and r.tg128:
                            ours.append(rel(predict_decode(r, d, calib), r.tg128))
                            size = r.file_gib * GIB * r.active_fraction
                            rule.append(rel(rule_of_thumb_tokens_per_s(size, d.bandwidth_gbs), r.tg128))
                        elif what == "prefill" and r.pp512 and not superseded_prompt(r, d):
                            ours.append(rel(predict_prefill(r, d, calib), r.pp512))
                    except SizingError:
                        continue
                line = f"{backend:8} {name:9} {fmt(ours):26}"
                if what == "decode":
                    line += f" {fmt(rule):26}"
                print(line)
                totals[f"{backend}/{name}"] = (ours, rule)
    # held-out rows by the calibration entry that predicts them (backend / class / architecture)
    print("\n== held-out rows by backend and device class (the calibration entry used)")
    print(f"{'entry':24} {'decode median, P90 (n)':28} {'prefill median, P90 (n)':28}")
    by_key: dict[str, tuple[list[float], list[float]]] = {}
    add_errors(by_key, held, data, calib)
    for key in sorted(by_key):
        dec, pre = by_key[key]
        print(f"{key:24} {fmt(dec):28} {fmt(pre):28}")
    # the worst held-out rows, with the llama.cpp build and day they were measured: an old
    # build explains some misses the hardware does not
    worst = []
    for r in held:
        if r.host_limited:
            continue
        d = data.devices[r.device]
        for test, meas, pred in (("decode", r.tg128, predict_decode), ("prefill", r.pp512, predict_prefill)):
            if not meas or (test == "prefill" and superseded_prompt(r, d)):
                continue
            try:
                p = pred(r, d, calib)
            except SizingError:
                continue
            worst.append((rel(p, meas), r, test, meas, p))
    worst.sort(key=lambda w: -w[0])
    print("\n== worst held-out rows: measured vs predicted (llama.cpp build, date)")
    for err, r, test, meas, p in worst[:8]:
        when = ", ".join(x for x in (r.build, r.date and r.date.isoformat()) if x) or "build not stated"
        print(f"  {r.id:34} {test:7} {meas:8.1f} vs {p:8.1f} ({100 * err:5.1f}%)  [{when}]")
    old = [r for r in data.rows if superseded_prompt(r, data.devices[r.device])]
    if old:
        print("\n== prompt rows of a path today's llama.cpp no longer takes (not fitted, not scored above):")
        print(
            "   quantized CUDA prompts before MMQ became the default (PR #8075, 2024-06), and ROCm prompts on "
            "RDNA 3.5 iGPUs before 2025-10 (rocBLAS kernels untuned for gfx1150/1151), and Vulkan ones and "
            "Intel Xe2 ones on Vulkan before 2026 (prompt kernels reworked since): measured vs predicted"
        )
        for r in old:
            d = data.devices[r.device]
            print(f"  {r.id:34} pp {r.pp512:7.0f} vs {predict_prefill(r, d, calib):7.0f}")
    slow = [r for r in data.rows if r.host_limited]
    if slow:
        print("\n== slow-host rows (not fitted): measured vs predicted")
        for r in slow:
            d = data.devices[r.device]
            parts = []
            if r.tg128:
                parts.append(f"tg {r.tg128:.1f} vs {predict_decode(r, d, calib):.1f}")
            if r.pp512:
                try:
                    parts.append(f"pp {r.pp512:.0f} vs {predict_prefill(r, d, calib):.0f}")
                except SizingError:
                    pass
            print(f"  {r.id:34} {'; '.join(parts)}")
    return 0


if __name__ == "__main__":
    rc = main()
    args = sys.argv[1:]
    depth()
    if "--folds" in args:
        cross_validated()
    if "--shuffles" in args:
        i = args.index("--shuffles")
        try:
            n = int(args[i + 1])
            if n < 1:
                raise ValueError
        except (IndexError, ValueError):
            print("--shuffles needs a positive whole number of partitions", file=sys.stderr)
            sys.exit(2)
        shuffled(n)
    sys.exit(rc)

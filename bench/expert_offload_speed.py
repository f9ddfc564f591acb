"""Expert-offload speed: our decode model against public --n-cpu-moe results.

With ``--n-cpu-moe N`` a token reads the active experts of N layers from system RAM and
everything else from the GPU; our model times each side at its own bandwidth
(sizing.core.speed), the experts in RAM at the CPU's offload share
(``offload_expert_efficiency``, fitted on these runs). The runs are ``offload_runs`` in
``sizing/data/llama_bench.yaml``, each cited, with the host as the source states it (or
what is assumed). Printed per run: the shipped calibration's decode tokens/s and range, the
prediction with that run left out of the fitted share, with the experts at the CPU's full
dense share (the model before the share was fitted), the published figure, and the ratios.

    .venv/bin/python bench/expert_offload_speed.py
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.speed_fit import load_bench_with_db, offload_checks, offload_prompt_speed, offload_step_seconds  # noqa: E402
from sizing.core.machine import HostSpec, machine_from_gpu  # noqa: E402
from sizing.core.placement import PlacementOptions  # noqa: E402
from sizing.core.solver import solve  # noqa: E402
from sizing.core.speed.calibration import load_calibration  # noqa: E402
from sizing.hardware.db import load_gpus  # noqa: E402
from sizing.sources.catalog import load_catalog  # noqa: E402
from sizing.units import GIB  # noqa: E402


def main() -> int:
    data, calib = load_bench_with_db(), load_calibration()
    cat, db = load_catalog(), load_gpus()
    share = calib.get("cpu").offload_expert_efficiency
    print(f"shipped calibration: routed experts in RAM stream at {share:.3f} of the CPU's dense decode bandwidth\n")
    checks = {c.run_id: c for c in offload_checks(data, calib)}
    print(f"{'run':<40} {'ours tok/s (range)':>20} {'left out':>9} {'share 1':>8} {'published':>9} {'ratio':>6}")
    ratios: list[float] = []
    prompts: list[float] = []
    inside = 0
    for r in data.offload_runs:
        host = HostSpec(name="host", ram_bytes=int(r.ram_gb * GIB), bandwidth_gbs=r.ram_gbs, threads=r.threads)
        hw = machine_from_gpu(db.match(r.gpu).gpu, r.gpus, host=host)
        p = solve(cat.get(r.model), r.quant, 4096, hw, calib, options=PlacementOptions(n_cpu_moe=r.n_cpu_moe))
        if not p.fits or p.speed is None:
            print(f"{r.id:<40} does not fit ({p.placement.how[:40]})")
            continue
        d = p.speed.decode_tokens_per_s
        c = checks.get(r.id)
        loo = f"{c.predicted:.1f}" if c else "—"
        bare = f"{c.unscaled:.1f}" if c else f"{1.0 / offload_step_seconds(r, calib):.1f}"
        print(
            f"{r.id:<40} {d.expected:>7.1f} ({d.low:.1f}–{d.high:.1f}) {loo:>9} {bare:>8} {r.tg:>9.2f} "
            f"{d.expected / r.tg:>6.2f}"
        )
        print(f"    {r.model} {r.quant}, {r.gpus}× {r.gpu}, --n-cpu-moe {r.n_cpu_moe}; {r.test}")
        for ub, measured in sorted(r.pp.items()):
            ours_pp = offload_prompt_speed(r, calib, ub)
            prompts.append(ours_pp / measured)
            print(
                f"    prompt of {r.prompt_tokens} at -ub {ub}: ours {ours_pp:.1f} tok/s, published {measured:.1f}, "
                f"ratio {ours_pp / measured:.2f}"
            )
        print(f"    host: {r.host}\n    source: {r.source}{f' ({r.date})' if r.date else ''}")
        if r.excluded:
            print(f"    not fitted: {r.excluded}")
            continue
        ratios.append(d.expected / r.tg)
        inside += d.low <= r.tg <= d.high
    if ratios:
        print(
            f"\n{len(ratios)} fitted runs: median ours/published {statistics.median(ratios):.2f}; "
            f"published inside our range in {inside} of {len(ratios)}"
        )
    if prompts:
        print(
            f"prompts: {len(prompts)} published figures, median ours/published {statistics.median(prompts):.2f} "
            f"(from {min(prompts):.2f} to {max(prompts):.2f})"
        )
    if checks:
        cs = list(checks.values())
        print(
            f"each run left out of the share: median |error| {statistics.median(c.error for c in cs) * 100:.1f}% "
            f"(max {max(c.error for c in cs) * 100:.1f}%); experts at the full dense share: "
            f"{statistics.median(c.unscaled_error for c in cs) * 100:.1f}% (max {max(c.unscaled_error for c in cs) * 100:.1f}%)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

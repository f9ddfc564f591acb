"""CPU decode speed at depth: how attention over the KV cache grows with the cached cells (figures only).

    .venv/bin/python bench/cpu_attention.py [--threads 2] [--repeats 3] [--depths 64,512,1536]

Runs the embedded llama.cpp (xllamacpp; flash attention on and an F16 cache, as live checks
and ``calibrate --measure`` run it) on the packaged SmolLM2-135M and Gemma-3-270M with
prompts of several lengths, and prints decode tokens/s at each run's mean depth (prompt +
half the generated tokens) next to the attention FLOPs and KV bytes per token the traffic
model counts there (``sizing.core.traffic``: sliding-window layers capped at their window).
From two depths of one model: seconds per cached cell, and the attention rate that implies
(FLOP/s, FLOPs per cycle per thread at the stated clock), i.e. what
``sizing/data/cpu_attention.yaml`` records and ``calibrate --measure`` fits.
It also prints the current model's prediction at each depth, so the error is visible.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

N_GEN = 32
CTX = 2048


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per depth (their median)")
    ap.add_argument("--depths", default="64,512,1536", help="prompt lengths, comma-separated")
    ap.add_argument("--no-flash-attn", action="store_true", help="llama.cpp's attention without flash attention")
    args = ap.parse_args(argv)

    from sizing.core.speed.calibration import load_calibration
    from sizing.core.speed.estimate import attention_flops_per_s, decode_step_seconds
    from sizing.core.traffic import model_traffic, single_device_work
    from sizing.estimate import estimate
    from sizing.hardware.detect import detect_machine
    from sizing.hardware.this_machine import cpu_rate
    from sizing.hardware.this_machine import machine_record
    from sizing.live.check import kernel_isa
    from sizing.live.packaged import gemma3_path, smollm2_path
    from sizing.live.runner import Check
    from sizing.live.select import select_runner

    runner = select_runner("embedded")
    m = detect_machine(probe_bandwidth=True)
    hw = machine_record(m)
    rate = cpu_rate(m)
    assert rate is not None and rate.clock_ghz
    clock = rate.clock_ghz
    rate = rate.model_copy(update={"family": kernel_isa(hw.get("cpu_flags") or (), runner), "threads": args.threads})
    calib = load_calibration()
    print(
        f"machine: {hw.get('cpu')}, {os.cpu_count()} CPUs, clock {rate.clock_ghz} GHz, ISA {rate.family}, "
        f"{args.threads} threads, flash attention {'off' if args.no_flash_attn else 'on'}, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    depths = [int(x) for x in args.depths.split(",")]
    for path in (smollm2_path(), gemma3_path()):
        if path is None:
            continue
        est = estimate(str(path), None, CTX, backend="cpu", offline=True)
        sc = est.scenario
        assert sc.tensors is not None  # a GGUF's own typed tensors
        work = single_device_work(model_traffic(sc.model, sc.tensors, sc.kv_type_k, sc.kv_type_v), rate)
        points = []
        for n_prompt in depths:
            check = Check(
                model_path=str(path),
                ctx=CTX,
                n_prompt=n_prompt,
                n_gen=N_GEN,
                n_threads=args.threads,
                repetitions=args.repeats,
                flash_attn=not args.no_flash_attn,
            )
            r = runner.run(check)
            depth = n_prompt + N_GEN // 2
            tok_s = r.decode_tokens_per_s or float("nan")
            flops = work.attention_flops(depth)
            step, _ = decode_step_seconds([work], calib, depth=depth)
            points.append((depth, 1.0 / tok_s, flops))
            print(
                f"{path.name}: depth {depth:5d}: decode {tok_s:6.1f} tok/s ({1e3 / tok_s:6.2f} ms), "
                f"attention {flops / 1e6:7.2f} MFLOP, KV {work.kv_read_bytes(depth) / 1e6:6.2f} MB; "
                f"predicted {1 / step:6.1f} tok/s ({(1 / step) / tok_s - 1:+.0%}), load {os.getloadavg()[0]:.1f}"
            )
        slopes = []
        for (d0, t0, f0), (d1, t1, f1) in zip(points, points[1:]):
            if f1 > f0:
                slopes.append((t1 - t0) / (f1 - f0))
                per_cell = (t1 - t0) / (d1 - d0)
                print(
                    f"  depth {d0}->{d1}: {per_cell * 1e6:.2f} µs per cell "
                    f"({per_cell * 1e6 / max(1, work.layers):.3f} per layer), "
                    f"attention {1 / slopes[-1] / 1e9:.2f} GFLOP/s"
                    + f" = {1 / slopes[-1] / 1e9 / args.threads / clock:.3f} FLOP/cycle/thread"
                )
        if slopes:
            med = statistics.median(slopes)
            print(
                f"  median: {1 / med / 1e9:.2f} GFLOP/s; the model assumes {(attention_flops_per_s(rate, calib) or 0.0) / 1e9:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

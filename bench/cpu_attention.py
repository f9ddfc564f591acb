"""CPU decode speed at depth: how attention over the KV cache grows with the cached cells (figures only).

    .venv/bin/python bench/cpu_attention.py [--threads 2] [--repeats 3] [--depths 64,512,1536]

Runs the embedded llama.cpp (xllamacpp; flash attention on and an F16 cache, as live checks
and ``calibrate --measure`` run it) on the packaged SmolLM2-135M and Gemma-3-270M with
prompts of several lengths, and prints decode tokens/s at each run's mean depth (prompt +
half the generated tokens) next to the attention FLOPs and KV bytes per token the traffic
model counts there (``sizing.core.traffic``: sliding-window layers capped at their window).
From two depths of one model: seconds per cached cell, the attention GFLOP/s, and cycles per
(query head, cell) at the stated clock; from the two models' head sizes (SmolLM2 64, Gemma
256): a fixed part per head and cell and a vector part per FLOP, i.e. what
``sizing/data/cpu_attention.yaml`` records (``calibrate --measure`` then fits one factor on both).
It also prints the current model's prediction at each depth, so the error is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

N_GEN = 32
CTX = 2048


def cpu_time_child(path: str, depths: list[int], reps: int, flash_attn: bool) -> None:
    """One thread, one load: per prompt length, the CPU seconds per decoded token (median of
    ``reps``). With a single thread, CPU time is what the step costs on an idle core, so a
    shared machine skews it far less than the wall clock (llama.cpp's threads spin-wait for
    each other, and on cores other processes hold, two threads run many times slower)."""
    import resource

    from harness.embedded_timing import cpu_server
    from sizing.live.child import completion_request

    srv = cpu_server(path, 1, ctx=CTX, n_batch=2048, flash_attn=flash_attn)

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    out = {}
    for n_prompt in depths:
        times = []
        for _ in range(reps):
            marks: dict = {}

            def on_chunk(chunk, marks: dict = marks) -> bool:
                if "first" not in marks:
                    marks["first"] = cpu()
                return False

            srv.handle_completions(
                {**completion_request(n_prompt, N_GEN), "stream": True, "samplers": ["top_k"]}, on_chunk
            )
            times.append((cpu() - marks["first"]) / (N_GEN - 1))
        out[n_prompt] = statistics.median(times)
    sys.stdout.write("RESULT " + json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per depth (their median)")
    ap.add_argument("--depths", default="64,512,1536", help="prompt lengths, comma-separated")
    ap.add_argument("--no-flash-attn", action="store_true", help="llama.cpp's attention without flash attention")
    ap.add_argument(
        "--cpu-time",
        action="store_true",
        help="one thread, timed by the CPU seconds it used (robust on a shared machine): a per-thread rate",
    )
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        cpu_time_child(
            args.child[0], [int(x) for x in args.child[1].split(",")], int(args.child[2]), args.child[3] == "1"
        )
    if args.cpu_time:
        args.threads = 1

    from sizing.core.speed.calibration import load_calibration
    from sizing.core.speed.estimate import cpu_attention_seconds, decode_step_seconds
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
    per_model: list[tuple[float, float]] = []
    for path in (smollm2_path(), gemma3_path()):
        if path is None:
            continue
        est = estimate(str(path), None, CTX, backend="cpu", offline=True)
        sc = est.scenario
        assert sc.tensors is not None  # a GGUF's own typed tensors
        work = single_device_work(model_traffic(sc.model, sc.tensors, sc.kv_type_k, sc.kv_type_v), rate)
        points = []
        by_cpu: dict[str, float] = {}
        if args.cpu_time:
            cmd = [sys.executable, __file__, "--child", str(path), args.depths, str(args.repeats)]
            r = subprocess.run([*cmd, "0" if args.no_flash_attn else "1"], capture_output=True, text=True, timeout=900)
            line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
            if not line:
                print(f"{path.name}: failed: {r.stderr.strip().splitlines()[-1:] or r.returncode}")
                continue
            by_cpu = json.loads(line[0][7:])
        for n_prompt in depths:
            if args.cpu_time:
                tok_s = 1.0 / by_cpu[str(n_prompt)]
            else:
                check = Check(
                    model_path=str(path),
                    ctx=CTX,
                    n_prompt=n_prompt,
                    n_gen=N_GEN,
                    n_threads=args.threads,
                    repetitions=args.repeats,
                    flash_attn=not args.no_flash_attn,
                )
                tok_s = runner.run(check).decode_tokens_per_s or float("nan")
            depth = n_prompt + N_GEN // 2
            flops = work.attention_flops(depth)
            step, _ = decode_step_seconds([work], calib, depth=depth)
            points.append((depth, 1.0 / tok_s, flops))
            print(
                f"{path.name}: depth {depth:5d}: decode {tok_s:6.1f} tok/s ({1e3 / tok_s:6.2f} ms), "
                f"attention {flops / 1e6:7.2f} MFLOP, KV {work.kv_read_bytes(depth) / 1e6:6.2f} MB; "
                f"predicted {1 / step:6.1f} tok/s ({(1 / step) / tok_s - 1:+.0%}), load {os.getloadavg()[0]:.1f}"
            )
        # cycles per (query head, cell) between the shallowest and the deepest run, and the
        # elements (d_k + d_v) a head multiplies per cell: two models with different head
        # sizes split the cost into a fixed part per head and cell and a vector part per FLOP
        (d0, t0, f0), (d1, t1, f1) = points[0], points[-1]
        cells = work.attention_head_cells(d1) - work.attention_head_cells(d0)
        cycles = (t1 - t0) * args.threads * clock * 1e9 / cells
        elements = (f1 - f0) / cells / 2
        per_model.append((cycles, elements))
        dt_model = (cpu_attention_seconds(work, calib, d1) or 0.0) - (cpu_attention_seconds(work, calib, d0) or 0.0)
        print(
            f"  depth {d0}->{d1}: {(t1 - t0) / (d1 - d0) * 1e6:.2f} µs per cell, {(f1 - f0) / (t1 - t0) / 1e9:.2f} "
            f"GFLOP/s = {cycles:.0f} cycles per head and cell ({elements:.0f} elements each) per thread; "
            f"the model: {(f1 - f0) / dt_model / 1e9 if dt_model else 0:.2f} GFLOP/s"
        )
    if len(per_model) == 2:
        (c_a, e_a), (c_b, e_b) = per_model
        if e_a != e_b:
            per_element = (c_b - c_a) / (e_b - e_a)
            fixed = c_a - per_element * e_a
            print(
                f"fixed {fixed:.0f} cycles per head and cell + {per_element:.3f} cycles per element "
                f"(= {2 / per_element if per_element > 0 else float('inf'):.1f} FLOPs per cycle per thread)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

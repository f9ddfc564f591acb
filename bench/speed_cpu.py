"""CPU speed prediction against real llama.cpp runs on this machine (no assertion: figures).

    .venv/bin/python bench/speed_cpu.py [--threads N]

Runs the embedded llama.cpp (xllamacpp, CPU) on the packaged real GGUFs (SmolLM2-135M
Q4_1, Gemma-3-270M Q4_K_M) and prints measured decode and prefill speed next to the
uncalibrated prediction for this machine (measured RAM bandwidth, all cores), with the
ratio, and the load other processes put on the machine during each run (a run under
contention says more about the other processes than about the model).
"""

from __future__ import annotations

import argparse
import os

from sizing.core.speed.calibration import load_calibration
from sizing.hardware.detect import detect_machine
from sizing.live.embedded import EmbeddedRunner
from sizing.live.load import LoadMonitor
from sizing.live.packaged import gemma3_path, smollm2_path
from sizing.live.runner import Check
from sizing.sources.gguf_reader import read_gguf
from sizing.core.speed.estimate import effective_bandwidth, estimate_speed
from sizing.core.traffic import DeviceRate, model_traffic, single_device_work


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repetitions", "-r", type=int, default=3, help="timed runs; their median is printed")
    args = ap.parse_args()
    cpu = detect_machine(probe_bandwidth=True).cpu
    threads = args.threads or cpu.cores or os.cpu_count() or 1
    calib = load_calibration()
    rate = DeviceRate(name="this CPU", kind="cpu", backend="cpu", bandwidth_gbs=cpu.bandwidth.gbs, threads=threads)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"RAM bandwidth {cpu.bandwidth.gbs:.1f} GB/s (probe{', cached' if cpu.bandwidth.cached else ''}); "
          f"{threads} threads; decode streams at {effective_bandwidth(rate, calib) / 1e9:.1f} GB/s "
          f"(min of bandwidth x {calib.get('cpu').decode_efficiency:.2f} and threads x "
          f"{calib.get('cpu').decode_gbs_per_thread or float('inf'):.1f} GB/s)")
    for name, path in (("SmolLM2-135M Q4_1", smollm2_path()), ("Gemma-3-270M Q4_K_M", gemma3_path())):
        if path is None:
            print(f"{name}: not installed (make install-test)")
            continue
        mon = LoadMonitor().before()
        m = EmbeddedRunner().run(Check(model_path=str(path), ctx=512, n_prompt=128, n_gen=64,
                                       n_threads=threads, timeout_s=240, repetitions=args.repetitions))
        during = mon.after()["during"]
        if not m.ok:
            print(f"{name}: run failed: {m.message}")
            continue
        g = read_gguf(path)
        w = single_device_work(model_traffic(g.arch, g.tensors), rate)
        est = estimate_speed([w], calib, ctx=512, prompt_tokens=128)
        d_p, p_p = est.decode_tokens_per_s.expected, est.prefill_tokens_per_s.expected
        print(f"{name}: decode measured {m.decode_tokens_per_s:.1f} predicted {d_p:.1f} "
              f"(error {(d_p / m.decode_tokens_per_s - 1) * 100:+.0f}%); prefill measured "
              f"{m.prefill_tokens_per_s:.1f} predicted {p_p:.1f} (error {(p_p / m.prefill_tokens_per_s - 1) * 100:+.0f}%); "
              f"other processes busy {during['others_busy_cores']:.1f} cores during the run")


if __name__ == "__main__":
    main()

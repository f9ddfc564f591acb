"""CPU speed prediction against real llama.cpp runs on this machine (no assertion: figures).

    .venv/bin/python bench/speed_cpu.py [--threads N] [--repetitions R] [--synthetic]

Runs the embedded llama.cpp (xllamacpp, CPU) on the packaged real GGUFs (SmolLM2-135M
Q4_1, Gemma-3-270M Q4_K_M) and, with ``--synthetic``, on synthetic Llama 1B/3B/8B GGUFs
(a real header, its weights written as pseudo-random finite values: a sparse hole's zeros
decode 10-25% faster than real weights on a CPU), and prints
measured decode and prefill speed next to the uncalibrated prediction for this machine:
measured RAM bandwidth, the threads used, and the vector ISA llama.cpp's kernels run
(the CPU's, capped by what the embedded build was compiled for), with the ratio, and the
load other processes put on the machine during each run (a run under contention says
more about the other processes than about the model).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SYNTHETIC = (
    ("meta-llama/Llama-3.2-1B-Instruct", "Q4_K_M"),
    ("meta-llama/Llama-3.2-3B-Instruct", "Q4_K_M"),
    ("meta-llama/Llama-3.1-8B-Instruct", "Q4_K_M"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repetitions", "-r", type=int, default=3, help="timed runs; their median is printed")
    ap.add_argument("--synthetic", action="store_true", help="also synthetic Llama 1B/3B/8B Q4_K_M")
    args = ap.parse_args()
    from sizing.core.speed.calibration import load_calibration
    from sizing.core.speed.cpu import ISA_LABELS, isa_from_flags
    from sizing.core.speed.estimate import effective_bandwidth, estimate_speed, thread_decode_gbs
    from sizing.core.speed.sampling import host_sampling
    from sizing.core.traffic import DeviceRate, model_traffic, single_device_work
    from sizing.hardware.detect import detect_machine
    from sizing.live.check import kernel_isa
    from sizing.live.embedded import EmbeddedRunner
    from sizing.live.load import LoadMonitor
    from sizing.live.packaged import gemma3_path, smollm2_path
    from sizing.live.runner import Check
    from sizing.live.synthetic import fill_weights, write_synthetic_gguf
    from sizing.sources.catalog import load_catalog
    from sizing.sources.gguf_reader import read_gguf

    cpu = detect_machine(probe_bandwidth=True).cpu
    threads = args.threads or cpu.cores or os.cpu_count() or 1
    runner = EmbeddedRunner()
    isa = kernel_isa(cpu.flags, runner)
    calib = load_calibration()
    rate = DeviceRate(
        name="this CPU",
        kind="cpu",
        backend="cpu",
        bandwidth_gbs=cpu.bandwidth.gbs,
        threads=threads,
        clock_ghz=cpu.clock_ghz,
        family=isa,
    )
    c = calib.for_device(rate)
    print(
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; {cpu.model}: "
        f"{ISA_LABELS[isa_from_flags(cpu.flags)]}, the embedded build runs {ISA_LABELS[isa]} kernels "
        f"(calibration {calib.key('cpu', 'cpu', isa)}); RAM bandwidth {cpu.bandwidth.gbs:.1f} GB/s "
        f"(probe{', cached' if cpu.bandwidth.cached else ''}); {threads} threads; decode streams at "
        f"{effective_bandwidth(rate, calib) / 1e9:.1f} GB/s (min of bandwidth x {c.decode_efficiency:.2f} and "
        f"threads x {thread_decode_gbs(rate, calib) or float('inf'):.2f} GB/s at "
        f"{cpu.clock_ghz or float('nan'):.2f} GHz) + {c.decode_overhead_ms:.2f} ms/token; "
        f"prefill {c.prefill_gflops_per_thread or 0:.1f} GFLOP/s per thread (repacked weights)"
    )
    tmp = Path(tempfile.mkdtemp(prefix="llm-sizing-speed-cpu-"))
    models: list[tuple[str, Path | None, bool]] = [
        ("SmolLM2-135M Q4_1", smollm2_path(), False),
        ("Gemma-3-270M Q4_K_M", gemma3_path(), False),
    ]
    if args.synthetic:
        for model_id, quant in SYNTHETIC:
            path = tmp / f"{model_id.split('/')[-1]}.{quant}.gguf"
            models.append((f"{model_id.split('/')[-1]} {quant} (synthetic)", path, True))
    for (name, path, synthetic), spec in zip(models, [None, None, *SYNTHETIC]):
        if path is None:
            print(f"{name}: not installed (make install-test)")
            continue
        if synthetic and spec is not None:
            fill_weights(write_synthetic_gguf(load_catalog().get(spec[0]), spec[1], path))
        mon = LoadMonitor().before()
        n_gen = 64 if not synthetic else 16
        m = runner.run(
            Check(
                model_path=str(path),
                ctx=512,
                n_prompt=128,
                n_gen=n_gen,
                n_threads=threads,
                timeout_s=900,
                repetitions=args.repetitions,
            )
        )
        during = mon.after()["during"]
        g = read_gguf(path)
        if synthetic:
            path.unlink()
        if not m.ok:
            print(f"{name}: run failed: {m.message}")
            continue
        w = single_device_work(model_traffic(g.arch, g.tensors), rate)
        est = estimate_speed([w], calib, ctx=512, prompt_tokens=128)
        # the run is a server's: it samples each token over the vocabulary on the host
        sampling_s = host_sampling().seconds(g.arch.vocab_size, cpu.clock_ghz)
        d_p, p_p = 1 / (1 / est.decode_tokens_per_s.expected + sampling_s), est.prefill_tokens_per_s.expected
        print(
            f"{name}: reads {w.dense_bytes / 1e6:.0f} MB/token, samples over {g.arch.vocab_size:,} entries "
            f"({sampling_s * 1e3:.2f} ms); decode measured {m.decode_tokens_per_s:.1f} "
            f"predicted {d_p:.1f} (error {(d_p / m.decode_tokens_per_s - 1) * 100:+.0f}%); prefill measured "
            f"{m.prefill_tokens_per_s:.1f} predicted {p_p:.1f} "
            f"(error {(p_p / m.prefill_tokens_per_s - 1) * 100:+.0f}%); other processes busy "
            f"{during['others_busy_cores']:.1f} cores, load average {during['load_average'] or 0:.1f} during the run"
        )


if __name__ == "__main__":
    main()

"""CPU speed per core, by model size and weight type, robust to a shared machine (figures, no assertion).

    .venv/bin/python bench/cpu_kernels.py [--threads 1] [--quick] [--prompt 64] [--types Q4_0,Q8_0,...]
        [--plain Q4_0,Q4_K]

Runs the embedded llama.cpp (xllamacpp) on the packaged real models and on synthetic
GGUFs (a real header over a sparse hole) of Llama-3.2-1B at several types and of 3B/8B,
each in a child process, and times prefill and decode twice: by the wall clock (what
llama.cpp reports) and by the CPU time the child used. With one thread and no spinning
peers, CPU time is what the run would take on an idle core, so the figures stay
comparable while other processes share the machine (the wall-clock ones then say how
much of a core the run got). It prints, per model: bytes read per decoded token, decode
GB/s per thread, prefill GFLOP/s per thread (the blocks' FLOPs per prompt token: the output projection
runs for the last token only); then the prompt speed of each CPU matrix path (repacked /
tinyBLAS / K-quant / legacy dot products; ``sizing.core.speed.cpu``) relative to the
repacked one, from the 1B files whose blocks are all of one type, which is what
``cpu_kernels`` in ``sizing/data/llama_bench.yaml`` records; and, from the same files' decoded
tokens, the bytes per second a thread streams of each type relative to Q4_0 (what its
``decode_speeds`` records). ``--plain`` runs the named 1B files a second time with repacking
off (llama.cpp's --no-repack), which is how a host layer beside a CUDA, ROCm, SYCL or Vulkan
GPU runs (its weights sit in the GPU's pinned host buffer, not CPU_REPACK's): their decode
speed is printed as ``TYPE/plain`` against repacked Q4_0.

The synthetic files' weights are written as pseudo-random finite values
(``sizing.live.synthetic.fill_weights``): a sparse hole's zeros decode 10-25% faster than
real weights (``bench/synthetic_speed.py``). It also runs SmolLM2 and Gemma-3-270M real
next to synthetic.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

N_PROMPT = 64  # prompt tokens timed; --prompt sets another (verify times 512)


def child(path: str, threads: int, n_gen: int, reps: int, n_prompt: int = N_PROMPT, repack: bool = True) -> None:
    from harness.embedded_timing import cpu_server
    from sizing.live.child import completion_request

    srv = cpu_server(path, threads, ctx=max(512, 2 * n_prompt + n_gen), repack=repack)

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    out = []
    for _ in range(reps):
        marks: dict = {}

        def on_chunk(chunk, marks: dict = marks) -> bool:
            if "first" not in marks:
                marks["first"] = (time.perf_counter(), cpu())
            if isinstance(chunk, dict) and "timings" in chunk:
                marks["t"] = chunk["timings"]
            return False

        c0 = cpu()
        srv.handle_completions({**completion_request(n_prompt, n_gen), "stream": True, "samplers": ["top_k"]}, on_chunk)
        t1, c1 = time.perf_counter(), cpu()
        tf, cf = marks["first"]
        t = marks.get("t", {})
        out.append(
            {
                "pp_wall": t.get("prompt_per_second"),
                "tg_wall": t.get("predicted_per_second"),
                "pp_cpu": n_prompt / max(cf - c0, 1e-9) * threads,
                "tg_cpu": (n_gen - 1) / max(c1 - cf, 1e-9) * threads,
                "core_share": (c1 - cf) / max(t1 - tf, 1e-9) / threads,
            }
        )
    sys.stdout.write("RESULT " + json.dumps(out) + "\n")
    sys.stdout.flush()
    os._exit(0)


def decode_rates(files: dict[str, tuple[float, dict[str, float]]]) -> dict[str, float]:
    """Bytes/s one thread streams per weight type, solved file by file: a file whose bytes are
    all of one type gives that type's rate; a file whose blocks are one type and whose output
    projection is another already solved (Q6_K) gives its blocks' rate from the time left."""
    rates: dict[str, float] = {}
    pending = dict(files)
    while pending:
        done = False
        for typ, (step, by_type) in list(pending.items()):
            unknown = [t for t in by_type if t not in rates]
            if unknown != [typ] and unknown:
                continue
            left = step - sum(b / rates[t] for t, b in by_type.items() if t != typ and t in rates)
            if typ in by_type and left > 0:
                rates[typ] = by_type[typ] / left
            del pending[typ]
            done = True
        if not done:
            break
    return rates


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="the 1B types only (no 3B/8B, no real-vs-synthetic)")
    ap.add_argument("--real", action="store_true", help="with --quick, also the two packaged real models")
    ap.add_argument("--prompt", type=int, default=N_PROMPT, help=f"prompt tokens timed (default {N_PROMPT})")
    ap.add_argument(
        "--types",
        default="Q6_K,Q4_0,Q8_0,F16,Q4_1,Q5_0",
        help="the 1B files' weight types, comma-separated (Q4_0, the reference, is added when missing)",
    )
    ap.add_argument(
        "--shape",
        default="meta-llama/Llama-3.2-1B-Instruct",
        help="the catalog model whose shape the one-type files take (a small hidden size has short rows)",
    )
    ap.add_argument(
        "--plain",
        default="",
        help="1B types to run again with repacking off (--no-repack: a host layer beside most GPUs), comma-separated",
    )
    ap.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        c = args.child
        child(c[0], int(c[1]), int(c[2]), int(c[3]), int(c[4]), c[5] == "1")
    from sizing.core.speed.calibration import load_calibration
    from sizing.core.speed.cpu import kernel_class
    from sizing.core.traffic import DeviceRate, model_traffic, single_device_work
    from sizing.live.build_isa import embedded_build_features
    from sizing.live.packaged import gemma3_path, smollm2_path
    from sizing.live.synthetic import fill_weights, write_synthetic_gguf
    from sizing.sources.catalog import load_catalog
    from sizing.sources.gguf_reader import read_gguf
    from sizing.core.speed.cpu import isa_from_flags

    feats = embedded_build_features() or ()
    isa = isa_from_flags(feats)
    print(
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; embedded llama.cpp build: "
        f"{', '.join(feats) or 'unknown'} -> kernels {isa}; {args.threads} thread(s), {args.prompt}-token prompts"
    )
    one_b = args.shape
    singles = tuple(t.strip().upper() for t in args.types.split(",") if t.strip())
    if "Q4_0" not in singles:
        singles = ("Q4_0", *singles)
    plain = tuple(t.strip().upper() for t in args.plain.split(",") if t.strip())
    specs: list[tuple[str, str | None, int]] = [(one_b, q, 16) for q in singles]
    specs += [(one_b, f"{q}/plain", 16) for q in plain]
    if not args.quick:
        specs = [
            ("smol", None, 32),
            ("HuggingFaceTB/SmolLM2-135M-Instruct", "Q4_1", 32),
            ("gemma", None, 32),
            ("google/gemma-3-270m-it", "Q4_K_M", 32),
            *specs,
            (one_b, "Q4_K_M", 16),
            ("meta-llama/Llama-3.2-3B-Instruct", "Q4_K_M", 8),
            ("meta-llama/Llama-3.1-8B-Instruct", "Q4_K_M", 4),
        ]
    elif args.real:
        specs = [("smol", None, 32), ("gemma", None, 32), *specs]
    tmp = Path(tempfile.mkdtemp(prefix="llm-sizing-kernels-"))
    rate = DeviceRate(name="cpu", kind="cpu", backend="cpu", bandwidth_gbs=10.0, threads=args.threads)
    per_type: dict[str, float] = {}  # GFLOP/s per thread of one type, solved from its file
    decode_files: dict[str, tuple[float, dict[str, float]]] = {}  # type -> (s/token, bytes per type)
    overhead_s = load_calibration().get("cpu", "cpu", isa).decode_overhead_ms / 1e3
    for model, quant, n_gen in specs:
        repack = not (quant or "").endswith("/plain")
        typ = (quant or "").removesuffix("/plain") or None
        if quant is None:
            path = smollm2_path() if model == "smol" else gemma3_path()
            if path is None:
                print(f"{model}: not installed")
                continue
            name = f"{path.name} (real)"
        else:
            # written weights: a sparse hole's zeros decode faster than real values on a CPU
            path = fill_weights(write_synthetic_gguf(load_catalog().get(model), typ, tmp / f"m.{typ}.gguf"))
            name = f"{model.split('/')[-1]} {quant} (synthetic{'' if repack else ', repacking off'})"
        g = read_gguf(path)
        w = single_device_work(model_traffic(g.arch, g.tensors), rate)
        la = os.getloadavg()[0]
        r = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(path),
                str(args.threads),
                str(n_gen),
                "3",
                str(args.prompt),
                "1" if repack else "0",
            ],
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if quant is not None:
            path.unlink()
        line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
        if not line:
            print(f"{name}: failed: {r.stderr.strip().splitlines()[-1:] or r.returncode}")
            continue
        res = json.loads(line[0][7:])
        med = {k: statistics.median(x[k] for x in res) for k in res[0]}
        gbs = w.dense_bytes * med["tg_cpu"] / 1e9 / args.threads
        # a prompt token multiplies by the blocks; the output projection runs for the last one only
        gf = ((w.flops_per_token - w.output_flops_per_token) * med["pp_cpu"] + w.output_flops_per_token) / 1e9
        gf /= args.threads
        mix = ", ".join(f"{t} {s:.0%}" for t, s in w.matrix_types)
        print(
            f"{name}: reads {w.dense_bytes / 1e6:.0f} MB/token; decode {med['tg_cpu']:.2f} tok/s by CPU time "
            f"({med['tg_wall']:.2f} wall, {med['core_share']:.0%} of the cores) = {gbs:.2f} GB/s per thread; "
            f"prefill {med['pp_cpu']:.1f} tok/s by CPU time ({med['pp_wall']:.1f} wall) = {gf:.1f} GFLOP/s "
            f"per thread; matrices {mix}; load average {la:.1f}"
        )
        if model == one_b and (quant in singles or typ in plain):
            if repack:
                per_type[quant] = gf  # each 1B file's blocks are all of one type
            # decode: the blocks' type and the output projection's (Q6_K in the Q4/Q5 recipes);
            # with repacking off the blocks' type is a type of its own ("Q4_0/plain")
            step = max(1e-6, 1.0 / med["tg_cpu"] - overhead_s)
            decode_files[quant] = (step, {(quant if t == typ else t): sh * w.dense_bytes for t, sh in w.read_types})
    rates = decode_rates(decode_files)
    if "Q4_0" in rates:
        print(
            f"decode GB/s per thread by type (CPU time less the {overhead_s * 1e3:.2f} ms fixed cost per token): "
            + ", ".join(f"{t} {v / 1e9:.2f}" for t, v in rates.items())
        )
        print(
            "relative decode speed per byte vs Q4_0 (repacked): "
            + ", ".join(f"{t} {v / rates['Q4_0']:.2f}" for t, v in rates.items())
        )
    if "Q4_0" in per_type:
        base = per_type["Q4_0"]  # repacked on every x86 ISA from AVX2 and on ARM with the dot product
        print("prompt GFLOP/s per thread by type: " + ", ".join(f"{t} {v:.1f}" for t, v in per_type.items()))
        for t, v in per_type.items():
            print(
                f"relative prompt speed {t} ({kernel_class(t, isa)} on {isa}) vs Q4_0 "
                f"({kernel_class('Q4_0', isa)}): {v / base:.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())

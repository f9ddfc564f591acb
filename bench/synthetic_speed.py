"""Whether a synthetic GGUF decodes at the real model's speed on this CPU (figures, no assertion).

    .venv/bin/python bench/synthetic_speed.py [--repetitions 5] [--threads 2]

A synthetic file is a real header over a sparse hole: its memory is the real model's to
the byte, and llama.cpp loads and runs it. Whether it also *decodes* at the real model's
speed is what this measures, for the packaged real models (SmolLM2-135M Q4_1,
Gemma-3-270M Q4_K_M): each real file next to three copies of it, its tensor data
overwritten by written zeros, punched out to a sparse hole, or filled with pseudo-random
finite values (``sizing.live.synthetic.fill_weights``, what a synthetic speed run uses),
all four loaded side by side in one process and timed in turn, each round starting with
another (so a busy neighbour slows them alike), with the live checks' request. Real
against zeros separates the weights' values from the file's layout; zeros against sparse
separates written pages from holes; filled against real says whether a filled synthetic
file decodes at the real model's speed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repetitions", "-r", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    from gguf import GGUFReader

    from harness.embedded_timing import cpu_server, decode_seconds
    from sizing.live.child import completion_request
    from sizing.live.packaged import gemma3_path, smollm2_path
    from sizing.live.synthetic import fill_weights

    threads = args.threads or os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="llm-sizing-synthetic-speed-"))
    request = {**completion_request(64, 128), "samplers": ["top_k"]}
    print(f"{threads} threads, load average {os.getloadavg()[0]:.2f}; median of {args.repetitions} runs of 128 tokens")
    for src in (smollm2_path(), gemma3_path()):
        if src is None:
            print("a packaged model is not installed (make install-test)")
            continue
        offset, size = GGUFReader(src).data_offset, os.path.getsize(src)
        zeros, sparse = tmp / f"zeros-{src.name}", tmp / f"sparse-{src.name}"
        shutil.copy(src, zeros)
        with open(zeros, "r+b") as fh:
            fh.seek(offset)
            left = size - offset
            while left:
                n = min(left, 1 << 24)
                fh.write(b"\0" * n)
                left -= n
        shutil.copy(src, sparse)
        with open(sparse, "r+b") as fh:
            fh.truncate(offset)
            fh.truncate(size)
        filled = tmp / f"filled-{src.name}"
        shutil.copy(src, filled)
        fill_weights(filled)
        servers = {}
        variants = (("real", src), ("zeros written", zeros), ("sparse hole", sparse), ("filled", filled))
        for label, path in variants:
            servers[label] = cpu_server(path, threads, ctx=1024)
        times: dict[str, list[float]] = {k: [] for k in servers}
        order = list(servers.items())
        for i in range(max(1, args.repetitions)):
            # each round starts with another file: the one before it may still be spinning
            for label, server in order[i % len(order) :] + order[: i % len(order)]:
                times[label].append(decode_seconds(server, request))
        real = statistics.median(times["real"])
        for label, ts in times.items():
            t = statistics.median(ts)
            print(
                f"{src.name} {label}: {1 / t:6.1f} tok/s ({t * 1e3:.2f} ms/token"
                + (f", {t / real - 1:+.0%} against the real file)" if label != "real" else ")"),
                flush=True,
            )
        for path in (zeros, sparse, filled):
            path.unlink()
    sys.stdout.flush()
    os._exit(0)  # the servers' destructors can hang in this binding


if __name__ == "__main__":
    main()

"""The host's per-token work over the vocabulary when a server samples (figures, no assertion).

    .venv/bin/python bench/host_sampling.py [--repetitions 7] [--threads 2]

llama-bench times the graph alone; a server (llama-server, and the live checks, which run
the embedded one) also copies each token's logits to the host and samples from them on
one CPU thread: a candidate list as long as the vocabulary, then top-k. On a model with a
262,144-token vocabulary (Gemma 3) that is milliseconds a token, which no weight byte
describes. This measures it: synthetic Llama-shaped GGUFs (a real header over a sparse
hole) of one layer at hidden size 64, the same but for the vocabulary, loaded side by side
in one process and timed in turn, so that a busy neighbour slows them alike. The output
projection of such a model is a few MB in the CPU cache, so the difference between
vocabularies is the sampling work. It prints the extra time per token, per vocabulary
entry, and in clock cycles at the clock the speed model counts for this CPU: the figure
``sizing/data/host_sampling.yaml`` records.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VOCABS = (512, 32768, 131072, 262144)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repetitions", "-r", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--n-gen", type=int, default=256)
    args = ap.parse_args()
    from harness.embedded_timing import cpu_server, decode_seconds
    from sizing.hardware.detect import detect_machine
    from sizing.live.child import completion_request
    from sizing.live.synthetic import write_synthetic_gguf
    from sizing.sources.catalog import load_catalog

    cpu = detect_machine().cpu
    threads = args.threads or cpu.cores or os.cpu_count() or 1
    base = load_catalog().get("meta-llama/Llama-3.2-1B-Instruct")
    tmp = Path(tempfile.mkdtemp(prefix="llm-sizing-sampling-"))
    servers = {}
    for v in VOCABS:
        arch = base.model_copy(
            update={"n_layers": 1, "hidden_size": 64, "n_heads": 4, "n_kv_heads": 1, "ffn_size": 128, "vocab_size": v}
        )
        path = write_synthetic_gguf(arch, "Q8_0", tmp / f"vocab-{v}.gguf")
        servers[v] = cpu_server(path, threads)
        path.unlink()
    times: dict[int, list[float]] = {v: [] for v in VOCABS}
    # the live checks' request: greedy, the top-k sampler alone
    request = {**completion_request(16, args.n_gen), "samplers": ["top_k"]}
    for _ in range(max(1, args.repetitions)):
        for v, server in servers.items():
            times[v].append(decode_seconds(server, request))
    clock = cpu.clock_ghz
    print(
        f"{cpu.model}, {threads} threads, counted at {clock or float('nan'):.2f} GHz "
        f"({cpu.clock_basis or 'as stated'}); median of {args.repetitions} runs of {args.n_gen} tokens"
    )
    t0 = statistics.median(times[VOCABS[0]])
    for v in VOCABS:
        t = statistics.median(times[v])
        line = f"vocabulary {v:7,d}: {t * 1e3:6.3f} ms/token"
        if v != VOCABS[0]:
            per = (t - t0) / (v - VOCABS[0])
            line += f", {per * 1e9:5.1f} ns per extra entry"
            if clock:
                line += f" = {per * clock * 1e9:4.0f} cycles"
        print(line, flush=True)
    sys.stdout.flush()
    os._exit(0)  # the servers' destructors can hang in this binding


if __name__ == "__main__":
    main()

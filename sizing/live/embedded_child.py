"""The child process of the embedded runner: load a GGUF with xllamacpp, time it, exit.

Run as ``python -m sizing.live.embedded_child '<Check JSON>'``. It speaks one JSON
object per line on its stdout (the progress protocol: ``loading``, ``prompt``,
``generation``, then ``result`` or ``error``); everything native code prints goes to
stderr, which the parent parses for llama.cpp's buffer sizes. Keeping this in its own
process is the point: whatever llama.cpp does here, the app survives.
"""

from __future__ import annotations

import json
import os
import sys
import time

from sizing.live.child import completion_request, event_channel, median
from sizing.live.xlparams import common_params


def main(argv: list[str]) -> int:
    emit = event_channel()
    check = json.loads(argv[0])
    emit("loading")
    import xllamacpp as xl

    ngl = int(check["n_gpu_layers"])
    p = common_params(
        check["model_path"],
        ctx=check["ctx"],
        n_batch=check["n_batch"],
        n_ubatch=check["n_ubatch"],
        n_parallel=check["n_parallel"],
        kv_unified=check["kv_unified"],
        kv_type_k=check["kv_type_k"],
        kv_type_v=check["kv_type_v"],
        flash_attn=bool(check["flash_attn"]),
        n_gpu_layers=999 if ngl < 0 else ngl,
    )
    p.verbosity = 4  # INFO: every buffer size, without the debug flood
    if check.get("n_threads"):
        p.cpuparams.n_threads = int(check["n_threads"])
        p.cpuparams_batch.n_threads = int(check["n_threads"])

    t0 = time.perf_counter()
    try:
        server = xl.Server(p)
    except Exception as exc:  # llama.cpp reports a failed load as a RuntimeError
        emit("error", stage="loading", message=str(exc))
        return 3
    load_s = time.perf_counter() - t0
    emit("loaded", load_s=load_s)

    # Leave room in the context for the generated tokens.
    n_gen = int(check["n_gen"])
    n_prompt = max(1, min(int(check["n_prompt"]), p.n_ctx // int(check["n_parallel"]) - n_gen - 1))
    runs: list[dict] = []
    started = [False]

    def on_chunk(chunk) -> bool:
        if not started[0]:
            started[0] = True
            emit("generation")
        if isinstance(chunk, dict) and "timings" in chunk:
            runs[-1].update(chunk["timings"])
        return False  # keep going

    emit("prompt", n_prompt=n_prompt)
    request = {**completion_request(n_prompt, n_gen), "stream": True, "samplers": ["top_k"]}
    # Repetitions, like llama-bench's -r: the median resists a noisy neighbour.
    for _ in range(max(1, int(check.get("repetitions", 1)))):
        runs.append({})
        result = server.handle_completions(request, on_chunk)
        if isinstance(result, dict) and "error" in result:
            emit("error", stage="prompt", message=json.dumps(result["error"]))
            return 4

    timings = {
        "prompt_n": runs[-1].get("prompt_n"),
        "predicted_n": runs[-1].get("predicted_n") if n_gen > 0 else 0,
        "prompt_per_second": median(runs, "prompt_per_second"),
        "predicted_per_second": median(runs, "predicted_per_second") if n_gen > 0 else None,
    }

    try:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale
    except ImportError:  # Windows: the parent's polling covers it
        peak = None
    emit(
        "result",
        load_s=load_s,
        n_prompt=timings.get("prompt_n"),
        n_gen=timings.get("predicted_n"),
        prefill_tokens_per_s=timings.get("prompt_per_second"),
        decode_tokens_per_s=timings.get("predicted_per_second"),
        peak_rss_bytes=peak,
    )
    # Skip the server's destructor: it can hang in this binding, and the OS frees all.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

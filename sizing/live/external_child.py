"""Driver child for the external runner: start ``llama-server``, time one request, stop it.

Run as ``python -m sizing.live.external_child '<JSON>'`` with the check and the binary
paths. It speaks the same JSON-lines progress protocol as the embedded child on stdout;
the server's own log is passed through to stderr for the buffer parser. The server is
this process's child, so the parent's timeout (which kills the whole process group)
stops it too. Without ``llama-server`` it runs ``llama-cli`` once, non-interactively.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from sizing.live.child import completion_request, event_channel, median


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _common_args(check: dict) -> list[str]:
    ngl = 999 if check["n_gpu_layers"] < 0 else check["n_gpu_layers"]
    args = [
        "-m",
        check["model_path"],
        "-c",
        str(check["ctx"]),
        "-b",
        str(check["n_batch"]),
        "-ub",
        str(check["n_ubatch"]),
        "-ctk",
        check["kv_type_k"],
        "-ctv",
        check["kv_type_v"],
        "-fa",
        "on" if check["flash_attn"] else "off",
        "-ngl",
        str(ngl),
    ]
    if check.get("n_threads"):
        args += ["-t", str(check["n_threads"])]
    return args


def main(argv: list[str]) -> int:
    emit = event_channel()
    payload = json.loads(argv[0])
    check, binaries = payload["check"], payload["binaries"]
    if "server" in binaries:
        return _run_server(binaries["server"], check, emit)
    return _run_cli(binaries["cli"], check, emit)


def _run_server(exe: str, check: dict, emit) -> int:
    port = _free_port()
    argv = [
        exe,
        *_common_args(check),
        "-np",
        str(check["n_parallel"]),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-v",
    ]
    emit("loading")
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=2, stderr=2)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            if proc.poll() is not None:
                emit(
                    "error",
                    stage="loading",
                    message=f"llama-server exited with status {proc.returncode}",
                    returncode=proc.returncode,
                )
                return 3
            try:
                with urllib.request.urlopen(base + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        load_s = time.perf_counter() - t0
        emit("loaded", load_s=load_s)
        n_gen = int(check["n_gen"])
        n_prompt = max(1, min(int(check["n_prompt"]), int(check["ctx"]) - n_gen - 1))
        emit("prompt", n_prompt=n_prompt)
        body = json.dumps(completion_request(n_prompt, n_gen)).encode()
        req = urllib.request.Request(base + "/completion", data=body, headers={"Content-Type": "application/json"})
        runs = []
        for _ in range(max(1, int(check.get("repetitions", 1)))):
            try:
                with urllib.request.urlopen(req) as r:
                    runs.append(json.loads(r.read()).get("timings", {}))
            except (urllib.error.URLError, OSError) as exc:
                emit("error", stage="prompt", message=f"request failed: {exc}")
                return 4
            emit("generation")

        emit(
            "result",
            load_s=load_s,
            n_prompt=runs[-1].get("prompt_n"),
            n_gen=runs[-1].get("predicted_n"),
            prefill_tokens_per_s=median(runs, "prompt_per_second"),
            decode_tokens_per_s=median(runs, "predicted_per_second") if n_gen > 0 else None,
        )
        return 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _run_cli(exe: str, check: dict, emit) -> int:
    n_gen = max(1, int(check["n_gen"]))
    argv = [
        exe,
        *_common_args(check),
        "-no-cnv",
        "--ignore-eos",
        "-n",
        str(n_gen),
        "-p",
        "hello " * max(1, int(check["n_prompt"]) - 1),
        "--temp",
        "0",
    ]
    emit("loading")
    t0 = time.perf_counter()
    proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=2, stderr=2)
    if proc.returncode != 0:
        emit(
            "error",
            stage="loading",
            message=f"llama-cli exited with status {proc.returncode}",
            returncode=proc.returncode,
        )
        return 3
    # llama-cli prints its timings to the log; the parent parses them there.
    emit("result", wall_s=time.perf_counter() - t0, from_log=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

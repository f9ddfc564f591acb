"""Real live checks on this CPU: llama.cpp (xllamacpp) runs real and synthetic GGUFs.

The measured memory parts must match the estimate within the tolerance the estimator
claims (``sizing.live.calibrate.claimed_tolerance``). Prompts and generations are kept
short so the whole file runs in about a minute on two cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from sizing.live.calibrate import claimed_tolerance
from sizing.live.check import run_check
from sizing.live.isolation import FreeMemory
from sizing.units import GIB as GiB

pytestmark = pytest.mark.live

SMALL = dict(n_prompt=32, n_gen=8, n_threads=1, runner="embedded", timeout_s=240)


@pytest.fixture
def home(tmp_path, monkeypatch, quiet_machine):
    monkeypatch.setenv("LLM_SIZING_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def _assert_parts_within_tolerance(result):
    tol = claimed_tolerance()
    rows = {c.part: c for c in result.comparison}
    for part in ("weights_bytes", "kv_cache_bytes", "compute_bytes"):
        row = rows[part]
        assert row.measured and row.measured > 0, f"{part} not measured: {result.measured.message}"
        assert abs(row.rel_error) <= tol[part], (
            f"{part}: estimate {row.estimated} vs llama.cpp {row.measured} ({row.rel_error:+.2%}, "
            f"claimed ±{tol[part]:.0%})"
        )


def test_smollm2_memory_matches_and_speed_is_measured(smollm2_gguf, home):
    stages = []
    r = run_check(str(smollm2_gguf), ctx=2048, progress=lambda e: stages.append(e.stage), **SMALL)
    assert r.status == "ok", r.measured.message
    assert not r.synthetic
    _assert_parts_within_tolerance(r)
    m = r.measured
    assert stages == ["queued", "loading", "prompt", "generation", "done"]
    assert m.prefill_tokens_per_s > 0 and m.decode_tokens_per_s > 0
    assert m.n_gen == 8  # EOS is ignored: every requested token is generated
    assert m.load_s > 0
    # the child's peak RSS holds at least the weights it touched and the KV cache
    assert m.peak_rss_bytes > m.kv_cache_bytes
    assert m.gpu_memory_delta_bytes is None  # no GPU here: skipped, not faked
    assert r.runner.name == "embedded" and r.runner.backend == "cpu"
    assert "xllamacpp" in r.runner.version
    # stored, with hardware and llama.cpp version, and the machine's factors fitted
    lines = (home / "live_runs.jsonl").read_text().splitlines()
    rec = json.loads(lines[-1])
    assert rec["runner"]["version"] == r.runner.version and rec["hardware"]["cpu"]
    assert rec["measured"]["decode_tokens_per_s"] == m.decode_tokens_per_s
    assert r.calibration is not None and r.calibration.n_runs == 1
    assert r.calibrated_speed["decode_tokens_per_s"] == pytest.approx(m.decode_tokens_per_s, rel=1e-6)
    # decode is predicted where it ran: after the 32 prompt tokens, at the mean depth of the 8
    # generated; each of those tokens also read llama.cpp's KV cache of that many cells
    from sizing.core.traffic import DeviceRate
    from sizing.estimate import estimate
    from sizing.live.check import machine_factors, predict_speed

    assert rec["estimate"]["predicted_decode_depth"] == 36
    empty = predict_speed(
        estimate(str(smollm2_gguf), None, 2048, backend="cpu", offline=True),
        DeviceRate(name="cpu", kind="cpu", backend="cpu", bandwidth_gbs=10.0, threads=1),
        n_prompt=1,
    )
    kv_per_cell = m.kv_cache_bytes / 2048  # llama.cpp's own KV buffer (no sliding window here)
    assert rec["estimate"]["predicted_decode_read_bytes"] - empty["decode_read_bytes"] == pytest.approx(
        (36 - 1) * kv_per_cell, rel=0.02
    )

    f = machine_factors("cpu", home)
    assert f.n_decode == 1 and f.bandwidth_factor == pytest.approx(r.calibration.factors.bandwidth_factor)


def test_gemma3_sliding_window_memory_matches(gemma3_gguf, home):
    r = run_check(str(gemma3_gguf), ctx=4096, repetitions=3, **SMALL)
    assert r.status == "ok", r.measured.message
    _assert_parts_within_tolerance(r)
    assert r.measured.decode_tokens_per_s > 0  # the median of three timed runs


def test_prefill_only_check(smollm2_gguf, home):
    r = run_check(str(smollm2_gguf), ctx=1024, **{**SMALL, "n_gen": 0})
    assert r.status == "ok", r.measured.message
    assert r.measured.prefill_tokens_per_s > 0 and r.measured.n_prompt == 32
    assert r.measured.decode_tokens_per_s is None and r.errors["decode_tokens_per_s"] is None


def test_synthetic_llama_1b_without_download(home):
    r = run_check("meta-llama/Llama-3.2-1B-Instruct", quant="Q4_K_M", ctx=1024, **{**SMALL, "n_prompt": 16, "n_gen": 4})
    assert r.status == "ok", r.measured.message
    assert r.synthetic and r.measured.synthetic
    assert r.estimate["params"] >= 1_000_000_000
    assert r.synthetic_disk_bytes < 10 * 1024 * 1024  # a header over a sparse hole
    _assert_parts_within_tolerance(r)
    from pathlib import Path

    assert not Path(r.measured.model_path).exists()  # deleted afterwards (not asked to cache it)


def test_too_big_is_refused_before_loading(home):
    r = run_check("meta-llama/Llama-3.1-70B-Instruct", quant="Q4_K_M", ctx=8192, **SMALL)
    assert r.status == "refused" and r.measured is None
    assert "won't fit" in r.refused and "GiB free" in r.refused
    assert f"{r.estimate['total_bytes'] / GiB:.2f} GiB" in r.refused
    assert not (home / "live_runs.jsonl").exists()  # nothing ran, nothing stored


def test_guard_uses_the_free_memory_it_is_given(smollm2_gguf, home):
    r = run_check(str(smollm2_gguf), ctx=2048, free=FreeMemory(host_bytes=256 * 1024 * 1024), **SMALL)
    assert r.status == "refused"


def test_cancel_a_real_run(smollm2_gguf, home):
    cancel = threading.Event()

    def on_progress(ev):
        if ev.stage == "loading":
            cancel.set()

    r = run_check(str(smollm2_gguf), ctx=2048, progress=on_progress, cancel=cancel, **SMALL)
    assert r.status == "cancelled"
    assert r.measured.decode_tokens_per_s is None


def test_cli_json_object(smollm2_gguf, home, tmp_path):
    # a store with every bad line of the field: verify runs, stores and exports past them
    from test_run_store import BAD_LINES

    home.mkdir(parents=True, exist_ok=True)
    (home / "live_runs.jsonl").write_bytes(b"".join(line + b"\n" for line in BAD_LINES.values()))
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "sizing",
            "verify",
            "--model",
            str(smollm2_gguf),
            "--ctx",
            "1024",
            "--prompt-tokens",
            "32",
            "--gen-tokens",
            "8",
            "--threads",
            "1",
            "--runner",
            "embedded",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        env={**__import__("os").environ, "LLM_SIZING_HOME": str(home)},
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    for key in (
        "weights_bytes",
        "kv_cache_bytes",
        "compute_bytes",
        "peak_rss_bytes",
        "load_s",
        "prefill_tokens_per_s",
        "decode_tokens_per_s",
    ):
        assert out["measured"][key] is not None, key
    assert set(out["errors"]) >= {"weights_bytes", "kv_cache_bytes", "compute_bytes"}
    assert out["synthetic"] is False
    assert set(out["runner"]) == {"name", "version", "backend"}
    assert out["estimate"]["weights_bytes"] > 0
    export = tmp_path / "runs.json"
    res = subprocess.run(
        [sys.executable, "-m", "sizing", "verify", "--export", str(export)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**__import__("os").environ, "LLM_SIZING_HOME": str(home)},
    )
    assert res.returncode == 0, res.stderr
    assert [r["model"] for r in json.loads(export.read_text())["runs"]] == [str(smollm2_gguf)]


# A `llama-server` for a machine that has none: the real llama.cpp (xllamacpp) behind
# llama-server's command line, /health and /completion API and log, so the external
# runner's driver (spawn, port, health wait, request, shutdown, log parsing) runs for real.
FAKE_SERVER = r"""#!{python}
import argparse, json, os, signal, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
if "--version" in sys.argv:
    print("version: 1 (0000000)"); print("built with xllamacpp for x86_64 (CPU)"); sys.exit(0)
ap = argparse.ArgumentParser()
for flag in ("-m", "-c", "-b", "-ub", "-ctk", "-ctv", "-fa", "-ngl", "-np", "--host", "--port", "-t"):
    ap.add_argument(flag)
ap.add_argument("-v", action="store_true")
a = ap.parse_args()
import xllamacpp as xl
p = xl.CommonParams()
p.model.path = a.m; p.n_ctx = int(a.c); p.n_batch = int(a.b); p.n_ubatch = int(a.ub)
p.n_parallel = int(a.np); p.n_gpu_layers = int(a.ngl); p.fit_params = False; p.verbosity = 4
p.cache_type_k = getattr(xl.ggml_type, "GGML_TYPE_" + a.ctk.upper())
p.cache_type_v = getattr(xl.ggml_type, "GGML_TYPE_" + a.ctv.upper())
fa = xl.llama_flash_attn_type
p.flash_attn_type = fa.LLAMA_FLASH_ATTN_TYPE_ENABLED if a.fa == "on" else fa.LLAMA_FLASH_ATTN_TYPE_DISABLED
if a.t:
    p.cpuparams.n_threads = int(a.t); p.cpuparams_batch.n_threads = int(a.t)
server = xl.Server(p)
class H(BaseHTTPRequestHandler):
    def log_message(self, *args): pass
    def _send(self, obj):
        body = json.dumps(obj).encode(); self.send_response(200)
        self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        self._send({{"status": "ok"}})
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        r = server.handle_completions({{**req, "stream": False}})
        self._send({{"content": r["choices"][0]["text"], "timings": r.get("timings") or r["__verbose"]["timings"]}})
signal.signal(signal.SIGINT, lambda *_: os._exit(0))
ThreadingHTTPServer((a.host, int(a.port)), H).serve_forever()
"""


def test_external_llama_server_runner(smollm2_gguf, home, tmp_path):
    import stat

    from sizing.live.select import select_runner

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "llama-server"
    exe.write_text(FAKE_SERVER.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    runner = select_runner(str(exe))
    assert runner.version == "llama.cpp b1 (0000000)" and runner.backend == "cpu"
    stages = []
    r = run_check(
        str(smollm2_gguf),
        ctx=2048,
        progress=lambda e: stages.append(e.stage),
        repetitions=2,
        **{**SMALL, "runner": runner},
    )
    assert r.status == "ok", r.measured.message + r.measured.log_tail
    assert r.runner.name == "external:server"
    _assert_parts_within_tolerance(r)
    assert r.measured.decode_tokens_per_s > 0 and r.measured.n_gen == 8
    assert stages == ["queued", "loading", "prompt", "generation", "done"]


# The same for `llama-bench -o json`: real llama.cpp timings in llama-bench's JSON rows,
# with its context sized as prompt + generated tokens, as llama-bench does.
FAKE_BENCH = r"""#!{python}
import argparse, json, os, sys
ap = argparse.ArgumentParser()
for flag in ("-m", "-p", "-n", "-b", "-ub", "-ctk", "-ctv", "-fa", "-ngl", "-r", "-o", "-t"):
    ap.add_argument(flag)
ap.add_argument("-v", action="store_true")
a = ap.parse_args()
import xllamacpp as xl
p = xl.CommonParams()
p.model.path = a.m; p.n_ctx = int(a.p) + int(a.n); p.n_batch = int(a.b); p.n_ubatch = int(a.ub)
p.fit_params = False; p.verbosity = 4; p.n_gpu_layers = int(a.ngl)
p.cache_type_k = getattr(xl.ggml_type, "GGML_TYPE_" + a.ctk.upper())
p.cache_type_v = getattr(xl.ggml_type, "GGML_TYPE_" + a.ctv.upper())
fa = xl.llama_flash_attn_type
p.flash_attn_type = fa.LLAMA_FLASH_ATTN_TYPE_ENABLED if a.fa == "1" else fa.LLAMA_FLASH_ATTN_TYPE_DISABLED
if a.t:
    p.cpuparams.n_threads = int(a.t); p.cpuparams_batch.n_threads = int(a.t)
server = xl.Server(p)
r = server.handle_completions({{"prompt": [300] * int(a.p), "n_predict": int(a.n), "ignore_eos": True}})
t = r.get("timings") or r["__verbose"]["timings"]
row = {{"build_commit": "0000000", "build_number": 1, "backends": "CPU", "model_filename": a.m}}
print(json.dumps([{{**row, "n_prompt": int(a.p), "n_gen": 0, "avg_ts": t["prompt_per_second"]}},
                  {{**row, "n_prompt": 0, "n_gen": int(a.n), "avg_ts": t["predicted_per_second"]}}]), flush=True)
os._exit(0)
"""


def test_external_llama_bench_runner(smollm2_gguf, home, tmp_path):
    import stat

    from sizing.live.select import select_runner

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "llama-bench"
    exe.write_text(FAKE_BENCH.format(python=sys.executable))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    r = run_check(str(smollm2_gguf), ctx=4096, **{**SMALL, "runner": select_runner(str(bin_dir))})
    assert r.status == "ok", r.measured.message + r.measured.log_tail
    assert r.runner.version == "llama.cpp b1 (0000000)" and r.runner.backend == "cpu"
    assert r.measured.ctx == 40  # llama-bench's own context: 32 prompt + 8 generated
    assert r.estimate["measured_at_ctx"] == 40
    _assert_parts_within_tolerance(r)  # compared at the context that was measured
    assert r.measured.prefill_tokens_per_s > 0 and r.measured.n_gen == 8

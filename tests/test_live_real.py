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
from sizing.live.isolation import FreeMemory, GiB

pytestmark = pytest.mark.live

SMALL = dict(n_prompt=32, n_gen=8, n_threads=1, runner="embedded", timeout_s=240)


@pytest.fixture
def home(tmp_path, monkeypatch):
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


def test_gemma3_sliding_window_memory_matches(gemma3_gguf, home):
    r = run_check(str(gemma3_gguf), ctx=4096, **SMALL)
    assert r.status == "ok", r.measured.message
    _assert_parts_within_tolerance(r)


def test_synthetic_llama_1b_without_download(home):
    r = run_check("meta-llama/Llama-3.2-1B-Instruct", quant="Q4_K_M", ctx=1024,
                  **{**SMALL, "n_prompt": 16, "n_gen": 4})
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
    res = subprocess.run(
        [sys.executable, "-m", "sizing", "verify", "--model", str(smollm2_gguf), "--ctx", "1024",
         "--prompt-tokens", "32", "--gen-tokens", "8", "--threads", "1", "--runner", "embedded", "--json"],
        capture_output=True, text=True, timeout=240, env={**__import__("os").environ, "LLM_SIZING_HOME": str(home)},
    )
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    for key in ("weights_bytes", "kv_cache_bytes", "compute_bytes", "peak_rss_bytes", "load_s",
                "prefill_tokens_per_s", "decode_tokens_per_s"):
        assert out["measured"][key] is not None, key
    assert set(out["errors"]) >= {"weights_bytes", "kv_cache_bytes", "compute_bytes"}
    assert out["synthetic"] is False
    assert set(out["runner"]) == {"name", "version", "backend"}
    assert out["estimate"]["weights_bytes"] > 0
    export = tmp_path / "runs.json"
    res = subprocess.run([sys.executable, "-m", "sizing", "verify", "--export", str(export)],
                         capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "LLM_SIZING_HOME": str(home)})
    assert res.returncode == 0, res.stderr
    assert json.loads(export.read_text())["runs"][0]["model"] == str(smollm2_gguf)

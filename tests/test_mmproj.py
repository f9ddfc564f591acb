"""The multimodal projector (mmproj GGUF): its own weights, compute buffer and image tokens.

Projectors are synthetic (sizing.live.synthetic.write_synthetic_mmproj: the keys and
tensors clip.cpp reads, over a sparse hole); the live test loads one next to the real
SmolLM2 file in the embedded llama.cpp and holds both parts to clip's own log lines.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sizing.errors import SizingError
from sizing.estimate import estimate
from sizing.live.synthetic import write_synthetic_mmproj
from sizing.sources.mmproj import read_mmproj

SMOLLM2_EMBD = 576


@pytest.fixture(scope="module")
def mmproj(tmp_path_factory):
    return write_synthetic_mmproj(
        tmp_path_factory.mktemp("mm") / "mmproj.gguf", n_text=SMOLLM2_EMBD, image_size=448, n_layers=2
    )


def test_header_gives_weights_and_image_tokens(mmproj):
    p = read_mmproj(mmproj)
    assert p.projector_type == "gemma3" and p.modalities == ("vision",)
    assert p.n_patches == 32 * 32
    assert p.image_tokens == 64  # 32 x 32 patches pooled 4 x 4 (clip.cpp's gemma3 merge)
    # every tensor's bytes: F16 matrices, F32 biases and norms
    d, ff, n = 1152, 4304, 1024
    per_block = 2 * (4 * d * d + 2 * d * ff) + 4 * (4 * d + 4 * d + ff + d)
    want = 2 * (14 * 14 * 3 * d + d * n + SMOLLM2_EMBD * d) + 4 * (d + 2 * d + d) + 2 * per_block
    assert p.weights_bytes == want


def test_estimate_adds_the_projector_as_its_own_parts(smollm2_gguf, mmproj):
    plain = estimate(str(smollm2_gguf), ctx=4096)
    with_mm = estimate(str(smollm2_gguf), ctx=4096, mmproj=str(mmproj))
    p = read_mmproj(mmproj)
    assert with_mm.weights_bytes - plain.weights_bytes == p.weights_bytes
    assert with_mm.compute_bytes - plain.compute_bytes == p.compute_bytes()
    assert with_mm.kv_cache_bytes == plain.kv_cache_bytes
    names = [i.name for i in with_mm.items]
    assert "mmproj weights" in names and "mmproj compute buffer" in names


def test_a_model_file_given_as_mmproj_is_refused(smollm2_gguf):
    with pytest.raises(SizingError, match="not a multimodal projector"):
        read_mmproj(smollm2_gguf)


def test_cli_carries_mmproj_into_the_launch_command(smollm2_gguf, mmproj):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sizing",
            "estimate",
            "--model",
            str(smollm2_gguf),
            "--mmproj",
            str(mmproj),
            "--ctx",
            "4096",
            "--gpu",
            "RTX 4090",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert f"--mmproj {mmproj}" in out["commands"]["llama_server"]


def test_a_projector_given_as_the_model_says_what_it_is(mmproj):
    proc = subprocess.run(
        [sys.executable, "-m", "sizing", "estimate", "--model", str(mmproj)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "multimodal projector" in proc.stderr and "--mmproj" in proc.stderr


def test_cli_refuses_a_missing_mmproj_with_one_line(smollm2_gguf, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sizing",
            "estimate",
            "--model",
            str(smollm2_gguf),
            "--mmproj",
            str(tmp_path / "nope.gguf"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "nope.gguf" in proc.stderr


@pytest.mark.live
def test_projector_matches_clip_in_llama_cpp(smollm2_gguf, mmproj):
    from sizing.estimate import build_scenario
    from sizing.live.probe import probe_many
    from harness.truth_cases import compare
    from sizing.core.memory.estimate import estimate_memory
    from sizing.sources.resolve import resolve_model

    meas = probe_many(smollm2_gguf, [dict(ctx=4096, mmproj=str(mmproj))], timeout_s=300)[0]
    sc, _, _ = build_scenario(resolve_model(str(smollm2_gguf)), None, 4096, mmproj=str(mmproj))
    checks = {c.part: c for c in compare(estimate_memory(sc), meas)}
    assert meas.mmproj_weights_bytes and meas.mmproj_compute_buffers
    bad = [f"{c.part}: est {c.estimate} llama.cpp {c.measured} ({c.error:+.2%})" for c in checks.values() if not c.ok]
    assert not bad, bad


def test_run_page_counts_an_uploaded_projector_and_can_leave_it_out(smollm2_gguf, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from sizing.ui import fmt

    # Gemma-3's own vision tower size (27 blocks, 896 px): ~0.8 GiB, so the totals differ visibly
    mmproj = write_synthetic_mmproj(tmp_path / "mmproj-g3.gguf", n_text=SMOLLM2_EMBD)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("LLM_SIZING_WEB_MODE", raising=False)
    at = AppTest.from_string("from sizing.ui.pages.run import render\nrender()", default_timeout=60)
    at.query_params["src"] = "file"
    at.query_params["hw"] = "custom"
    at.run()
    at.get("file_uploader")[0].upload("SmolLM2-135M-Instruct.Q4_1.gguf", smollm2_gguf.read_bytes()[: 8 << 20]).run()
    at.get("file_uploader")[1].upload("mmproj.gguf", mmproj.read_bytes()[: 8 << 20]).run()
    assert not at.exception

    def text() -> str:
        return "\n".join(
            str(e.value)
            for kind in ("markdown", "caption", "success", "warning", "error", "info")
            for e in at.get(kind)
        )

    with_mm = estimate(str(smollm2_gguf), None, 4096, backend="cuda", mmproj=str(mmproj))
    plain = estimate(str(smollm2_gguf), None, 4096, backend="cuda")
    assert "each image takes 256 context cells" in text()
    assert fmt.gb(with_mm.total_bytes) != fmt.gb(plain.total_bytes)
    assert fmt.gb(with_mm.total_bytes) in text()
    at.toggle(key="run.mmproj_on").set_value(False).run()
    assert fmt.gb(plain.total_bytes) in text()
    assert "mmproj" not in str(dict(at.query_params))

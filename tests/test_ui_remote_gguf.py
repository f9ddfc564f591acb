"""'Can I run it?' with a Hugging Face repo that publishes GGUF files: its quants are offered,
and the one picked is sized from its header alone (a loopback server speaking the Hub's
routes; real SmolLM2 GGUF)."""

from __future__ import annotations

import huggingface_hub.constants
import pytest
from streamlit.testing.v1 import AppTest

from remote_server import Files, serve
from sizing.sources.gguf_reader import read_gguf

PAGE = "from sizing.ui.pages.run import render\nrender()"
REPO = "someone/SmolLM2-GGUF"


@pytest.fixture
def hub(tmp_path, monkeypatch, smollm2_gguf):
    files = Files()
    files.add(f"{REPO}/resolve/main/SmolLM2-135M-Instruct-Q4_1.gguf", smollm2_gguf)
    files.add(f"{REPO}/resolve/main/SmolLM2-135M-Instruct-Q8_0.gguf", smollm2_gguf)
    files.add(f"{REPO}/resolve/main/mmproj-F16.gguf", smollm2_gguf)
    server = serve(files)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("LLM_SIZING_WEB_MODE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    yield files
    server.shutdown()


def _run(**params: str) -> AppTest:
    at = AppTest.from_string(PAGE, default_timeout=90)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _texts(at: AppTest) -> str:
    kinds = ("success", "warning", "error", "info", "markdown", "caption")
    return "\n".join(str(e.value) for kind in kinds for e in at.get(kind))


def test_repo_quants_are_offered_and_the_picked_one_is_sized_from_its_header(hub, smollm2_gguf):
    at = _run(src="hf", repo=REPO, hw="custom")
    assert not at.exception
    box = at.selectbox(key="run.gq")
    assert list(box.options)[1:] == ["Q4_1  ·  0.1 GB", "Q8_0  ·  0.1 GB"]  # no projector
    box.select("Q4_1").run()
    assert not at.exception
    assert at.query_params["gq"] == "Q4_1"  # the pick is in the link
    text = _texts(at)
    assert "Verdict" in text and "Q4_1" in text
    header = read_gguf(smollm2_gguf).data_offset
    assert 0 < hub.sent < 2 * header + 512 * 1024  # the header, not the 90 MB file


def test_a_link_with_an_unknown_quant_warns(hub):
    at = _run(src="hf", repo=REPO, gq="Q2_K", hw="custom")
    assert not at.exception
    # the echoed value is Markdown-inert: its underscore is escaped, so it renders as typed
    assert any("“Q2\\_K” is not a GGUF in someone/SmolLM2-GGUF" in w.value for w in at.warning)


def test_a_repo_that_cannot_be_listed_falls_back_to_its_config(hub, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = _run(src="hf", repo="nobody-here/definitely-not-a-model", hw="custom")
    assert not at.exception
    assert "No GGUF quants listed" in _texts(at)

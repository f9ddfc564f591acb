"""The upload cap is enforced by the server itself, not only announced by the page.

The app is started as `make run` starts it (``sizing.ui.serve``) with
``LLM_SIZING_UPLOAD_CAP_MB=1``. A real browser uploads a small header through the page;
its upload request is then replayed with a body over the cap, as an attacker would,
and the server must answer 413. The same replay under the cap is accepted, so the
refusal is the size and nothing else. Replayed under many new file ids, the session
keeps only its newest uploads (the server's own metrics say how many bytes it holds).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from crafted_gguf import tiny_llama

from harness.devserver import CHROMIUM, CHROMIUM_ARGS, streamlit_server
from sizing.ui.serve import streamlit_argv

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]


def _uploaded_bytes(metrics: str) -> int:
    """Bytes Streamlit's uploaded file manager holds, from the server's /_stcore/metrics."""
    m = re.search(r'^cache_memory_bytes\{cache_type="UploadedFileManager"[^}]*\}\s+(\d+)', metrics, re.M)
    return int(m.group(1)) if m else 0


def test_launch_command_carries_the_cap(monkeypatch):
    monkeypatch.setenv("LLM_SIZING_UPLOAD_CAP_MB", "4")
    argv = streamlit_argv()
    assert argv[argv.index("--server.maxUploadSize") + 1] == "4"


def test_the_server_refuses_an_upload_over_the_cap(tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make test does)")
    from playwright.sync_api import sync_playwright

    header = tmp_path / "tiny.gguf"
    header.write_bytes(tiny_llama())
    with streamlit_server(env={"LLM_SIZING_UPLOAD_CAP_MB": "1"}) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(45_000)
            page.goto(f"{url}/run?src=file&hw=custom")
            with page.expect_request(lambda r: r.method == "PUT" and "/upload_file/" in r.url) as req:
                page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(header))
            sent = req.value
            headers = {k: v for k, v in sent.headers.items() if k.lower() == "x-xsrftoken"}

            def replay(n_bytes: int) -> int:
                body = {"name": "tiny.gguf", "mimeType": "application/octet-stream", "buffer": b"G" * n_bytes}
                return page.request.put(sent.url, multipart={"file": body}, headers=headers).status

            assert replay(512 * 1024) in (200, 204)  # the replay itself is a valid request
            assert replay(3 * 1024 * 1024) == 413  # over the 1 MB cap: the server refuses it

            # replayed under new file ids, each under the cap: the session keeps its newest
            # uploads only, at most twice the cap, not one file per request
            base = sent.url.rsplit("/", 1)[0]
            for _ in range(12):
                body = {"name": "x.gguf", "mimeType": "application/octet-stream", "buffer": b"G" * 900_000}
                status = page.request.put(f"{base}/{uuid.uuid4()}", multipart={"file": body}, headers=headers).status
                assert status in (200, 204)
            held = _uploaded_bytes(page.request.get(f"{url}/_stcore/metrics").text())
            assert 900_000 <= held <= 2 * 1024 * 1024, held
        finally:
            browser.close()

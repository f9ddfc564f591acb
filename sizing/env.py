"""Switches read from the environment, in one place so every layer agrees on what "on" means.

Read on each call, not at import: a test, or a server's launcher, may set them later.
"""

from __future__ import annotations

import os
from pathlib import Path

#: the spellings of "on" (case-insensitive), as huggingface_hub accepts them for HF_HUB_OFFLINE
TRUE_VALUES = ("1", "true", "yes", "on")


def flag(name: str) -> bool:
    """Whether the environment variable ``name`` is set to one of ``TRUE_VALUES``."""
    return os.environ.get(name, "").strip().lower() in TRUE_VALUES


def web_mode() -> bool:
    """``LLM_SIZING_WEB_MODE``: a public server, where visitors' input never reaches the file system or other hosts."""
    return flag("LLM_SIZING_WEB_MODE")


def hf_offline() -> bool:
    """``HF_HUB_OFFLINE``: read only the local Hugging Face cache."""
    return flag("HF_HUB_OFFLINE")


def model_dirs() -> list[Path]:
    """``LLM_SIZING_MODEL_DIRS`` (``os.pathsep``-separated): where the user keeps GGUF files,
    and in web mode the only places a model file may be read from."""
    raw = os.environ.get("LLM_SIZING_MODEL_DIRS", "")
    return [Path(d).expanduser() for d in raw.split(os.pathsep) if d.strip()]

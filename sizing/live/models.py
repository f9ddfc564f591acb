"""Which GGUF file a live check runs: the user's own, found where people keep them.

A user names a model by path or by file name; we look in the configured model
directories (``LLM_SIZING_MODEL_DIRS``, ``os.pathsep``-separated, the same setting the
UI uses) and in the caches other tools fill:

* the Hugging Face hub cache (``$HF_HUB_CACHE``, ``$HF_HOME/hub``, ``~/.cache/huggingface/hub``);
* Ollama's blob store (``$OLLAMA_MODELS/blobs``, ``~/.ollama/models/blobs``), whose files
  are named by digest, with the model name in the manifests;
* LM Studio (``~/.lmstudio/models``, ``~/.cache/lm-studio/models``).

Every file is checked for the GGUF magic before anything loads it, so a wrong file
gets one clear message instead of a llama.cpp abort.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from sizing.env import model_dirs
from sizing.errors import SizingError
from sizing.sources.gguf_reader import GGUF_MAGIC


def cache_dirs() -> dict[str, Path]:
    """Known model caches of other tools on this machine, by tool ('hf', 'ollama', 'lmstudio', …)."""
    home = Path.home()
    hf = os.environ.get("HF_HUB_CACHE") or (
        str(Path(os.environ["HF_HOME"]) / "hub") if os.environ.get("HF_HOME") else None
    )
    ollama = os.environ.get("OLLAMA_MODELS")
    return {
        "hf": Path(hf) if hf else home / ".cache" / "huggingface" / "hub",
        "ollama": (Path(ollama) if ollama else home / ".ollama" / "models") / "blobs",
        "lmstudio": home / ".lmstudio" / "models",
        "lmstudio-cache": home / ".cache" / "lm-studio" / "models",
    }


def search_dirs() -> list[Path]:
    """Configured directories first, then the caches that exist."""
    return model_dirs() + [p for p in cache_dirs().values() if p.is_dir()]


def is_gguf(path: Path) -> bool:
    """Does the file start with the GGUF magic?"""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == GGUF_MAGIC
    except OSError:
        return False


def require_gguf(path: Path) -> Path:
    """The path, if it is a readable GGUF file; otherwise one clear SizingError."""
    if not path.exists():
        raise SizingError(f"{path}: no such file")
    if not path.is_file():
        raise SizingError(f"{path}: not a file")
    if not is_gguf(path):
        raise SizingError(f"{path}: not a GGUF file (it does not start with the 'GGUF' magic bytes)")
    return path


def _walk_gguf(root: Path, max_depth: int = 6) -> Iterator[Path]:
    """GGUF files under ``root`` (by name, or by magic in Ollama's suffix-less blobs)."""
    root_depth = len(root.parts)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        if len(Path(dirpath).parts) - root_depth >= max_depth:
            dirnames[:] = []
        for name in filenames:
            p = Path(dirpath) / name
            if name.lower().endswith(".gguf") or (name.startswith("sha256-") and is_gguf(p)):
                yield p


def ollama_names(blobs: Path) -> dict[str, Path]:
    """{'llama3.2:1b': blob path} from Ollama's manifests (model layer only)."""
    manifests = blobs.parent / "manifests"
    out: dict[str, Path] = {}
    if not manifests.is_dir():
        return out
    for mf in manifests.rglob("*"):
        if not mf.is_file():
            continue
        try:
            data = json.loads(mf.read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        for layer in data.get("layers", []):
            if layer.get("mediaType") == "application/vnd.ollama.image.model":
                blob = blobs / str(layer.get("digest", "")).replace(":", "-")
                if blob.is_file():
                    out[f"{mf.parent.name}:{mf.name}"] = blob
    return out


def find_local_gguf(name: str, dirs: list[Path] | None = None) -> Path | None:
    """A GGUF file on this machine matching ``name`` (a file name or an Ollama tag), or None.

    A file name matches exactly or, failing that, as a case-insensitive substring, so
    ``SmolLM2-135M`` finds ``SmolLM2-135M-Instruct.Q4_1.gguf``.
    """
    dirs = search_dirs() if dirs is None else dirs
    needle = name.lower()
    loose: Path | None = None
    for d in dirs:
        if not d.is_dir():
            continue
        if d.name == "blobs":
            tagged = ollama_names(d)
            if name in tagged:
                return tagged[name]
        for p in _walk_gguf(d):
            if p.name.lower() in (needle, needle + ".gguf"):
                return p
            if loose is None and needle in p.name.lower():
                loose = p
    return loose


def list_local_gguf(dirs: list[Path] | None = None, limit: int = 500) -> list[Path]:
    """GGUF files in the search directories (for pickers), at most ``limit``."""
    out: list[Path] = []
    for d in search_dirs() if dirs is None else dirs:
        if d.is_dir():
            for p in _walk_gguf(d):
                out.append(p)
                if len(out) >= limit:
                    return out
    return out

"""How the app is served: locally for one person, or on the web for visitors.

Web mode (``LLM_SIZING_WEB_MODE=1``) is for a public server: model files are read only
from the directories in ``LLM_SIZING_MODEL_DIRS`` (``os.pathsep``-separated), never from
a typed path; the server's own hardware is not offered as "this machine"; live checks
(which run llama.cpp) are off. In both modes uploads are parsed header-only and capped,
and nothing a visitor types is passed to a shell.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sizing.env import model_dirs, web_mode

DEFAULT_UPLOAD_CAP_MB = 32  # a GGUF header with its tensor table is well under this


@dataclass(frozen=True)
class UIConfig:
    web_mode: bool
    model_dirs: tuple[Path, ...]
    upload_cap_mb: int

    def allowed_file(self, path: Path) -> bool:
        """Is this file inside one of the configured model directories?"""
        try:
            real = path.resolve(strict=True)
        except OSError:
            return False
        return real.is_file() and any(real.is_relative_to(d.resolve()) for d in self.model_dirs)

    def local_gguf_files(self, limit: int = 500) -> list[Path]:
        """GGUF files found in the configured directories (not recursive beyond one level)."""
        found: list[Path] = []
        for d in self.model_dirs:
            if not d.is_dir():
                continue
            for pattern in ("*.gguf", "*/*.gguf"):
                for p in sorted(d.glob(pattern)):
                    if self.allowed_file(p):
                        found.append(p)
                    if len(found) >= limit:
                        return found
        return found


def load_config() -> UIConfig:
    dirs = tuple(model_dirs())
    try:
        cap = int(os.environ.get("LLM_SIZING_UPLOAD_CAP_MB", DEFAULT_UPLOAD_CAP_MB))
    except ValueError:
        cap = DEFAULT_UPLOAD_CAP_MB
    return UIConfig(web_mode=web_mode(), model_dirs=dirs, upload_cap_mb=max(1, min(cap, 200)))

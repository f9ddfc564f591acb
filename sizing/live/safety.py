"""Web-mode path safety: a shared link must never make the server read an arbitrary file.

In web mode a model path arrives from a visitor (a query parameter, a form). We accept
it only if, after resolving every symlink and ``..``, it is a regular file inside one of
the allowed model directories (also resolved). A symlink inside an allowed directory
that points outside it is refused, as is any path that does not exist yet. The message
never echoes the resolved location, so probing the server's file system learns nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sizing.errors import SizingError


def is_allowed_path(path: str | Path, allowed_dirs: Iterable[str | Path]) -> bool:
    """True when ``path`` resolves to a regular file inside one of ``allowed_dirs``."""
    try:
        real = Path(path).expanduser().resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a symlink loop, a NUL byte
        return False
    if not real.is_file():
        return False
    for d in allowed_dirs:
        try:
            root = Path(d).expanduser().resolve(strict=True)
        except (OSError, RuntimeError, ValueError):
            continue
        if root.is_dir() and real.is_relative_to(root):
            return True
    return False


def require_allowed_path(path: str | Path, allowed_dirs: Iterable[str | Path]) -> Path:
    """The resolved path if allowed; otherwise a SizingError that names only the input's file name."""
    dirs = list(allowed_dirs)
    if not dirs:
        raise SizingError("model files are disabled here: no model directories are configured")
    if not is_allowed_path(path, dirs):
        name = Path(str(path)).name or str(path)
        raise SizingError(f"{name!r}: not a model file in the allowed model directories")
    return Path(path).expanduser().resolve(strict=True)

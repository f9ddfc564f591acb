"""Free disk space where model files land (the Hugging Face cache by default).

A model that fits in memory but not on disk cannot be downloaded, so the UI shows it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from sizing.hardware.detect.machine import DiskInfo


def models_dir() -> Path:
    """The Hugging Face hub cache (honours HF_HOME / HF_HUB_CACHE)."""
    try:
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)
    except Exception:  # noqa: BLE001 - the hub package is optional for this fact
        return Path.home() / ".cache" / "huggingface" / "hub"


def detect_disk(path: Path | str | None = None) -> DiskInfo | None:
    """Free and total bytes on the filesystem holding ``path`` (or the models dir)."""
    target = Path(path) if path is not None else models_dir()
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent  # the cache may not exist yet: measure where it would be
    try:
        usage = shutil.disk_usage(probe)
    except OSError:
        return None
    return DiskInfo(path=str(target), free_bytes=usage.free, total_bytes=usage.total)

"""Which llama.cpp runs a check: the embedded xllamacpp wheel or a llama.cpp on disk.

Apart from ``runner`` (the protocol both runners implement) so the runners can import
the protocol without the protocol importing them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from sizing.errors import SizingError
from sizing.live.embedded import EmbeddedRunner, embedded_available
from sizing.live.external import ExternalRunner, find_llama_binaries
from sizing.live.runner import Runner

HOW_TO_GET_A_RUNNER = (
    "install the embedded runner with `pip install xllamacpp` (prebuilt wheels for "
    "Linux x86-64/aarch64, macOS and Windows; CUDA/ROCm/Vulkan wheels from "
    "https://xorbitsai.github.io/xllamacpp/whl/), or put llama.cpp's `llama-bench` or "
    "`llama-server` on PATH (https://github.com/ggml-org/llama.cpp/releases) and pass "
    "--runner PATH"
)


def select_runner(spec: str = "auto") -> Runner:
    """'embedded' → xllamacpp; a path or binary name → that llama.cpp; 'auto' → the best there is.

    'auto' prefers a llama.cpp on PATH (usually a GPU build the user chose) over the
    embedded CPU wheel, and says how to get a runner when neither exists.
    """
    spec = (spec or "auto").strip()
    if spec == "embedded":
        if not embedded_available():
            raise SizingError(f"--runner embedded: xllamacpp is not installed; {HOW_TO_GET_A_RUNNER}")
        return EmbeddedRunner()
    if spec == "auto":
        found = find_llama_binaries(None)
        if found:
            return ExternalRunner(found)
        if embedded_available():
            return EmbeddedRunner()
        raise SizingError(f"no llama.cpp runner found; {HOW_TO_GET_A_RUNNER}")
    path = Path(spec).expanduser()
    if not path.exists() and shutil.which(spec) is None:
        raise SizingError(f"--runner {spec}: no such file or program; {HOW_TO_GET_A_RUNNER}")
    if path.is_file() and not os.access(path, os.X_OK):
        raise SizingError(
            f"--runner {spec}: not an executable program (give llama.cpp's llama-bench, "
            "llama-server or the folder holding them)"
        )
    found = find_llama_binaries(spec)
    if not found:
        raise SizingError(f"--runner {spec}: no llama-bench, llama-server or llama-cli there; {HOW_TO_GET_A_RUNNER}")
    return ExternalRunner(found)

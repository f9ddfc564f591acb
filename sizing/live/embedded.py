"""The embedded runner: llama.cpp from the ``xllamacpp`` wheel that installs with the app.

Nothing to compile and nothing to find on PATH, so a live check works right after
``pip install``. Which llama.cpp a user gets depends on the platform's wheel on PyPI
(checked for xllamacpp 2026.10.11549):

* Linux x86-64 and aarch64 (manylinux2014): CPU build, without ``-march=native``
  (no AVX-512/AMX/SVE), so CPU speeds are a little below a native build;
* macOS 13+ arm64 and x86-64: Metal + natively optimised CPU build;
* Windows x86-64 (win_amd64): CPU build;
* CUDA 12.8/13.2, ROCm and Vulkan wheels are published on the project's own index
  (https://xorbitsai.github.io/xllamacpp/whl/<variant>), not on PyPI.

The model is loaded in a child process (``sizing.live.embedded_child``), never in the
app: llama.cpp's aborts and the OOM killer take the child, not the caller.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from functools import cached_property

from sizing.live.child import event_reader
from sizing.live.isolation import run_child
from sizing.live.llamacpp_log import backend_of, build_from_log
from sizing.live.measure import build_measurement
from sizing.live.runner import (
    Check,
    GpuSampler,
    Measurement,
    ProgressCallback,
    ProgressRelay,
    RunnerInfo,
)


def embedded_available() -> bool:
    """True when the xllamacpp wheel is importable (checked without loading it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("xllamacpp") is not None
    except (ImportError, ValueError):  # blocked or half-installed
        return False


class EmbeddedRunner:
    """Runs checks through xllamacpp in a child Python process."""

    name = "embedded"

    def __init__(self, python: str | None = None) -> None:
        self.python = python or sys.executable

    @cached_property
    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"xllamacpp {version('xllamacpp')}"
        except PackageNotFoundError:
            return "xllamacpp (not installed)"

    @cached_property
    def backend(self) -> str:
        """The accelerator the installed wheel drives, from its device list (in a child)."""
        code = "import xllamacpp as x, json;print(json.dumps([d['name'] for d in x.get_device_info()]))"
        res = run_child([self.python, "-c", code], timeout_s=60)
        try:
            names = json.loads(res.stdout_lines[-1])
        except (IndexError, ValueError):
            return "unknown"
        return backend_of(names)

    def info(self) -> RunnerInfo:
        return RunnerInfo(name=self.name, version=self.version, backend=self.backend)

    def run(
        self,
        check: Check,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Measurement:
        relay = ProgressRelay(progress)
        events, on_line = event_reader(relay)
        relay("queued")
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        argv = [self.python, "-m", "sizing.live.embedded_child", check.model_dump_json()]
        with GpuSampler() as gpu:
            child = run_child(argv, timeout_s=check.timeout_s, on_line=on_line, cancel=cancel, env=env)
        if child.returncode == 0 and "result" in events:
            relay("done")
        return build_measurement(
            check, child, events, self.info(), relay.stages, gpu.delta, build_from_log(child.stderr)
        )

"""One interface over every way of running llama.cpp for a live check.

A ``Runner`` takes a ``Check`` (a GGUF file plus the scenario knobs that change memory
and speed) and returns a ``Measurement`` (what llama.cpp allocated, how fast it ran).
Two implementations sit behind it:

* ``sizing.live.embedded.EmbeddedRunner``: the ``xllamacpp`` wheel installed with the
  app, run in a child process;
* ``sizing.live.external.ExternalRunner``: the user's own ``llama-bench`` /
  ``llama-server`` / ``llama-cli`` (CUDA, Metal, Vulkan builds), found on PATH or at a
  configured path.

``select_runner('auto' | 'embedded' | PATH)`` picks one. Runners never raise for what
llama.cpp does: a crash, abort, OOM kill or hang becomes a Measurement with a status,
a message and whatever was measured before it happened.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


Stage = Literal["queued", "loading", "prompt", "generation", "done"]
Status = Literal["ok", "crashed", "timeout", "cancelled", "failed"]


class Check(BaseModel):
    """One live check: a model file and the scenario knobs llama.cpp is run with."""

    model_config = ConfigDict(frozen=True)

    model_path: str
    ctx: int = Field(4096, gt=0)
    n_batch: int = Field(2048, gt=0)
    n_ubatch: int = Field(512, gt=0)
    kv_type_k: str = "f16"
    kv_type_v: str = "f16"
    flash_attn: bool = True
    n_gpu_layers: int = Field(0, ge=-1, description="-1: all layers")
    n_parallel: int = Field(1, gt=0)
    kv_unified: bool = True
    n_prompt: int = Field(512, ge=0, description="prompt tokens timed for prefill speed")
    n_gen: int = Field(128, ge=0, description="tokens generated (ignoring EOS) for decode speed")
    n_threads: int | None = None
    repetitions: int = Field(1, ge=1, le=20, description="timed runs; speeds are their median")
    timeout_s: float = Field(300.0, gt=0)


class ProgressEvent(BaseModel):
    """A stage the check has reached, for a progress bar or a log line."""

    model_config = ConfigDict(frozen=True)

    stage: Stage
    elapsed_s: float = 0.0
    detail: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


class RunnerInfo(BaseModel):
    """Which llama.cpp produced a measurement: stored with every run."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    backend: str


class DeviceMemory(BaseModel):
    """llama.cpp's own accounting for one device (``Host``, ``CPU``, ``CUDA0``, …)."""

    model_config = ConfigDict(frozen=True)

    device: str
    model_bytes: int = 0
    context_bytes: int = 0
    compute_bytes: int = 0


class Measurement(BaseModel):
    """What a live check saw. Fields are None when the run did not get that far."""

    model_config = ConfigDict(frozen=True)

    status: Status
    message: str = ""
    runner: RunnerInfo
    model_path: str
    ctx: int
    synthetic: bool = False

    weights_bytes: int | None = None
    kv_cache_bytes: int | None = None
    compute_bytes: int | None = None
    output_bytes: int | None = None
    devices: tuple[DeviceMemory, ...] = ()
    peak_rss_bytes: int | None = None
    gpu_memory_delta_bytes: dict[str, int] | None = None

    load_s: float | None = None
    n_prompt: int | None = None
    n_gen: int | None = None
    prefill_tokens_per_s: float | None = None
    decode_tokens_per_s: float | None = None
    wall_s: float | None = None
    stages: tuple[Stage, ...] = ()
    log_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def partial(self) -> bool:
        """A run that failed but measured something before it did."""
        return not self.ok and any(v is not None for v in (self.weights_bytes, self.kv_cache_bytes, self.load_s))


@runtime_checkable
class Runner(Protocol):
    """Anything that can run a Check through llama.cpp in a separate process."""

    name: str

    @property
    def version(self) -> str: ...

    @property
    def backend(self) -> str: ...

    def info(self) -> RunnerInfo: ...

    def run(
        self,
        check: Check,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Measurement: ...


# ------------------------------------------------------------------ shared helpers


class ProgressRelay:
    """Turns child events into ProgressEvents, once per stage, with elapsed time."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.start = time.monotonic()
        self.stages: list[Stage] = []

    def __call__(self, stage: Stage, detail: str = "") -> None:
        if stage in self.stages:
            return
        self.stages.append(stage)
        if self.callback is not None:
            with contextlib.suppress(Exception):
                self.callback(ProgressEvent(stage=stage, elapsed_s=time.monotonic() - self.start, detail=detail))


class GpuSampler:
    """Peak NVML used-memory increase per GPU while a child runs; None without a GPU."""

    def __init__(self, period_s: float = 0.2) -> None:
        from sizing.hardware.detect.nvidia import memory_used

        self._read = memory_used
        self.period_s = period_s
        self.baseline = memory_used()
        self.peak: dict[str, int] = dict(self.baseline or {})
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "GpuSampler":
        if self.baseline is not None:
            self._thread = threading.Thread(target=self._loop, daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.period_s):
            now = self._read() or {}
            for dev, used in now.items():
                self.peak[dev] = max(self.peak.get(dev, 0), used)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    @property
    def delta(self) -> dict[str, int] | None:
        if self.baseline is None:
            return None
        return {dev: max(0, self.peak.get(dev, 0) - base) for dev, base in self.baseline.items()}

"""How busy the machine was around a live run: the evidence that a run can be trusted.

A speed measured while something else used the CPU (another user's job, a browser, a
compile) says more about that job than about the machine. So every live run records
its load: the load average, the share of CPU time stolen by the hypervisor, the share
of the machine other processes kept busy (all busy time minus this process and its
children), and, where NVML answers, each NVIDIA GPU's utilisation. It is taken over a
short window before the run starts and over the run itself.

``sizing.live.calibrate`` reads these records to leave contended runs out of the
machine's calibration, and says why.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable
from typing import Any

import psutil
from pydantic import BaseModel, ConfigDict, Field

from sizing.hardware.detect.nvidia import utilisation

BEFORE_WINDOW_S = 0.5


class LoadWindow(BaseModel):
    """The machine's load over one window of time."""

    model_config = ConfigDict(frozen=True)

    seconds: float = Field(ge=0)
    cpus: int = Field(gt=0)
    load_average: float | None = Field(None, description="1-minute load average at the end")
    others_busy_cores: float = Field(
        0.0, description="CPU cores kept busy by other processes, averaged over the window"
    )
    steal_share: float = Field(0.0, description="share of CPU time the hypervisor gave to other guests")
    gpu_utilisation: dict[str, float] | None = Field(None, description="NVML utilisation per GPU, 0..1")


class _Mark(BaseModel):
    model_config = ConfigDict(frozen=True)

    wall: float
    busy: float
    steal: float
    total: float
    mine: float


def _mark() -> _Mark:
    t = psutil.cpu_times()
    total = sum(t)
    idle = t.idle + getattr(t, "iowait", 0.0)
    steal = getattr(t, "steal", 0.0)
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    mine = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    return _Mark(wall=time.monotonic(), busy=total - idle - steal, steal=steal, total=total, mine=mine)


def _window(a: _Mark, b: _Mark, gpu: dict[str, float] | None) -> LoadWindow:
    cpus = psutil.cpu_count() or os.cpu_count() or 1
    wall = max(b.wall - a.wall, 1e-6)
    total = max(b.total - a.total, 1e-9)
    others = max(0.0, (b.busy - a.busy) - (b.mine - a.mine))
    try:
        la = os.getloadavg()[0]
    except OSError:  # pragma: no cover - Windows
        la = None
    return LoadWindow(
        seconds=round(wall, 3),
        cpus=cpus,
        load_average=la,
        # system-wide busy seconds are summed over CPUs: divide by wall time, not by total
        others_busy_cores=round(min(float(cpus), others / wall), 3),
        steal_share=round(max(0.0, min(1.0, (b.steal - a.steal) / total)), 4),
        gpu_utilisation=gpu,
    )


class LoadMonitor:
    """Measure the load over a window before a run and over the run itself::

    mon = LoadMonitor().before()   # samples BEFORE_WINDOW_S
    ...run...
    record = mon.after()           # {"before": {...}, "during": {...}}
    """

    def __init__(self, sleep: Callable[[float], None] = time.sleep, before_s: float = BEFORE_WINDOW_S):
        self._sleep = sleep
        self._before_s = before_s
        self._before: LoadWindow | None = None
        self._start: _Mark | None = None

    def before(self) -> LoadMonitor:
        a = _mark()
        self._sleep(self._before_s)
        b = _mark()
        self._before = _window(a, b, utilisation())
        self._start = _mark()
        return self

    def after(self) -> dict[str, Any]:
        if self._start is None:
            self.before()
        assert self._start is not None and self._before is not None
        during = _window(self._start, _mark(), utilisation())
        return {"before": self._before.model_dump(), "during": during.model_dump()}

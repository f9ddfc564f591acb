"""This machine's speed calibration, from the live checks stored on it.

The adapter half of calibration: it reads the run store, keeps the runs made on this
machine (same CPU and GPUs) with a backend the hardware uses, fits their factors
(``sizing.live.calibrate.fit_factors``) and hands the core a
:class:`sizing.core.speed.machine.MachineCalibration`. The CLI (``--hardware this``) and
the UI ("This machine") pass it to the estimate; without stored runs they get None and
the estimate keeps the public calibration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sizing.hardware.detect.machine import Machine
from sizing.live import calibrate, store
from sizing.live.check import _samples, machine_record
from sizing.core.speed.machine import MachineCalibration
from sizing.core.machine import Hardware


def stored_calibration(
    hardware: Hardware, machine: Machine | None = None, directory: Path | None = None
) -> MachineCalibration | None:
    """Factors fitted to this machine's stored runs, for the first of ``hardware``'s
    backends (main device first, then the CPU) that has any; None before any run."""
    if machine is None:
        from sizing.hardware.detect import detect_machine

        machine = detect_machine()
    hw = machine_record(machine)
    runs = store.load_runs(directory)
    for backend in dict.fromkeys([*(d.backend for d in hardware.gpus), hardware.host.backend]):
        mine = [r for r in runs if _samples([r], hw, backend)]
        if not mine:
            continue
        last = datetime.fromtimestamp(max(r.time for r in mine), tz=UTC).date().isoformat()
        return MachineCalibration(backend=backend, factors=calibrate.fit_factors(_samples(mine, hw, backend)),
                                  n_runs=len(mine), last_run=last)
    return None

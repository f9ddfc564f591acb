"""This machine's speed calibration, from the live checks stored on it.

The adapter half of calibration: it reads the run store, keeps the runs made on this
machine (same CPU and GPUs) with a backend the hardware uses, fits their factors
(screened: runs under contention, synthetic runs and outliers are left out with the
reason, ``sizing.live.calibrate.screen``) and hands the core a
:class:`sizing.machine_calibration.MachineCalibration`. The CLI (``--hardware this``) and
the UI ("This machine") pass it to the estimate; without stored runs they get None and
the estimate keeps the public calibration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sizing.hardware.detect.machine import Machine
from sizing.live import store
from sizing.live.check import machine_record, machine_runs, screened_report
from sizing.machine_calibration import MachineCalibration
from sizing.placement import Hardware


def stored_calibration(
    hardware: Hardware, machine: Machine | None = None, directory: Path | None = None
) -> MachineCalibration | None:
    """Factors fitted to this machine's stored runs, for the first of ``hardware``'s
    backends (main device first, then the CPU) that has any; None before any run."""
    if machine is None:
        from sizing.hardware.detect import detect_machine

        machine = detect_machine()
    hw = machine_record(machine)
    contents = store.read_store(directory)
    runs = list(contents.runs)
    for backend in dict.fromkeys([*(d.backend for d in hardware.gpus), hardware.host.backend]):
        mine = machine_runs(runs, hw, backend)
        report = screened_report(mine, hw, backend)
        if report is None or not report.n_runs:
            continue
        used = {v.id for v in report.verdicts if v.used}
        last = datetime.fromtimestamp(max(r.time for r in mine if r.id in used), tz=UTC).date().isoformat()
        return MachineCalibration(
            backend=backend, factors=report.factors, n_runs=report.n_runs, last_run=last,
            excluded=tuple(f"{v.label}: {v.reason}" for v in report.excluded),
            store_warnings=tuple(contents.warnings()),
        )
    return None

"""This machine's speed calibration, from the live checks stored on it.

The adapter half of calibration: it reads the run store, keeps the runs made on this
machine (same CPU and GPUs) with a backend the hardware uses, fits their factors
(screened: runs under contention and outliers are left out with the
reason, ``sizing.live.calibrate.screen``) and hands the core a
:class:`sizing.core.speed.machine.MachineCalibration`. The CLI (``--hardware this``) and
the UI ("This machine") pass it to the estimate; without stored runs they get None and
the estimate keeps the public calibration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sizing.hardware.detect.machine import Machine
from sizing.live import store
from sizing.hardware.this_machine import hardware_from_machine, machine_record
from sizing.live.check import machine_runs, screened_report
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
            backend=backend,
            factors=report.factors,
            n_runs=report.n_runs,
            last_run=last,
            excluded=tuple(f"{v.label}: {v.reason}" for v in report.excluded),
            store_warnings=tuple(contents.warnings()),
        )
    return None


def machine_status(directory: Path | None = None, machine: Machine | None = None) -> dict:
    """Everything stored about this machine's speed, for `calibrate --list` and the UI:
    per backend the fitted factors, every run with whether it is used (and why not),
    and the run-store lines that were skipped."""
    if machine is None:
        from sizing.hardware.detect import detect_machine

        machine = detect_machine()
    hw = machine_record(machine)
    contents = store.read_store(directory)
    runs = list(contents.runs)
    backends = sorted({b for r in runs if isinstance(b := r.runner.get("backend"), str)})
    per_backend: dict[str, dict[str, Any]] = {}
    out: dict[str, Any] = {
        "store": contents.path,
        "skipped_lines": contents.warnings(),
        "backends": per_backend,
        "other_machines": 0,
    }
    mine_ids: set[str] = set()
    for backend in backends:
        mine = machine_runs(runs, hw, backend)
        mine_ids |= {r.id for r in mine}
        report = screened_report(mine, hw, backend)
        if report is None:
            continue
        by_id = {r.id: r for r in mine}
        per_backend[backend] = {
            "factors": report.factors.model_dump() if report.n_runs else None,
            "detail": report.factors.detail() if report.n_runs else "no usable run",
            "n_used": report.n_runs,
            "runs": [
                {
                    "id": v.id,
                    "label": v.label,
                    "used": v.used,
                    "reason": v.reason,
                    "source": by_id[v.id].source if v.id in by_id else None,
                    "time": datetime.fromtimestamp(by_id[v.id].time, tz=UTC).strftime("%Y-%m-%d %H:%M")
                    if v.id in by_id
                    else None,
                    "decode_tokens_per_s": (by_id[v.id].measured or {}).get("decode_tokens_per_s")
                    if v.id in by_id
                    else None,
                }
                for v in report.verdicts
            ],
        }
    out["other_machines"] = len([r for r in runs if r.id not in mine_ids])
    return out


def import_llama_bench(
    data: bytes, name: str, directory: Path | None = None
) -> tuple[list[store.RunRecord], list[str]]:
    """Check a llama-bench JSON/JSONL file against this machine and store its results as
    runs; nothing is stored unless the whole file is good. Returns (stored, notes)."""
    from sizing.core.speed.calibration import load_calibration
    from sizing.errors import SizingError
    from sizing.hardware.db import load_gpus
    from sizing.hardware.detect import detect_machine
    from sizing.live.bench_import import check_machine, parse_llama_bench, records_from_results

    results = parse_llama_bench(data, name)
    db = load_gpus()
    machine = detect_machine(probe_bandwidth=True, db=db)
    check_machine(results, machine.cpu.model, [g.name for g in machine.gpus], name)
    hw_rec = machine_record(machine)
    hw = hardware_from_machine(machine, db)

    def rate_for(backend: str, threads: int):
        if backend == "cpu":
            return hw.host.rate().model_copy(update={"threads": threads, "backend": "cpu"})
        if not hw.gpus and hw.host.kind != "unified":
            raise SizingError(f"{name}: a {backend} result, but no GPU was detected here: nothing stored")
        dev = hw.gpus[0] if hw.gpus else hw.host
        return dev.rate().model_copy(update={"backend": backend})

    records, notes = records_from_results(results, hw_rec, rate_for, load_calibration(), name)
    for r in records:
        store.append_run(r, directory)
    return records, notes

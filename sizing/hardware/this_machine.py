"""This machine, as every adapter sees it: a detected ``Machine`` -> a ``Hardware``, a run record, a CPU rate.

Detection (``sizing.hardware.detect``) reports what the drivers say; placement
(``sizing.core.placement``) needs capacities and rates. ``hardware_from_machine`` is the pure
translation between them, shared by every adapter that offers "this machine" (the
CLI's ``--hardware this``, the UI's "This machine", the live check), so they cannot
drift apart. Capacity is what is free now (a GPU's free memory, RAM available), because
that is what a model loaded now can use. ``machine_record`` is what a stored live run
keeps about the machine (calibration matches runs on it), and ``cpu_rate`` the CPU as
the speed model sees a live check's CPU run.
"""

from __future__ import annotations

import os
from typing import Any

from sizing.core.machine import Hardware, HostSpec, cpu_hardware, family_of, machine_from_gpus, unified_hardware
from sizing.core.speed.cpu import isa_from_flags
from sizing.core.traffic import DeviceRate
from sizing.errors import SizingError
from sizing.hardware.db import GPUDatabase
from sizing.hardware.detect.machine import Machine
from sizing.units import GIB


def machine_record(m: Machine) -> dict[str, Any]:
    """What the run store records about a detected machine; calibration keeps the runs
    whose ``cpu`` and ``gpus`` match this machine's."""
    return {
        "os": m.os,
        "cpu": m.cpu.model,
        "threads": m.cpu.threads,
        "ram_bytes": m.cpu.ram_total_bytes,
        "ram_bandwidth_gbs": m.cpu.bandwidth.gbs if m.cpu.bandwidth else None,
        "cpu_flags": list(m.cpu.flags),
        # the clock the CPU prediction counted: a run predicted at another clock (an older
        # release counted a VM at its nominal clock) cannot calibrate today's prediction
        "clock_ghz": m.cpu.clock_ghz,
        "clock_stated_ghz": m.cpu.clock_stated_ghz,
        # the decode kernel table a CPU prediction takes (sizing.core.speed.estimate.decode_speeds_for)
        "cpu_vendor": m.cpu.vendor,
        "gpus": [g.name for g in m.gpus],
    }


def cpu_rate(m: Machine) -> DeviceRate | None:
    """The CPU as a live check runs on it (all its threads, its measured RAM bandwidth);
    None when the bandwidth was not measured."""
    bw = m.cpu.bandwidth.gbs if m.cpu.bandwidth else None
    if not bw:
        return None
    return DeviceRate(
        name=m.cpu.model or "CPU",
        kind="cpu",
        backend="cpu",
        bandwidth_gbs=bw,
        threads=m.cpu.threads or os.cpu_count() or 1,
        clock_ghz=m.cpu.clock_ghz,
        cpu_vendor=m.cpu.vendor,
    )


def hardware_from_machine(
    machine: Machine,
    db: GPUDatabase,
    *,
    threads: int | None = None,
    backend: str | None = None,
    wired_limit_mb: int | None = None,
) -> Hardware:
    """The placement ``Hardware`` of a detected machine (pure; raises SizingError when
    detection lacks a figure the estimate needs, naming the flags that supply it)."""
    cpu = machine.cpu
    ram = cpu.ram_available_bytes or cpu.ram_total_bytes
    bw = cpu.bandwidth.gbs if cpu.bandwidth else None
    if not ram or not bw:
        raise SizingError("could not read this machine's RAM size or bandwidth; give --ram-gb and --ram-bandwidth-gbs")
    threads = threads or cpu.cores or cpu.threads or 1
    isa = isa_from_flags(cpu.flags) if cpu.flags else None
    host = HostSpec(
        name=f"{cpu.model or 'CPU'} ({threads} threads)",
        ram_bytes=int(ram),
        bandwidth_gbs=bw,
        threads=threads,
        isa=isa,
        clock_ghz=cpu.clock_ghz,
        cpu_vendor=cpu.vendor,
    )
    if not machine.gpus:
        hw = cpu_hardware(
            host.name,
            ram_bytes=host.ram_bytes,
            bandwidth_gbs=bw,
            threads=threads,
            isa=isa,
            clock_ghz=cpu.clock_ghz,
            cpu_vendor=cpu.vendor,
        )
        return hw.model_copy(
            update={"notes": ("detected: no usable GPU; CPU-only", f"RAM bandwidth measured: {bw:g} GB/s")}
        )
    entries = []
    for d in machine.gpus:
        if d.db_id is None:
            raise SizingError(f"detected {d.name!r} is not in the GPU database; use --memory-gb and --bandwidth-gbs")
        entries.append((d, db.get(d.db_id)))
    if entries[0][1].unified_memory:
        d, g = entries[0]
        apple = g.vendor == "apple"
        default_backend = "metal" if apple else next((b for b in g.backends if b != "cpu"), "vulkan")
        return unified_hardware(
            g.name,
            ram_bytes=int(d.memory_total_bytes or (g.memory_gb or 0) * GIB) or int(ram),
            bandwidth_gbs=g.memory_bandwidth_gbs or bw,
            backend=backend or default_backend,
            matmul_tflops=g.matrix_tflops,
            threads=threads,
            apple=apple,
            wired_limit_mb=wired_limit_mb,
            gpu_cores=g.gpu_cores,
            family=family_of(g.architecture),
        )
    hw = machine_from_gpus([g for _, g in entries], host=host, backend=backend)
    gpus = tuple(
        dev.model_copy(update={"memory_bytes": int(d.usable_memory_bytes or d.memory_free_bytes or dev.memory_bytes)})
        for dev, (d, _) in zip(hw.gpus, entries)
    )
    return hw.model_copy(update={"gpus": gpus, "notes": ("detected: free GPU memory used as capacity",)})


def detect_hardware(
    *,
    threads: int | None = None,
    backend: str | None = None,
    wired_limit_mb: int | None = None,
) -> Hardware:
    """Detect this machine (RAM bandwidth probed, under 2 s, cached) and translate it."""
    from sizing.hardware.db import load_gpus
    from sizing.hardware.detect import detect_machine

    db = load_gpus()
    machine = detect_machine(probe_bandwidth=True, db=db)
    return hardware_from_machine(machine, db, threads=threads, backend=backend, wired_limit_mb=wired_limit_mb)

"""Detect this machine: GPUs (NVIDIA, AMD, Intel, Apple), CPU and RAM, free disk.

``detect_machine()`` is the one call the UI and CLI make. Each source lives in its own
module and reports (devices, notes); none of them raises, so a broken driver or a
missing library yields a CPU-only answer with a note saying why. Every device is then
matched to the GPU database, or marked unknown with what was read, so an estimate can
still use the detected memory.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from types import ModuleType

from sizing.core.gpu import GPU
from sizing.hardware.db import GPUDatabase, load_gpus
from sizing.hardware.detect.amd import detect_amd
from sizing.hardware.detect.apple import detect_apple
from sizing.hardware.detect.command import Runner
from sizing.hardware.detect.cpu import detect_cpu
from sizing.hardware.detect.disk import detect_disk
from sizing.hardware.detect.intel import detect_intel
from sizing.hardware.detect.machine import (
    BandwidthProbe,
    CPUInfo,
    DetectedGPU,
    DiskInfo,
    Machine,
    ProcessMemory,
)
from sizing.hardware.detect.nvidia import detect_nvidia
from sizing.units import GIB

__all__ = [
    "BandwidthProbe",
    "CPUInfo",
    "DetectedGPU",
    "DiskInfo",
    "Machine",
    "ProcessMemory",
    "detect_machine",
    "match_device",
]


def match_device(dev: DetectedGPU, db: GPUDatabase) -> DetectedGPU:
    """Attach the database entry (or candidates) to a detected device."""
    mem = dev.memory_total_bytes / GIB if dev.memory_total_bytes else None
    matched: dict[str, GPU] = {}
    candidates: dict[str, GPU] = {}
    for name in (dev.name, *dev.alt_names):
        r = db.match(name, memory_gb=mem, gpu_cores=dev.gpu_cores)
        if r.gpu is not None:
            matched[r.gpu.id] = r.gpu
        for c in r.candidates:
            candidates[c.id] = c
    pool = list(matched.values()) if matched else list(candidates.values())
    # Driver-reported chip identity narrows what names cannot.
    if dev.llvm_target:
        same = [g for g in (pool or db.all) if g.llvm_target == dev.llvm_target]
        if mem is not None:
            close = [g for g in same if g.memory_gb and abs(g.memory_gb - mem) <= 0.1 * g.memory_gb]
            same = close or same
        pool = same or pool
    if dev.compute_capability and len(pool) > 1:
        pool = [g for g in pool if g.compute_capability in (None, dev.compute_capability)] or pool
    if len(pool) == 1:
        update: dict = {"db_id": pool[0].id, "match_status": "matched", "candidates": ()}
        if pool[0].unified_memory and not dev.unified_memory:
            update["unified_memory"] = True
            update["notes"] = (*dev.notes, "integrated GPU: shares system RAM with the CPU")
        return dev.model_copy(update=update)
    if pool:
        ids = tuple(sorted(g.id for g in pool))
        note = f"several database entries fit {dev.name!r}: {', '.join(ids)}"
        return dev.model_copy(update={"match_status": "ambiguous", "candidates": ids, "notes": (*dev.notes, note)})
    read = f"{dev.name!r}" + (f", {mem:.1f} GiB" if mem else "")
    note = f"not in the GPU database (read: {read}); the detected memory is used as is"
    return dev.model_copy(update={"match_status": "unknown", "notes": (*dev.notes, note)})


def detect_machine(
    probe_bandwidth: bool = False,
    *,
    nvml: ModuleType | None = None,
    amdsmi: ModuleType | None = None,
    sysfs_root: Path = Path("/"),
    run: Runner | None = None,
    is_mac: bool | None = None,
    db: GPUDatabase | None = None,
) -> Machine:
    """Everything about this machine that sizing needs. Never raises for missing drivers.

    ``probe_bandwidth`` measures RAM bandwidth (under 2 s, cached); otherwise a cached
    measurement is reused when there is one. The keyword arguments replace the system
    boundaries (NVML module, sysfs root, subprocess runner) for tests.
    """
    t0 = time.perf_counter()
    db = db or load_gpus()
    notes: list[str] = []
    gpus: list[DetectedGPU] = []

    found, n = detect_nvidia(nvml)
    gpus += found
    notes += n
    found, n = (
        detect_amd(root=sysfs_root, amdsmi=amdsmi, run=run)
        if run is not None
        else detect_amd(root=sysfs_root, amdsmi=amdsmi)
    )
    gpus += found
    notes += n
    found, n = detect_apple(run, is_mac=is_mac) if run is not None else detect_apple(is_mac=is_mac)
    gpus += found
    notes += n
    intel, n = detect_intel(sysfs_root)
    notes += n

    matched = [match_device(g, db) for g in gpus]
    for g in (match_device(g, db) for g in intel):
        if g.match_status == "unknown":
            notes.append(f"Intel graphics {g.name!r} is not a known discrete GPU: ignored for sizing")
        else:
            matched.append(g)
    # number devices per vendor as their drivers do
    if not matched:
        notes.append("No usable GPU found: CPU-only answer")
    cpu = detect_cpu(probe=probe_bandwidth)
    return Machine(
        os=f"{platform.system()} {platform.release()}",
        gpus=tuple(matched),
        cpu=cpu,
        disk=detect_disk(),
        notes=tuple(notes),
        seconds=round(time.perf_counter() - t0, 3),
    )

"""Apple Silicon through ``sysctl`` and ``system_profiler``.

The GPU shares RAM with the CPU, but Metal only lets it wire part of it: the
``recommendedMaxWorkingSetSize`` (about 74% of RAM on a 16 GB Mac, 84% at 128 GB),
unless the user raised it with ``sysctl iogpu.wired_limit_mb``.
That limit, not the RAM size, is what decides whether a model fits on the GPU.
"""

from __future__ import annotations

import json
import platform

from sizing.hardware.detect.command import Runner, run_command
from sizing.hardware.detect.machine import DetectedGPU
from sizing.units import GIB, MIB, gib


def metal_working_set(ram_bytes: int, wired_limit_mb: int | None) -> tuple[int | None, str]:
    """Bytes the GPU may use, and how we know.

    The default share is the measured curve kept with the placement core
    (``sizing.core.machine.apple_working_set_fraction``), so detection and estimates agree.
    """
    if wired_limit_mb and wired_limit_mb > 0:
        return wired_limit_mb * MIB, f"iogpu.wired_limit_mb = {wired_limit_mb}"
    try:
        from sizing.core.machine import apple_working_set_fraction
    except ImportError:
        return None, "macOS default GPU share unknown (placement core unavailable)"
    share = apple_working_set_fraction(ram_bytes / GIB)
    return int(ram_bytes * share), (
        f"macOS default GPU working set, about {share:.0%} of RAM (raise it with 'sudo sysctl iogpu.wired_limit_mb=N')"
    )


def _int(text: str | None) -> int | None:
    try:
        return int(text.strip()) if text else None
    except ValueError:
        return None


def detect_apple(run: Runner = run_command, *, is_mac: bool | None = None) -> tuple[list[DetectedGPU], list[str]]:
    """The Apple GPU (one per Mac); returns (devices, notes). Never raises."""
    if is_mac is None:
        is_mac = platform.system() == "Darwin" and platform.machine() == "arm64"
    if not is_mac:
        return [], []
    notes: list[str] = []
    chip = (run(["sysctl", "-n", "machdep.cpu.brand_string"]) or "").strip()
    ram = _int(run(["sysctl", "-n", "hw.memsize"]))
    wired = _int(run(["sysctl", "-n", "iogpu.wired_limit_mb"]))
    cores = None
    try:
        data = json.loads(run(["system_profiler", "SPDisplaysDataType", "-json"]) or "{}")
        for gpu in data.get("SPDisplaysDataType", []):
            if "apple" in str(gpu.get("spdisplays_vendor", "")).lower() or str(gpu.get("sppci_model", "")).startswith(
                "Apple"
            ):
                chip = gpu.get("sppci_model") or chip
                cores = _int(str(gpu.get("sppci_cores", "")))
                break
    except (ValueError, AttributeError):
        notes.append("system_profiler output not understood: GPU core count unknown")
    if not chip or ram is None:
        return [], notes + ["Apple Silicon: sysctl did not report the chip or memory size"]
    usable, how = metal_working_set(ram, wired)
    return [
        DetectedGPU(
            index=0,
            vendor="apple",
            name=chip,
            source="sysctl+system_profiler",
            memory_total_bytes=ram,
            usable_memory_bytes=usable,
            unified_memory=True,
            gpu_cores=cores,
            notes=(f"GPU working-set limit {gib(usable)}: {how}" if usable else how,),
        )
    ], notes

"""NVIDIA GPUs through NVML (the ``pynvml`` module of ``nvidia-ml-py``): the one place we call it.

NVML is what ``nvidia-smi`` uses: it needs no CUDA toolkit, only the driver. Anything can
go wrong on a real machine (no library, driver not loaded, library/driver mismatch, a GPU
falling off the bus mid-query), so every failure becomes a note and the caller falls
back to what remains, never a traceback. Optional facts (PCIe link, power limit,
processes) that a device does not support are simply left unknown.

``detect_nvidia`` describes each GPU once; ``memory_free``, ``memory_used`` and
``utilisation`` are the quick readings a live check takes before and while it runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from sizing.hardware.detect.machine import DetectedGPU, ProcessMemory

T = TypeVar("T")

# Error codes (pynvml.NVML_ERROR_*) worth explaining in words.
_EXPLAIN = {
    12: "NVML library not found (no NVIDIA driver installed)",  # LIBRARY_NOT_FOUND
    9: "NVIDIA driver not loaded",  # DRIVER_NOT_LOADED
    18: "NVIDIA driver/library version mismatch (reboot after a driver update?)",  # LIB_RM_VERSION_MISMATCH
    15: "GPU is lost (fell off the bus)",  # GPU_IS_LOST
    4: "no permission to query NVML",  # NO_PERMISSION
    6: "no NVIDIA GPU found",  # NOT_FOUND
}


def _explain(exc: Exception) -> str:
    value = getattr(exc, "value", None)
    words = _EXPLAIN.get(value) if isinstance(value, int) else None
    return f"{words} [{exc}]" if words else f"NVML error: {exc}"


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _optional(nvml: ModuleType, fn: str, *args: Any) -> Any:
    """Call an NVML getter whose failure only means 'unknown' (NOT_SUPPORTED and the like).

    A lost GPU is not optional: it propagates so the device is dropped.
    """
    try:
        return getattr(nvml, fn)(*args)
    except nvml.NVMLError as exc:
        if getattr(exc, "value", None) == nvml.NVML_ERROR_GPU_IS_LOST:
            raise
        return None


def _processes(nvml: ModuleType, handle: Any, own_pid: int) -> tuple[ProcessMemory, ...]:
    seen: dict[int, ProcessMemory] = {}
    for fn in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
        for p in _optional(nvml, fn, handle) or ():
            if p.pid == own_pid or p.pid in seen:
                continue
            name = _optional(nvml, "nvmlSystemGetProcessName", p.pid)
            used = p.usedGpuMemory if isinstance(p.usedGpuMemory, int) else None
            seen[p.pid] = ProcessMemory(pid=p.pid, name=_text(name) if name else None, used_bytes=used)
    return tuple(seen.values())


def _device(nvml: ModuleType, i: int, driver: str | None, cuda: str | None) -> DetectedGPU:
    handle = nvml.nvmlDeviceGetHandleByIndex(i)
    name = _text(nvml.nvmlDeviceGetName(handle))
    mem = nvml.nvmlDeviceGetMemoryInfo(handle)
    cc = _optional(nvml, "nvmlDeviceGetCudaComputeCapability", handle)
    power_mw = _optional(nvml, "nvmlDeviceGetPowerManagementLimit", handle)
    uuid = _optional(nvml, "nvmlDeviceGetUUID", handle)
    return DetectedGPU(
        index=i,
        vendor="nvidia",
        name=name,
        source="nvml",
        memory_total_bytes=int(mem.total),
        memory_free_bytes=int(mem.free),
        memory_used_bytes=int(mem.used),
        usable_memory_bytes=int(mem.free),
        uuid=_text(uuid) if uuid else None,
        driver_version=driver,
        cuda_version=cuda,
        compute_capability=f"{cc[0]}.{cc[1]}" if cc else None,
        # The link the device and slot allow; an idle GPU downshifts its current link.
        pcie_gen=_optional(nvml, "nvmlDeviceGetMaxPcieLinkGeneration", handle)
        or _optional(nvml, "nvmlDeviceGetCurrPcieLinkGeneration", handle),
        pcie_width=_optional(nvml, "nvmlDeviceGetMaxPcieLinkWidth", handle)
        or _optional(nvml, "nvmlDeviceGetCurrPcieLinkWidth", handle),
        power_limit_w=power_mw / 1000 if power_mw else None,
        other_processes=_processes(nvml, handle, os.getpid()),
    )


def detect_nvidia(nvml: ModuleType | None = None) -> tuple[list[DetectedGPU], list[str]]:
    """Read every NVIDIA GPU; returns (devices, notes). Never raises."""
    notes: list[str] = []
    if nvml is None:
        try:
            import pynvml
        except ImportError:
            return [], ["nvidia-ml-py is not installed: NVIDIA GPUs not checked"]
        nvml = pynvml
    try:
        nvml.nvmlInit()
    except nvml.NVMLError as exc:
        return [], [_explain(exc)]
    except Exception as exc:  # noqa: BLE001 - a broken binding must not crash detection
        return [], [f"NVML failed to start: {exc!r}"]
    devices: list[DetectedGPU] = []
    try:
        driver = _optional(nvml, "nvmlSystemGetDriverVersion")
        cuda_int = _optional(nvml, "nvmlSystemGetCudaDriverVersion")
        driver = _text(driver) if driver else None
        cuda = f"{cuda_int // 1000}.{cuda_int % 1000 // 10}" if cuda_int else None
        count = nvml.nvmlDeviceGetCount()
        for i in range(count):
            try:
                devices.append(_device(nvml, i, driver, cuda))
            except nvml.NVMLError as exc:
                notes.append(f"NVIDIA GPU {i} skipped: {_explain(exc)}")
    except Exception as exc:  # noqa: BLE001
        notes.append(f"NVIDIA GPUs not read: {_explain(exc)}")
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # noqa: BLE001,S110 - shutting down a failed NVML is best effort
            pass
    return devices, notes


def per_gpu(read: Callable[[ModuleType, Any], T]) -> dict[int, T] | None:
    """``read(nvml, handle)`` for each NVIDIA GPU, by NVML index; None where NVML is
    absent or fails (no driver, no GPU library, a query that errs). Never raises."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no library or no driver: nothing to read
        return None
    try:
        return {i: read(pynvml, pynvml.nvmlDeviceGetHandleByIndex(i)) for i in range(pynvml.nvmlDeviceGetCount())}
    except Exception:  # noqa: BLE001 - a GPU lost mid-query: no reading rather than half of one
        return None
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001,S110 - shutting down a failed NVML is best effort
            pass


def memory_free() -> dict[str, int]:
    """Free VRAM per NVIDIA GPU as ``{'CUDA0': bytes, ...}`` (llama.cpp's device names); {} without NVML."""
    got = per_gpu(lambda nvml, h: int(nvml.nvmlDeviceGetMemoryInfo(h).free))
    return {f"CUDA{i}": v for i, v in (got or {}).items()}


def memory_used() -> dict[str, int] | None:
    """Used VRAM per NVIDIA GPU as ``{'CUDA0': bytes, ...}``, or None without NVML or a GPU."""
    got = per_gpu(lambda nvml, h: int(nvml.nvmlDeviceGetMemoryInfo(h).used))
    if not got:
        return None
    return {f"CUDA{i}": v for i, v in got.items()}


def utilisation() -> dict[str, float] | None:
    """NVML's utilisation per NVIDIA GPU (0..1) as ``{'GPU0': share, ...}``, or None without NVML."""
    got = per_gpu(lambda nvml, h: nvml.nvmlDeviceGetUtilizationRates(h).gpu / 100.0)
    return None if got is None else {f"GPU{i}": v for i, v in got.items()}

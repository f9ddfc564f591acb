"""The machine model: devices, the host, unified memory, and machines built from GPU entries.

A ``Hardware`` is what placement and speed take: its GPUs (memory, bandwidth, compute,
link) and its host (RAM, bandwidth, threads). Unified memory (Apple, Strix Halo, DGX
Spark) is one pool; on Apple the GPU may not exceed macOS's working-set limit
(``recommendedMaxWorkingSetSize``), which ``iogpu.wired_limit_mb`` overrides. Kept apart
from the placement search so the UI, the planner and detection can build a machine
without the search. Pure: no I/O.
"""

from __future__ import annotations

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from sizing.errors import SizingError
from sizing.core.gpu import is_hbm
from sizing.core.traffic import DeviceKind, DeviceRate
from sizing.units import GIB, MIB


FIT_MARGIN_BYTES = 1024 * MIB  # llama.cpp common.h: fit_params_target default, per device

# PCIe payload bandwidth per lane and direction, GB/s (PCI-SIG base specifications:
# 8, 16, 32 GT/s with 128b/130b encoding for gen 3, 4, 5).
PCIE_LANE_GBS = {1: 0.25, 2: 0.5, 3: 0.985, 4: 1.969, 5: 3.938, 6: 7.877}


def pcie_gbs(gen: int | None, lanes: int | None) -> float | None:
    if not gen or not lanes:
        return None
    return PCIE_LANE_GBS.get(gen, 0.0) * lanes or None


# macOS lets the GPU wire only part of RAM. Measured recommendedMaxWorkingSetSize:
# 11.84 of 16 GB on an M3 (https://github.com/AlexsJones/llmfit/pull/754) and 107.52 of
# 128 GiB on M4/M5 Max (https://github.com/antirez/ds4/pull/893); between and beyond
# those points we interpolate linearly in RAM size and clamp.
APPLE_WORKING_SET_POINTS: tuple[tuple[float, float], ...] = ((16.0, 11.84 / 16.0), (128.0, 107.52 / 128.0))


class Device(BaseModel):
    """A memory pool with its rates: a GPU, a unified-memory chip, or the host CPU + RAM."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    kind: DeviceKind
    backend: str
    memory_bytes: int = Field(gt=0, description="what llama.cpp may allocate here (before the margin)")
    bandwidth_gbs: float = Field(gt=0)
    matmul_tflops: float | None = Field(None, gt=0)
    bf16_tflops: float | None = Field(None, gt=0, description="BF16 matrix peak (sizing.core.traffic.DeviceRate)")
    threads: int | None = Field(None, gt=0)
    clock_ghz: float | None = Field(None, gt=0, description="CPU: core clock (sizing.core.traffic.DeviceRate)")
    tdp_w: float | None = None
    link_gbs: float | None = Field(None, gt=0, description="host link (PCIe) bandwidth, GB/s")
    family: str | None = Field(
        None,
        description=(
            "GPU architecture, or a CPU's vector ISA as llama.cpp's kernels use it "
            "(sizing.core.speed.cpu): speed factors differ by generation"
        ),
    )
    gpu_cores: int | None = Field(None, gt=0, description="Apple GPU cores: prefill compute scales with them")
    cpu_vendor: str | None = Field(None, description="CPU: CPUID vendor (sizing.core.traffic.DeviceRate)")
    vector_tflops: float | None = Field(None, gt=0, description="FP32 vector peak (GPUs without matrix units)")
    hbm: bool = Field(False, description="stacked HBM memory (sizing.core.traffic.DeviceRate)")

    def rate(self) -> DeviceRate:
        return DeviceRate(
            name=self.name,
            kind=self.kind,
            backend=self.backend,
            bandwidth_gbs=self.bandwidth_gbs,
            matmul_tflops=self.matmul_tflops,
            bf16_tflops=self.bf16_tflops,
            threads=self.threads,
            clock_ghz=self.clock_ghz,
            family=self.family,
            cpu_vendor=self.cpu_vendor if self.kind == "cpu" else None,
            hbm=self.hbm,
            gpu_cores=self.gpu_cores,
            vector_tflops=self.vector_tflops,
            board_power_w=self.tdp_w if self.kind == "gpu" else None,
            chip=self.id.split("#")[0] if self.kind != "cpu" else None,
        )


class Hardware(BaseModel):
    """One machine: its accelerators (main GPU first) and its host."""

    model_config = ConfigDict(frozen=True)

    name: str
    gpus: tuple[Device, ...] = ()
    host: Device
    unified: bool = Field(False, description="GPU memory is carved from host RAM")
    margin_bytes: int = FIT_MARGIN_BYTES
    notes: tuple[str, ...] = ()


def apple_working_set_fraction(ram_gib: float) -> float:
    """macOS's default GPU working-set share of RAM (interpolated between measurements)."""
    (x0, y0), (x1, y1) = APPLE_WORKING_SET_POINTS
    if ram_gib <= x0:
        return y0
    if ram_gib >= x1:
        return y1
    return y0 + (y1 - y0) * (ram_gib - x0) / (x1 - x0)


def _finite_positive(v: float) -> bool:
    """Above zero and finite: NaN slips through a plain ``v <= 0`` check."""
    return v > 0 and math.isfinite(v)


def unified_hardware(
    name: str,
    *,
    ram_bytes: int,
    bandwidth_gbs: float,
    backend: str,
    matmul_tflops: float | None = None,
    threads: int | None = None,
    apple: bool = False,
    wired_limit_mb: int | None = None,
    tdp_w: float | None = None,
    device_id: str = "unified",
    gpu_id: str | None = None,
    gpu_cores: int | None = None,
    family: str | None = None,
) -> Hardware:
    """One pool of RAM shared by CPU and GPU, of which the GPU may use its platform's limit
    (sizing.core.unified_limits: DGX Spark as its OS sees it, Strix Halo's GTT, macOS's
    working set), or ``wired_limit_mb`` as the user raised it (iogpu.wired_limit_mb, GTT).
    ``family`` is the GPU's architecture (:func:`family_of`): the speed calibration fits each
    generation its own factors (an M4's prompt rate per core, an M5's on its Neural
    Accelerators), as it does a discrete GPU's.
    """
    from sizing.core.unified_limits import gpu_limit

    if not (ram_bytes > 0 and _finite_positive(bandwidth_gbs)):
        raise SizingError("unified memory needs RAM > 0 and bandwidth > 0")
    if wired_limit_mb is not None and (wired_limit_mb <= 0 or wired_limit_mb * MIB > ram_bytes):
        raise SizingError(f"GPU limit {wired_limit_mb} MiB must be between 1 and the RAM size")
    lim = gpu_limit(
        gpu_id=gpu_id if gpu_id else (None if device_id == "unified" else device_id),
        vendor="apple" if apple else None,
        ram_bytes=ram_bytes,
        raised_mb=wired_limit_mb,
        apple_fraction=apple_working_set_fraction(ram_bytes / GIB) if apple else None,
    )
    ram_bytes, gpu_bytes = lim.ram_bytes, lim.gpu_bytes
    notes = [lim.note, "GPU and CPU share one RAM pool; each byte is counted once"]
    gpu = Device(
        id=device_id,
        name=name,
        kind="unified",
        backend=backend,
        memory_bytes=gpu_bytes,
        bandwidth_gbs=bandwidth_gbs,
        matmul_tflops=matmul_tflops,
        tdp_w=tdp_w,
        gpu_cores=gpu_cores if apple else None,
        family=family,
    )
    host = Device(
        id="host",
        name=f"{name} (CPU)",
        kind="cpu",
        backend="cpu",
        memory_bytes=ram_bytes,
        bandwidth_gbs=bandwidth_gbs,
        threads=threads,
    )
    return Hardware(name=name, gpus=(gpu,), host=host, unified=True, notes=tuple(notes))


def cpu_hardware(
    name: str,
    *,
    ram_bytes: int,
    bandwidth_gbs: float,
    threads: int | None,
    isa: str | None = None,
    clock_ghz: float | None = None,
    cpu_vendor: str | None = None,
) -> Hardware:
    """A CPU-only machine. ``threads`` None: unknown (decode speed only, no prefill);
    ``isa``: the vector ISA llama.cpp's kernels use (None: the CPU backend's average);
    ``clock_ghz``: the core clock (None: the per-thread rate of the fitted CPUs' clocks);
    ``cpu_vendor``: the CPUID vendor (None: the default decode kernel table)."""
    if not (ram_bytes > 0 and _finite_positive(bandwidth_gbs)) or (threads is not None and threads <= 0):
        raise SizingError("a CPU machine needs RAM > 0, bandwidth > 0 and threads > 0")
    host = Device(
        id="host",
        name=name,
        kind="cpu",
        backend="cpu",
        memory_bytes=ram_bytes,
        bandwidth_gbs=bandwidth_gbs,
        threads=threads,
        clock_ghz=clock_ghz,
        family=isa,
        cpu_vendor=cpu_vendor,
    )
    return Hardware(name=name, host=host)


class HostSpec(BaseModel):
    """The CPU side of a machine: RAM, its bandwidth, threads for CPU layers."""

    model_config = ConfigDict(frozen=True)

    name: str = "host CPU"
    ram_bytes: int = Field(gt=0)
    bandwidth_gbs: float = Field(gt=0)
    threads: int = Field(gt=0)
    assumed: bool = Field(False, description="not measured or stated: a default the user can change")
    isa: str | None = Field(None, description="vector ISA llama.cpp's CPU kernels use (sizing.core.speed.cpu)")
    clock_ghz: float | None = Field(None, gt=0, description="core clock, where detected")
    cpu_vendor: str | None = Field(None, description="CPUID vendor, where detected (sizing.core.traffic.DeviceRate)")


# When the user names only a GPU: a typical desktop host, stated as an assumption.
# 2 channels x 8 bytes x 5600 MT/s = 89.6 GB/s (JEDEC DDR5-5600).
DEFAULT_HOST = HostSpec(
    name="assumed host (64 GiB dual-channel DDR5-5600, 8 threads)",
    ram_bytes=64 * GIB,
    bandwidth_gbs=89.6,
    threads=8,
    assumed=True,
)


def host_spec(ram_gb: float | None = None, bandwidth_gbs: float | None = None, threads: int | None = None) -> HostSpec:
    """The CPU side from what the user stated; what they did not state is DEFAULT_HOST's,
    and the name then says the host is assumed (pages and notes show it as such)."""
    for what, v in (("RAM", ram_gb), ("RAM bandwidth", bandwidth_gbs), ("threads", threads)):
        if v is not None and not _finite_positive(v):
            raise SizingError(f"host {what} must be > 0, got {v:g}")
    if (
        bandwidth_gbs is None
        and threads is None
        and (ram_gb is None or abs(ram_gb * GIB - DEFAULT_HOST.ram_bytes) < MIB)
    ):
        return DEFAULT_HOST  # nothing stated, or only the default's own RAM size
    ram = ram_gb if ram_gb is not None else DEFAULT_HOST.ram_bytes / GIB
    bw = bandwidth_gbs or DEFAULT_HOST.bandwidth_gbs
    n = threads or DEFAULT_HOST.threads
    assumed = ram_gb is None or bandwidth_gbs is None
    return HostSpec(
        name=f"{'assumed host' if assumed else 'host CPU'} ({ram:g} GiB RAM, {bw:g} GB/s, {n} threads)",
        ram_bytes=int(ram * GIB),
        bandwidth_gbs=bw,
        threads=n,
        assumed=assumed,
    )


def _pick_backend(backends: Sequence[str], vendor: str, override: str | None) -> str:
    if override:
        if backends and override not in backends and override != "cpu":
            raise SizingError(f"backend {override!r} is not available for this device (has: {', '.join(backends)})")
        return override
    for b in backends:
        if b != "cpu":
            return b
    return {"nvidia": "cuda", "amd": "rocm", "apple": "metal", "intel": "sycl"}.get(vendor, "vulkan")


def machine_from_gpu(
    gpu,  # sizing.hardware.db.GPU (not imported: placement stays independent of the DB)
    count: int = 1,
    *,
    host: HostSpec = DEFAULT_HOST,
    backend: str | None = None,
    wired_limit_mb: int | None = None,
) -> Hardware:
    """A machine with ``count`` identical GPUs from the database (or one unified chip)."""
    if count < 1:
        raise SizingError("GPU count must be ≥ 1")
    if gpu.memory_bandwidth_gbs is None:
        raise SizingError(f"{gpu.name}: memory bandwidth unknown; give --bandwidth-gbs")
    be = _pick_backend(gpu.backends, gpu.vendor, backend)
    if gpu.unified_memory:
        if count != 1:
            raise SizingError(f"{gpu.name} is a unified-memory chip; use one per machine")
        if gpu.memory_gb is None:
            raise SizingError(f"{gpu.name}: memory size unknown; give --memory-gb")
        return unified_hardware(
            gpu.name,
            ram_bytes=int(gpu.memory_gb * GIB),
            bandwidth_gbs=gpu.memory_bandwidth_gbs,
            backend=be,
            matmul_tflops=gpu.matrix_tflops,
            threads=host.threads,
            apple=gpu.vendor == "apple",
            wired_limit_mb=wired_limit_mb,
            tdp_w=gpu.tdp_w,
            device_id=gpu.id,
            gpu_cores=getattr(gpu, "gpu_cores", None),
            family=family_of(gpu.architecture),
        )
    if gpu.memory_gb is None:
        raise SizingError(f"{gpu.name}: memory size unknown")
    link = pcie_gbs(gpu.pcie_gen, gpu.pcie_lanes)
    # a board the driver shows as several devices (MI250/MI250X: two GCDs) is that many
    # devices to llama.cpp, each with its share of memory, bandwidth and compute
    per = getattr(gpu, "devices_per_board", 1) or 1
    n = count * per
    gpus = tuple(
        Device(
            id=f"{gpu.id}#{i}" if n > 1 else gpu.id,
            name=(f"{gpu.name} #{i // per}" + (f" GCD {i % per}" if per > 1 else "")) if n > 1 else gpu.name,
            kind="gpu",
            backend=be,
            memory_bytes=int(gpu.memory_gb * GIB / per),
            bandwidth_gbs=gpu.memory_bandwidth_gbs / per,
            matmul_tflops=gpu.matrix_tflops / per if gpu.matrix_tflops else None,
            bf16_tflops=gpu.fp16_tflops / per if gpu.fp16_tflops else None,
            vector_tflops=gpu.fp32_tflops / per if gpu.fp32_tflops and not gpu.fp16_tflops else None,
            tdp_w=gpu.tdp_w / per if gpu.tdp_w else None,
            link_gbs=link,
            family=family_of(gpu.architecture),
            hbm=is_hbm(getattr(gpu, "memory_type", None)),
        )
        for i in range(n)
    )
    hw = _with_host(f"{count}× {gpu.name}" if count > 1 else gpu.name, gpus, host)
    if per > 1:
        hw = hw.model_copy(
            update={
                "notes": hw.notes
                + (
                    f"{gpu.name}: the driver shows {per} devices per board, each "
                    f"{gpu.memory_gb / per:g} GB at {gpu.memory_bandwidth_gbs / per:g} GB/s",
                )
            }
        )
    return hw


def family_of(architecture: str | None) -> str | None:
    """The speed calibration's name for a GPU architecture: 'Xe-HPG' -> 'xe-hpg'."""
    return architecture.strip().lower().replace(" ", "-") if architecture else None


def machine_from_gpus(gpus_list: Sequence, *, host: HostSpec = DEFAULT_HOST, backend: str | None = None) -> Hardware:
    """Several (possibly different) discrete GPUs in one machine, main GPU first."""
    if not gpus_list:
        raise SizingError("no GPUs given")
    if len(gpus_list) == 1:
        return machine_from_gpu(gpus_list[0], host=host, backend=backend)
    devices = []
    for i, g in enumerate(gpus_list):
        if g.unified_memory:
            raise SizingError(f"{g.name} is a unified-memory chip and cannot be combined with other GPUs")
        one = machine_from_gpu(g, host=host, backend=backend).gpus[0]
        devices.append(one.model_copy(update={"id": f"{one.id}#{i}", "name": f"{one.name} #{i}"}))
    backends = {d.backend for d in devices}
    if len(backends) > 1 and backend is None:
        # llama.cpp can mix backends, but one build usually drives all cards: prefer Vulkan
        devices = [d.model_copy(update={"backend": "vulkan"}) for d in devices]
    name = " + ".join(d.name.rsplit(" #", 1)[0] for d in devices)
    return _with_host(name, tuple(devices), host)


def _with_host(name: str, gpus: tuple[Device, ...], host: HostSpec) -> Hardware:
    h = Device(
        id="host",
        name=host.name,
        kind="cpu",
        backend="cpu",
        memory_bytes=host.ram_bytes,
        bandwidth_gbs=host.bandwidth_gbs,
        threads=host.threads,
        clock_ghz=host.clock_ghz,
        family=host.isa,
        cpu_vendor=host.cpu_vendor,
    )
    notes = (f"host figures not given are assumed: {host.name}",) if host.assumed else ()
    return Hardware(name=name, gpus=gpus, host=h, notes=notes)


def custom_machine(
    *,
    memory_gb: float,
    bandwidth_gbs: float,
    backend: str = "cuda",
    matmul_tflops: float | None = None,
    count: int = 1,
    unified: bool = False,
    host: HostSpec = DEFAULT_HOST,
    wired_limit_mb: int | None = None,
) -> Hardware:
    """Hardware from bare numbers (--memory-gb / --bandwidth-gbs); ``wired_limit_mb`` is a
    unified device's raised GPU limit."""
    if not _finite_positive(memory_gb):
        raise SizingError(f"memory must be > 0 GB, got {memory_gb}")
    if not _finite_positive(bandwidth_gbs):
        raise SizingError(f"bandwidth must be > 0 GB/s, got {bandwidth_gbs}")
    if matmul_tflops is not None and not _finite_positive(matmul_tflops):
        raise SizingError(f"compute must be > 0 TFLOPS, got {matmul_tflops}")
    if backend == "cpu":
        return cpu_hardware(
            "custom CPU", ram_bytes=int(memory_gb * GIB), bandwidth_gbs=bandwidth_gbs, threads=host.threads
        )
    if unified:
        return unified_hardware(
            "custom unified-memory device",
            ram_bytes=int(memory_gb * GIB),
            bandwidth_gbs=bandwidth_gbs,
            backend=backend,
            matmul_tflops=matmul_tflops,
            threads=host.threads,
            apple=backend == "metal",
            wired_limit_mb=wired_limit_mb,
        )
    gpus = tuple(
        Device(
            id=f"custom#{i}",
            name=f"custom GPU #{i}" if count > 1 else "custom GPU",
            kind="gpu",
            backend=backend,
            memory_bytes=int(memory_gb * GIB),
            bandwidth_gbs=bandwidth_gbs,
            matmul_tflops=matmul_tflops,
        )
        for i in range(count)
    )
    return _with_host("custom GPU" if count == 1 else f"{count}× custom GPU", gpus, host)

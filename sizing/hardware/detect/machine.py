"""What detection saw on this machine, as plain data the UI and estimators can read.

Detection is an adapter: these models carry what was read (and from where) plus the
database entry it matched, so an estimate can use the detected free memory even when
the device is unknown to the database.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ProcessMemory(BaseModel):
    """Another process holding GPU memory (it shrinks what a model can use)."""

    model_config = ConfigDict(frozen=True)

    pid: int
    name: str | None = None
    used_bytes: int | None = None


class DetectedGPU(BaseModel):
    """One accelerator as read from its driver, and its database match."""

    model_config = ConfigDict(frozen=True)

    index: int
    vendor: Literal["nvidia", "amd", "intel", "apple"]
    name: str = Field(description="the name exactly as the driver reported it")
    alt_names: tuple[str, ...] = Field((), description="other names read (e.g. pci.ids)")
    source: str = Field(description="nvml, amdsmi, rocm-smi, sysfs, sysctl+system_profiler")
    memory_total_bytes: int | None = None
    memory_free_bytes: int | None = None
    memory_used_bytes: int | None = None
    usable_memory_bytes: int | None = Field(
        None, description="what a model may use: free memory, or Metal's working-set limit"
    )
    unified_memory: bool = False
    gpu_cores: int | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    driver_version: str | None = None
    cuda_version: str | None = None
    compute_capability: str | None = None
    llvm_target: str | None = None
    pcie_gen: int | None = None
    pcie_width: int | None = None
    power_limit_w: float | None = None
    other_processes: tuple[ProcessMemory, ...] = ()
    # database match
    db_id: str | None = None
    match_status: Literal["matched", "ambiguous", "unknown"] = "unknown"
    candidates: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def memory_total_gb(self) -> float | None:
        return None if self.memory_total_bytes is None else self.memory_total_bytes / 1e9


class BandwidthProbe(BaseModel):
    """RAM bandwidth measured by streaming a large array; several runs, spread reported."""

    model_config = ConfigDict(frozen=True)

    gbs: float = Field(description="median of the runs, GB/s (1e9 bytes)")
    min_gbs: float
    max_gbs: float
    spread_pct: float = Field(description="(max - min) / median * 100")
    runs: int
    buffer_bytes: int
    seconds: float
    method: str
    cached: bool = False


class CPUInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    arch: str
    cores: int | None = None
    threads: int | None = None
    flags: tuple[str, ...] = Field((), description="ISA features that matter to llama.cpp")
    vendor: str | None = Field(None, description="CPUID vendor ('GenuineIntel', 'AuthenticAMD'; x86 Linux)")
    clock_ghz: float | None = Field(
        None,
        gt=0,
        description=(
            "the clock the cores run at: the maximum (turbo) the OS states, else a listed server "
            "generation's boost clock, else the nominal clock the OS states"
        ),
    )
    clock_basis: str | None = Field(None, description="where clock_ghz comes from")
    clock_stated_ghz: float | None = Field(
        None, gt=0, description="the clock the OS states (what predictions counted before a generation's boost clock)"
    )
    ram_total_bytes: int
    ram_available_bytes: int
    bandwidth: BandwidthProbe | None = None


class DiskInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    path: str = Field(description="where models are stored (the Hugging Face cache)")
    free_bytes: int
    total_bytes: int


class Machine(BaseModel):
    """Everything detected; ``cpu_only`` when no usable accelerator was found."""

    model_config = ConfigDict(frozen=True)

    os: str
    gpus: tuple[DetectedGPU, ...] = ()
    cpu: CPUInfo
    disk: DiskInfo | None = None
    notes: tuple[str, ...] = Field((), description="why a source was skipped, in words")
    seconds: float = 0.0

    @property
    def cpu_only(self) -> bool:
        return not self.gpus

    def to_json(self) -> dict:
        data = self.model_dump(mode="json")
        data["cpu_only"] = self.cpu_only
        return data

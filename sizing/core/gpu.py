"""GPU, accelerator and unified-memory chip records: the types of ``data/gpus.yaml``.

Every entry is validated on load and every group of figures must name its source; an
unknown figure is ``null``, never a guess. Compute figures are *dense* (no 2:4
sparsity): FP16/BF16 tensor TFLOPS with FP32 accumulate, and INT8 tensor TOPS. The
types live in the core so the placement, planner and fine-tune code can take a GPU
without importing the loader or the name matcher.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sizing.core.scenario import Backend

Vendor = Literal["nvidia", "amd", "intel", "apple"]
Kind = Literal["datacenter", "workstation", "consumer", "laptop", "apu", "soc", "embedded"]


class Sources(BaseModel):
    """Where each group of figures comes from (a URL, or a document and section)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    memory: str = Field(description="memory_gb, memory_type, memory_bandwidth_gbs")
    compute: str | None = Field(None, description="fp16_tflops, int8_tops, fp32_tflops")
    power: str | None = Field(None, description="tdp_w")
    release: str | None = Field(None, description="year, launch_price_usd")
    street_price: str | None = None
    interconnect: str | None = Field(None, description="pcie_gen, pcie_lanes, nvlink_gbs")
    note: str | None = Field(None, description="caveats a reader should know")


class GPU(BaseModel):
    """One device as a buyer meets it: one entry per memory variant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    name: str = Field(min_length=1)
    aliases: tuple[str, ...] = Field((), description="names NVML, ROCm, sysfs and macOS report")
    vendor: Vendor
    kind: Kind
    architecture: str | None = None
    # NVIDIA compute capability ("8.9") or AMD LLVM target ("gfx1100"): what drivers report.
    compute_capability: str | None = Field(None, pattern=r"^\d+\.\d+$")
    llvm_target: str | None = Field(None, pattern=r"^gfx[0-9a-f]+$")
    gpu_cores: int | None = Field(None, gt=0, description="Apple GPU cores / AMD CUs / NVIDIA SMs")

    memory_gb: float | None = Field(gt=0, description="device memory; null: shares system RAM")
    memory_type: str | None = None
    memory_bandwidth_gbs: float | None = Field(None, gt=0)
    unified_memory: bool = False
    devices_per_board: int = Field(
        1,
        ge=1,
        le=8,
        description=(
            "devices the driver shows per board, each with its share of memory and bandwidth "
            "(MI250/MI250X: two GCDs of 64 GB)"
        ),
    )

    fp16_tflops: float | None = Field(None, gt=0, description="dense FP16/BF16 tensor, FP32 acc.")
    int8_tops: float | None = Field(None, gt=0, description="dense INT8 tensor")
    fp32_tflops: float | None = Field(None, gt=0, description="vector FP32 (no tensor cores)")

    tdp_w: float | None = Field(None, gt=0)
    year: int | None = Field(None, ge=2010, le=2030)
    launch_price_usd: float | None = Field(None, gt=0)
    street_price_usd: float | None = Field(None, gt=0)
    street_price_date: str | None = Field(None, pattern=r"^\d{4}-\d{2}(-\d{2})?$")

    pcie_gen: int | None = Field(None, ge=1, le=6)
    pcie_lanes: int | None = Field(None, ge=1, le=16)
    nvlink_gbs: float | None = Field(None, gt=0, description="total NVLink/Infinity Fabric GB/s")
    backends: tuple[Backend, ...] = ()
    sources: Sources

    @model_validator(mode="after")
    def _consistent(self) -> GPU:
        if self.memory_gb is None and not self.unified_memory:
            raise ValueError("memory_gb is required unless unified_memory is true")
        if self.street_price_usd is not None and (self.street_price_date is None or self.sources.street_price is None):
            raise ValueError("street_price_usd needs street_price_date and sources.street_price")
        groups = {
            "compute": (self.fp16_tflops, self.int8_tops, self.fp32_tflops),
            "power": (self.tdp_w,),
            "release": (self.year, self.launch_price_usd),
            "interconnect": (self.pcie_gen, self.pcie_lanes, self.nvlink_gbs),
        }
        for group, values in groups.items():
            if any(v is not None for v in values) and getattr(self.sources, group) is None:
                raise ValueError(f"sources.{group} is required when its figures are given")
        return self

    @property
    def all_names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    @property
    def matrix_tflops(self) -> float | None:
        """The tensor peak llama.cpp's prompt products run at (:func:`matrix_peak_tflops`)."""
        return matrix_peak_tflops(self.fp16_tflops, self.int8_tops)


def matrix_peak_tflops(fp16_tflops: float | None, int8_tops: float | None) -> float | None:
    """The dense tensor rate llama.cpp's matrix products can reach: FP16 with FP16 accumulate.

    Vendors state ``fp16_tflops`` with FP32 accumulate, and NVIDIA's GeForce and laptop boards
    run that at half their FP16-accumulate rate (an RTX 4090: 165 vs 330 TFLOPS), while its
    workstation and datacenter boards do not (an RTX 6000 Ada: 364 both). llama.cpp takes
    neither halved path: quantized weights are multiplied in INT8 (its MMQ kernels, Turing
    on), F16 weights through cuBLAS with FP16 compute, Vulkan's matrix shaders accumulate in
    FP16. Every tensor unit that states an INT8 rate (NVIDIA since Turing, Intel XMX, AMD
    CDNA and RDNA 4) states it at twice its FP16-accumulate rate, so half the INT8 rate is
    that peak where it is above the stated FP16 figure. Taking the FP32-accumulate figure
    instead makes a workstation card look twice as fast at prompts as the GeForce board
    with the same chip."""
    half_int8 = int8_tops / 2.0 if int8_tops else None
    if fp16_tflops and half_int8:
        return max(fp16_tflops, half_int8)
    return fp16_tflops or None

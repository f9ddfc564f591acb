"""What a user asks about (a Scenario) and what the estimators answer (parts with a basis).

These are the shared vocabulary of the functional core: estimators take a Scenario and
return pydantic results that carry their parts and where each number came from, so the
UI and CLI can show the basis without computing anything themselves.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.arch import ModelArch
from sizing.core.projector import Projector
from sizing.core.tensors import TensorSpec

Backend = Literal["cpu", "cuda", "metal", "rocm", "vulkan", "sycl"]
BACKENDS: tuple[str, ...] = ("cpu", "cuda", "metal", "rocm", "vulkan", "sycl")

MAX_CTX = 16 * 1024 * 1024  # beyond any published model; larger is a typo, not a request


class Scenario(BaseModel):
    """One llama.cpp run: model, quant, context and the knobs that change memory."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelArch
    quant: str = "Q4_K_M"
    # Exact tensors (from a GGUF header). None: generate them from the architecture
    # and let the quant recipe assign types.
    tensors: tuple[TensorSpec, ...] | None = None
    ctx: int = Field(4096, gt=0, le=MAX_CTX)
    kv_type_k: str = "f16"
    kv_type_v: str = "f16"
    n_batch: int = Field(2048, gt=0)
    n_ubatch: int = Field(512, gt=0)
    n_parallel: int = Field(1, gt=0, le=1024)
    kv_unified: bool = True
    flash_attn: bool = True
    backend: Backend = "cpu"
    # how the weights are held in RAM (llama.cpp --no-mmap, --no-repack, --mlock)
    mmap: bool = True
    repack: bool = True
    mlock: bool = False
    # a multimodal projector (mmproj GGUF) loaded next to the model, or None
    mmproj: Projector | None = None


class Basis(BaseModel):
    """Where a number came from, so a user can judge it."""

    model_config = ConfigDict(frozen=True)

    source: str = Field(description="e.g. 'GGUF header', 'catalog: <config.json url>'")
    method: str = Field(description="e.g. 'per-tensor recipe of llama.cpp Q4_K_M'")
    calibration: str | None = None
    measured: bool = False
    what: str | None = Field(None, description="the number this is the basis of, when its place does not say")


class MemoryParts(BaseModel):
    """Bytes by purpose on one device (or in total)."""

    model_config = ConfigDict(frozen=True)

    weights_bytes: int = 0
    kv_cache_bytes: int = 0
    compute_bytes: int = 0
    overhead_bytes: int = 0
    reclaimable_bytes: int = Field(
        0,
        description="of the weights: clean file pages the OS may drop under pressure (mmapped "
        "pages behind CPU_REPACK copies), counted in total but not in resident",
    )

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.compute_bytes + self.overhead_bytes

    @property
    def resident_bytes(self) -> int:
        """What must stay in memory: the total less the reclaimable file pages."""
        return self.total_bytes - self.reclaimable_bytes

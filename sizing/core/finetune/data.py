"""Figures the fine-tuning estimate takes from ``data/finetune.yaml``, validated on load.

Training efficiency, QLoRA's slowdown and the CUDA context are measured facts about
software and hardware, not about a model, so they live in data with their sources.
A malformed file fails with the file and the field named.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sizing.core.tables import data_file, read_yaml, validate
from sizing.units import MIB

if TYPE_CHECKING:
    from sizing.core.tables import DataPath

FINETUNE_FILE = data_file("finetune.yaml")


class MFURange(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    low: float = Field(gt=0, le=1)
    expected: float = Field(gt=0, le=1)
    high: float = Field(gt=0, le=1)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> "MFURange":
        if not self.low <= self.expected <= self.high:
            raise ValueError("low <= expected <= high does not hold")
        return self

    def as_dict(self) -> dict[str, float]:
        return {"low": self.low, "expected": self.expected, "high": self.high}


class Sourced(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float = Field(gt=0)
    source: str = Field(min_length=1)


class FinetuneData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    mfu: MFURange
    qlora_slowdown: Sourced
    cuda_context_mib: Sourced
    cpu_runtime_fp32_mib: Sourced
    cpu_runtime_bf16_mib: Sourced

    @property
    def cuda_context_bytes(self) -> int:
        return int(self.cuda_context_mib.value * MIB)

    def cpu_runtime_bytes(self, bf16: bool) -> int:
        return int((self.cpu_runtime_bf16_mib if bf16 else self.cpu_runtime_fp32_mib).value * MIB)


def load_finetune_data_file(path: DataPath) -> FinetuneData:
    raw = read_yaml(path, "fine-tuning data")
    return validate(FinetuneData, raw, f"{path}:", default="(document)")


@cache
def load_finetune_data() -> FinetuneData:
    """The shipped ``data/finetune.yaml``, loaded once per process."""
    return load_finetune_data_file(FINETUNE_FILE)

"""One fine-tuning run as the user describes it, checked with one clear message per mistake.

Kept apart from the memory estimate so activations, time and the planner can take a
scenario without importing the estimate that uses them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sizing.core.arch import ModelArch
from sizing.core.scenario import BACKENDS, Backend
from sizing.errors import SizingError

Method = Literal["full", "lora", "qlora"]
Precision = Literal["fp32", "mixed_bf16"]
Optimizer = Literal["adamw", "adamw8bit", "sgd"]
Sharding = Literal["none", "ddp", "zero1", "zero2", "zero3", "fsdp"]
AdapterDtype = Literal["fp32", "bf16"]

METHODS: tuple[str, ...] = ("full", "lora", "qlora")
PRECISIONS: tuple[str, ...] = ("fp32", "mixed_bf16")
OPTIMIZERS: tuple[str, ...] = ("adamw", "adamw8bit", "sgd")
SHARDINGS: tuple[str, ...] = ("none", "ddp", "zero1", "zero2", "zero3", "fsdp")
TARGET_MODULES: tuple[str, ...] = ("q", "k", "v", "o", "gate", "up", "down")
DEFAULT_TARGETS: tuple[str, ...] = ("q", "k", "v", "o")

# Sequences per optimizer micro-step: beyond any real run; larger is a typo, not a plan.
MAX_MICRO_BATCH = 65536


class FinetuneScenario(BaseModel):
    """One fine-tuning run: model, method, the knobs that change memory, the GPUs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: ModelArch
    method: Method = "lora"
    precision: Precision = "mixed_bf16"  # full fine-tuning only; LoRA's base is bf16, QLoRA's NF4
    rank: int = 16
    target_modules: tuple[str, ...] = DEFAULT_TARGETS
    adapter_dtype: AdapterDtype | None = None  # None: peft's default (fp32) for LoRA, bf16 for QLoRA
    seq_len: int = 2048
    micro_batch: int = 1
    optimizer: Optimizer = "adamw"
    grad_checkpointing: bool = False
    flash_attn: bool = True
    fused_optimizer: bool = True  # GPU: fused AdamW (HF Trainer default); False: torch's foreach
    n_gpus: int = Field(1, ge=1)
    sharding: Sharding = "none"
    backend: Backend = "cuda"

    @classmethod
    def build(cls, **kwargs) -> "FinetuneScenario":
        """Validate user input with one clear ``SizingError`` per mistake."""
        method = kwargs.get("method", "lora")
        if kwargs.get("grad_checkpointing") is None:
            # the recipes people use for adapters (PEFT, TRL, Unsloth, Axolotl) turn it on
            kwargs["grad_checkpointing"] = method in ("lora", "qlora")
        if method not in METHODS:
            raise SizingError(f"unknown fine-tuning method {method!r}: use one of {', '.join(METHODS)}")
        for key, allowed in (
            ("precision", PRECISIONS),
            ("optimizer", OPTIMIZERS),
            ("sharding", SHARDINGS),
            ("backend", BACKENDS),
        ):
            if key in kwargs and kwargs[key] not in allowed:
                raise SizingError(f"unknown {key} {kwargs[key]!r}: use one of {', '.join(allowed)}")
        try:
            s = cls(**kwargs)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "scenario"
            raise SizingError(f"fine-tuning {where}: {err['msg']}") from None
        s.check()
        return s

    def check(self) -> None:
        """Raise ``SizingError`` for values no training run can have."""
        m = self.model
        if self.method != "full":
            if self.rank <= 0:
                raise SizingError(f"LoRA rank must be a positive integer, got {self.rank}")
            if self.rank > m.hidden_size:
                raise SizingError(f"LoRA rank {self.rank} exceeds the hidden size {m.hidden_size} of {m.id}")
            if not self.target_modules:
                raise SizingError("LoRA needs at least one target module")
            bad = [t for t in self.target_modules if t not in TARGET_MODULES]
            if bad:
                raise SizingError(f"unknown LoRA target module(s) {', '.join(bad)}: use {', '.join(TARGET_MODULES)}")
        if self.seq_len <= 0:
            raise SizingError(f"sequence length must be positive, got {self.seq_len}")
        if self.seq_len > m.max_context:
            raise SizingError(f"sequence length {self.seq_len} is beyond {m.id}'s limit of {m.max_context} tokens")
        if self.micro_batch <= 0:
            raise SizingError(f"micro-batch must be positive, got {self.micro_batch}")
        if self.micro_batch > MAX_MICRO_BATCH:
            raise SizingError(f"micro-batch {self.micro_batch} is absurd: at most {MAX_MICRO_BATCH} sequences a step")
        if self.sharding in ("none",) and self.n_gpus > 1:
            raise SizingError(f"{self.n_gpus} GPUs need a sharding: ddp, zero1, zero2, zero3 or fsdp")

    @property
    def adapter_bytes(self) -> int:
        dtype = self.adapter_dtype or ("bf16" if self.method == "qlora" else "fp32")
        return 4 if dtype == "fp32" else 2

    @property
    def tokens(self) -> int:
        return self.seq_len * self.micro_batch

"""The one fine-tuning answer the CLI and UI show: memory parts, fit and speed per GPU.

Composes the pure estimators (memory, time, planner) into one pydantic result whose
``to_json()`` is the CLI's ``--json`` output, so both adapters show the same numbers
and compute none themselves.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from sizing.core.finetune.memory import FinetuneMemory, estimate_finetune_memory

from sizing.core.finetune.scenario import FinetuneScenario
from sizing.core.finetune.plan import (
    GPUVerdict,
    backend_for,
    MethodFit,
    gpu_bytes,
    largest_micro_batch,
    largest_seq_len,
    methods_that_fit,
    verdict,
)
from sizing.core.gpu import GPU


class FinetuneReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    scenario: FinetuneScenario
    memory: FinetuneMemory  # on the scenario's own backend (the first GPU's when given)
    gpus: tuple[GPUVerdict, ...] = ()
    largest_micro_batch: int | None = None  # on the first GPU
    largest_seq_len: int | None = None
    methods: tuple[MethodFit, ...] = ()
    dataset_tokens: int | None = None

    @property
    def fits(self) -> bool | None:
        """True when the run fits on every GPU option given (None without GPUs)."""
        return all(g.fits for g in self.gpus) if self.gpus else None

    def to_json(self) -> dict:
        s, m = self.scenario, self.memory
        first = self.gpus[0] if self.gpus else None
        return {
            "model": s.model.id,
            "method": s.method,
            "precision": s.precision if s.method == "full" else ("bf16" if s.method == "lora" else "nf4"),
            "rank": s.rank if s.method != "full" else None,
            "target_modules": list(s.target_modules) if s.method != "full" else None,
            "seq_len": s.seq_len,
            "micro_batch": s.micro_batch,
            "optimizer": s.optimizer,
            "grad_checkpointing": s.grad_checkpointing,
            "flash_attn": s.flash_attn,
            "n_gpus": s.n_gpus,
            "sharding": s.sharding,
            "params": m.params,
            "trainable_params": m.trainable_params,
            "weights_bytes": m.weights_bytes,
            "gradients_bytes": m.gradients_bytes,
            "optimizer_bytes": m.optimizer_bytes,
            "activations_bytes": m.activations_bytes,
            "overhead_bytes": m.overhead_bytes,
            "total_bytes": m.total_bytes,
            "total_bytes_per_gpu": m.total_bytes,
            "peak_phase": m.peak_phase,
            "supported": m.supported,
            "warnings": list(m.warnings),
            "fits": self.fits,
            "tokens_per_s": first.throughput.tokens_per_s if first and first.throughput else None,
            "epoch_s": first.epoch_s if first else None,
            "largest_micro_batch": self.largest_micro_batch,
            "largest_seq_len": self.largest_seq_len,
            "methods": [
                {"method": f.method, "total_bytes": f.memory.total_bytes, "fits": f.fits} for f in self.methods
            ],
            "gpus": [
                {
                    "id": g.gpu_id,
                    "name": g.gpu_name,
                    "count": g.n_gpus,
                    "memory_bytes": g.memory_bytes,
                    "total_bytes": g.needed_bytes,
                    "fits": g.fits,
                    "tokens_per_s": g.throughput.tokens_per_s if g.throughput else None,
                    "epoch_s": g.epoch_s,
                    "price_usd": g.price_usd,
                    "notes": list(g.reasons),
                }
                for g in self.gpus
            ],
            "basis": m.basis.model_dump(),
        }


def with_gpus(s: FinetuneScenario, n: int) -> FinetuneScenario:
    """``s`` on ``n`` GPUs: one GPU needs no sharding; several default to DDP."""
    if n == s.n_gpus:
        return s
    sharding = "none" if n == 1 else ("ddp" if s.sharding == "none" else s.sharding)
    return s.model_copy(update={"n_gpus": n, "sharding": sharding})


def finetune_report(
    s: FinetuneScenario,
    gpus: list[GPU] | tuple[GPU, ...] = (),
    dataset_tokens: int | None = None,
    counts: list[int] | tuple[int, ...] | None = None,
) -> FinetuneReport:
    """Everything about ``s`` on each of ``gpus`` (alternatives), each times its count
    (``counts``, default ``s.n_gpus``); the planner's answers are for the first."""
    counts = tuple(counts) if counts is not None else (s.n_gpus,) * len(gpus)
    if len(counts) != len(gpus):
        raise ValueError("counts must match gpus")
    if gpus:
        s = with_gpus(s, counts[0])
    verdicts = tuple(verdict(with_gpus(s, n), g, dataset_tokens) for g, n in zip(gpus, counts))
    mb = sl = None
    methods: tuple[MethodFit, ...] = ()
    if verdicts and verdicts[0].memory_bytes:
        s = s.model_copy(update={"backend": backend_for(gpus[0])})
        cap = gpu_bytes(gpus[0])
        assert cap is not None
        mb = largest_micro_batch(s, cap)
        sl = largest_seq_len(s, cap)
        methods = tuple(methods_that_fit(s, cap))
    return FinetuneReport(
        scenario=s,
        memory=estimate_finetune_memory(s),
        gpus=verdicts,
        largest_micro_batch=mb,
        largest_seq_len=sl,
        methods=methods,
        dataset_tokens=dataset_tokens,
    )

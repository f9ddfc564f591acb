"""Fine-tuning planner: does it fit, what is the most that fits, which GPU is best.

Answers the questions a person asks before a fine-tune, all from the pure estimators:
does this run fit on these GPUs, what is the largest micro-batch or sequence length that
fits, which of full / LoRA / QLoRA fits, and, for a dataset of N tokens, which GPUs in
the database finish it soonest and for the least money. Pure core: the GPU list is
passed in (``sizing.hardware.db.load_gpus().all`` in the adapters).
"""

from __future__ import annotations

from typing import Iterable

from pydantic import BaseModel, ConfigDict

from sizing.core.finetune.memory import FinetuneMemory, estimate_finetune_memory

from sizing.core.finetune.scenario import FinetuneScenario
from sizing.core.finetune.time import Throughput, epoch_seconds, training_throughput
from sizing.core.gpu import GPU
from sizing.units import GIB


def gpu_bytes(gpu: GPU) -> int | None:
    """Device memory in bytes; GPU memory sizes are binary (an "80 GB" H100 is 80 GiB)."""
    return int(gpu.memory_gb * GIB) if gpu.memory_gb else None


class GPUVerdict(BaseModel):
    """One GPU (times n) for one scenario: memory, fit, speed, time and cost."""

    model_config = ConfigDict(frozen=True)

    gpu_id: str
    gpu_name: str
    n_gpus: int
    memory_bytes: int | None
    needed_bytes: int
    fits: bool
    supported: bool
    reasons: tuple[str, ...] = ()
    throughput: Throughput | None = None
    epoch_s: dict[str, float] | None = None
    price_usd: float | None = None  # price to buy x n: street price, else launch price
    price_basis: str | None = None  # "street" | "launch"


def backend_for(gpu: GPU) -> str:
    for b in ("cuda", "rocm", "metal", "sycl", "vulkan"):
        if b in gpu.backends:
            return b
    return "cpu"


def verdict(s: FinetuneScenario, gpu: GPU, dataset_tokens: int | None = None) -> GPUVerdict:
    """Size ``s`` on ``gpu`` (its backend decides QLoRA's support and overhead)."""
    s = s.model_copy(update={"backend": backend_for(gpu)})
    mem = estimate_finetune_memory(s)
    cap = gpu_bytes(gpu)
    reasons = list(mem.warnings)
    fits = cap is not None and mem.total_bytes <= cap
    if cap is None:
        reasons.append(f"{gpu.name}: device memory unknown (shares system RAM)")
    tp = None
    if s.precision == "fp32" and s.method == "full":
        peak = gpu.fp32_tflops
    else:
        peak = gpu.fp16_tflops
    if peak:
        tp = training_throughput(s, peak)
    else:
        reasons.append(f"{gpu.name}: no published peak for this precision; time unknown")
    ep = epoch_seconds(dataset_tokens, tp.tokens_per_s) if (tp and dataset_tokens) else None
    unit = gpu.street_price_usd or gpu.launch_price_usd
    price = unit * s.n_gpus if unit else None
    price_basis = "street" if gpu.street_price_usd else ("launch" if gpu.launch_price_usd else None)
    return GPUVerdict(
        gpu_id=gpu.id,
        gpu_name=gpu.name,
        n_gpus=s.n_gpus,
        memory_bytes=cap,
        needed_bytes=mem.total_bytes,
        fits=fits and mem.supported,
        supported=mem.supported,
        reasons=tuple(reasons),
        throughput=tp,
        epoch_s=ep,
        price_usd=price,
        price_basis=price_basis,
    )


def fits_in(s: FinetuneScenario, memory_bytes: int) -> bool:
    m = estimate_finetune_memory(s)
    return m.supported and m.total_bytes <= memory_bytes


def _largest(s: FinetuneScenario, memory_bytes: int, field: str, hi: int) -> int:
    """Largest value of ``field`` in 1..hi that fits (0 if none); memory is monotonic in it."""
    if not fits_in(s.model_copy(update={field: 1}), memory_bytes):
        return 0
    lo = 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits_in(s.model_copy(update={field: mid}), memory_bytes):
            lo = mid
        else:
            hi = mid - 1
    return lo


def largest_micro_batch(s: FinetuneScenario, memory_bytes: int, limit: int = 4096) -> int:
    return _largest(s, memory_bytes, "micro_batch", limit)


def largest_seq_len(s: FinetuneScenario, memory_bytes: int) -> int:
    return _largest(s, memory_bytes, "seq_len", s.model.max_context)


class MethodFit(BaseModel):
    model_config = ConfigDict(frozen=True)

    method: str
    memory: FinetuneMemory
    fits: bool


def methods_that_fit(s: FinetuneScenario, memory_bytes: int) -> list[MethodFit]:
    """Each of full / LoRA / QLoRA at ``s``'s other settings, and whether it fits."""
    out = []
    for method in ("full", "lora", "qlora"):
        m = estimate_finetune_memory(s.model_copy(update={"method": method}))
        out.append(MethodFit(method=method, memory=m, fits=m.supported and m.total_bytes <= memory_bytes))
    return out


def rank_gpus(s: FinetuneScenario, gpus: Iterable[GPU], dataset_tokens: int, *, by: str = "time") -> list[GPUVerdict]:
    """GPUs where ``s`` fits, fastest (``by='time'``) or cheapest to buy (``by='cost'``) first."""
    rows = [verdict(s, g, dataset_tokens) for g in gpus]
    timed = [(r, r.epoch_s["expected"]) for r in rows if r.fits and r.epoch_s]
    if by == "cost":
        timed.sort(key=lambda rt: (rt[0].price_usd is None, rt[0].price_usd or 0, rt[1]))
    else:
        timed.sort(key=lambda rt: (rt[1], rt[0].price_usd or float("inf")))
    rows = [r for r, _ in timed]
    return rows

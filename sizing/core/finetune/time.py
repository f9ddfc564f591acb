"""Fine-tuning time: training tokens per second from the compute roofline.

Training is compute-bound: each token costs a forward pass (2 FLOPs per weight) and a
backward pass (2 for the activations' gradients, 2 more for the weights' gradients when
the weights train) — the "6 x params" rule of Kaplan et al. 2020 (arXiv:2001.08361
§2.1). LoRA skips the frozen weights' gradients (4 x params plus the adapters);
gradient checkpointing repeats the forward (+2 x params). Attention over the sequence
adds 2 x layers x seq x heads x (dk + dv) per token forward (half of it under a causal
flash kernel, which skips masked blocks).

Achieved throughput is a fraction of peak (model FLOPs utilisation, MFU); the range, and
QLoRA's slowdown against LoRA (it dequantizes every weight on every pass), are in
``data/finetune.yaml`` with their sources. None of this is measured here (no GPU on the
build machine).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from sizing.core.finetune.scenario import FinetuneScenario
from sizing.core.finetune.data import FinetuneData, load_finetune_data
from sizing.core.finetune.params import param_breakdown


class Throughput(BaseModel):
    model_config = ConfigDict(frozen=True)

    flops_per_token: float
    tokens_per_s: dict[str, float]  # low / expected / high, all GPUs together
    peak_tflops: float  # per GPU, the figure used
    basis: str


def flops_per_token(s: FinetuneScenario) -> float:
    m = s.model
    p = param_breakdown(m)
    dense_mm: float = p.block_linear - p.expert_params
    if m.is_moe:  # only the experts a token is routed through do work
        dense_mm += p.expert_params * m.n_experts_used / m.n_experts
    mm = dense_mm + p.output_head  # the output head is a matmul even when tied
    span = s.seq_len / 2 if s.flash_attn else s.seq_len
    attn_fwd = 2 * m.n_layers * span * m.n_heads * (m.head_dim_k + m.head_dim_v)
    fwd = 2 * mm + attn_fwd
    if s.method == "full":
        total = 3 * fwd  # forward, activation grads, weight grads
    else:
        lora = p.lora_params(s.rank, s.target_modules)
        total = 2 * fwd + attn_fwd + 6 * lora  # no frozen weight grads
    if s.grad_checkpointing:
        total += fwd
    return float(total)


def training_throughput(s: FinetuneScenario, peak_tflops: float, data: FinetuneData | None = None) -> Throughput:
    """Tokens/s over all ``s.n_gpus`` GPUs of ``peak_tflops`` dense bf16 each.

    ``data``: the MFU range and QLoRA slowdown of ``data/finetune.yaml``; loaded when omitted.
    """
    data = data or load_finetune_data()
    mfu = data.mfu.as_dict()
    f = flops_per_token(s)
    factor = 1 / data.qlora_slowdown.value if s.method == "qlora" else 1.0
    tps = {k: peak_tflops * 1e12 * s.n_gpus * v * factor / f for k, v in mfu.items()}
    return Throughput(
        flops_per_token=f,
        tokens_per_s=tps,
        peak_tflops=peak_tflops,
        basis=(
            f"roofline: {f / 1e9:.2f} GFLOP/token at {mfu['low']:.0%}–{mfu['high']:.0%} MFU"
            + (f", / {data.qlora_slowdown.value:g} for NF4 dequantization" if s.method == "qlora" else "")
        ),
    )


def epoch_seconds(dataset_tokens: int, tokens_per_s: dict[str, float]) -> dict[str, float]:
    """Seconds per pass over ``dataset_tokens`` (low throughput = longest time)."""
    return {k: dataset_tokens / v for k, v in tokens_per_s.items() if v > 0}

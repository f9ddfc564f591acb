"""Fine-tuning memory: what one training step holds on each GPU, part by part.

A training step holds the weights, the gradients of what is trained, the optimizer's
states, the activations autograd saves for the backward pass (plus the transient
tensors of the backward itself), and framework overhead. We size each from the
architecture, the way PyTorch + ``transformers`` (+ ``peft``) actually lay it out, and
check the sum against real training steps (``harness.finetune_probe``,
``tests/test_finetune_truth.py``).

The step's peak is the largest of three moments in the steady state (the optimizer's
states exist from the first step on; gradients are freed between steps):

* the start of backward: every saved activation, plus the loss's gradient over the
  vocabulary and the output layer's gradient;
* the end of backward: all gradients, activations gone;
* the optimizer step: all gradients plus the optimizer's temporaries.

Pure core: no I/O. The run itself is ``scenario.FinetuneScenario``; activations live in
``activations``, parameter counts in ``params``, time in ``time``, the planner in ``plan``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.finetune.activations import ActivationParts, activation_parts
from sizing.core.finetune.data import FinetuneData, load_finetune_data
from sizing.core.finetune.params import ParamBreakdown, param_breakdown
from sizing.core.finetune.scenario import FinetuneScenario
from sizing.core.scenario import Basis

# Backends where bitsandbytes' 4-bit kernels (QLoRA) run: CUDA, and ROCm builds.
BNB_BACKENDS: frozenset[str] = frozenset({"cuda", "rocm"})

# Optimizer state bytes per trainable parameter.
#  AdamW: two fp32 moments (PyTorch torch.optim.AdamW keeps exp_avg and exp_avg_sq).
#  8-bit AdamW (bitsandbytes, Dettmers et al. 2021, arXiv:2110.02861): two uint8 moments
#   plus one fp32 absmax per block of 256 values each -> 2 + 2*4/256 bytes.
#  SGD with momentum: one fp32 momentum buffer.
OPTIMIZER_STATE_BYTES: dict[str, float] = {"adamw": 8.0, "adamw8bit": 2.0 + 8.0 / 256, "sgd": 4.0}

# NF4 with double quantization (Dettmers et al. 2023, QLoRA, arXiv:2305.14314 §3):
# 4 bits per weight, an 8-bit absmax per block of 64, and an fp32 constant per 256
# absmax blocks -> 0.5 + 1/64 + 4/(64*256) bytes per parameter.
NF4_DQ_BYTES_PER_PARAM = 0.5 + 1.0 / 64 + 4.0 / (64 * 256)


class FinetuneMemory(BaseModel):
    """Per-GPU bytes of one training step, by part, with how each was sized."""

    model_config = ConfigDict(frozen=True)

    params: int
    trainable_params: int
    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int = Field(description="saved activations plus backward transients at the peak")
    overhead_bytes: int
    total_bytes: int = Field(description="the step's peak on one GPU")
    peak_phase: Literal["backward_start", "backward_end", "optimizer_step"]
    activations: ActivationParts
    n_gpus: int
    sharding: str
    supported: bool = True
    warnings: tuple[str, ...] = ()
    basis: Basis

    def parts(self) -> dict[str, int]:
        return {
            "weights": self.weights_bytes,
            "gradients": self.gradients_bytes,
            "optimizer": self.optimizer_bytes,
            "activations": self.activations_bytes,
            "overhead": self.overhead_bytes,
        }


def _weights_bytes(s: FinetuneScenario, p: ParamBreakdown) -> tuple[int, int]:
    """(resident weight bytes, the largest layer's weights as materialised for compute)."""
    if s.method == "full":
        # fp32 weights; under AMP these are the masters, and the bf16 copies autocast
        # makes for each matmul are saved activations (freed during backward).
        return p.total * 4, 0
    lora = p.lora_params(s.rank, s.target_modules) * s.adapter_bytes
    if s.method == "lora":
        return p.total * 2 + lora, 0
    # QLoRA: nn.Linear weights of the blocks in NF4; embeddings, output head and norms in bf16.
    quantized = p.block_linear
    w = int(quantized * NF4_DQ_BYTES_PER_PARAM) + (p.total - quantized) * 2 + lora
    return w, p.largest_linear * 2  # one weight dequantized to bf16 at a time


def _optimizer_temporaries(s: FinetuneScenario, p: ParamBreakdown, trainable: int, shards: int) -> int:
    """Bytes the optimizer step allocates on top of its states.

    On CPU torch.optim runs one tensor at a time (sqrt of the second moment and the
    update for the largest tensor). On a GPU the fused AdamW kernel (the Hugging Face
    Trainer's default since torch 2.8, ``adamw_torch_fused``) updates in place; the
    foreach path (plain ``torch.optim.AdamW()``) materialises sqrt(v) for every tensor
    at once. SGD's and bitsandbytes' 8-bit updates are in place.
    """
    if s.optimizer != "adamw":
        return 0
    if s.backend == "cpu":
        return min(p.largest_tensor, trainable) * 4 * 2
    return 0 if s.fused_optimizer else (trainable // shards) * 4


def estimate_finetune_memory(s: FinetuneScenario, data: FinetuneData | None = None) -> FinetuneMemory:
    """Peak bytes per GPU of one steady-state training step of ``s``.

    ``data``: the figures of ``data/finetune.yaml`` (the CUDA context); loaded when omitted.
    """
    s.check()
    data = data or load_finetune_data()
    p = param_breakdown(s.model)
    trainable = p.total if s.method == "full" else p.lora_params(s.rank, s.target_modules)
    weights, dequant = _weights_bytes(s, p)
    grad_bytes_per = 4 if (s.method == "full" or s.adapter_bytes == 4) else 2
    grads = trainable * grad_bytes_per
    opt = trainable * OPTIMIZER_STATE_BYTES[s.optimizer]
    if s.method != "full" and s.adapter_bytes == 2 and s.optimizer != "adamw8bit":
        opt /= 2  # torch.optim keeps its states in the parameter's dtype (bf16 adapters)
    opt = int(opt)
    if s.method == "full" and s.precision == "mixed_bf16" and s.sharding.startswith("zero"):
        # DeepSpeed's layout (ZeRO paper, Rajbhandari et al. 2020, §3): bf16 weights and
        # gradients, fp32 master weights in the (sharded) optimizer states.
        weights, grads, opt = p.total * 2, trainable * 2, opt + trainable * 4

    n = s.n_gpus
    shard_opt = s.sharding in ("zero1", "zero2", "zero3", "fsdp")
    shard_grad = s.sharding in ("zero2", "zero3", "fsdp")
    shard_w = s.sharding in ("zero3", "fsdp")
    gathered = buckets = 0
    if n > 1:
        if shard_opt:
            opt //= n
        if shard_grad:
            grads //= n
        if shard_w:
            weights //= n
            wb = 2 if s.method != "full" or s.precision == "mixed_bf16" else 4
            if s.sharding == "fsdp":
                # FSDP2 keeps the root's parameters (embeddings, head, final norm) unsharded
                # from forward through backward (torch fully_shard: "for the root, do not
                # reshard after forward"), plus the current and the prefetched layer; the
                # gathered copies are separate tensors next to the shards.
                root = p.total - p.block_params
                gathered = root * wb + 2 * p.largest_layer * wb
            else:
                # ZeRO-3 gathers module by module (the embedding and head are modules too),
                # with the next one prefetched.
                gathered = 2 * max(p.largest_layer, p.output_head) * wb
        if s.sharding == "ddp":
            # DDP's reducer keeps its own flat bucket copy of every gradient for the whole
            # run (gradient_as_bucket_view=False, the default).
            buckets = grads

    act = activation_parts(s, p)
    step_temp = _optimizer_temporaries(s, p, trainable, n if shard_opt else 1)
    head_grad = p.output_head * grad_bytes_per if s.method == "full" else 0

    # Each phase's parts on top of the resident weights: (gradients, optimizer, activations).
    phases = {
        # The loss's two vocabulary-sized gradients are gone (with the saved log-softmax)
        # by the time the output layer's weight gradient is made, so the three don't stack.
        "backward_start": (
            buckets,
            opt,
            act.saved_bytes + max(act.loss_transient_bytes, act.layer_transient_bytes, head_grad) + dequant + gathered,
        ),
        "backward_end": (grads + buckets, opt, act.last_layer_bytes + dequant + gathered),
        "optimizer_step": (grads + buckets, opt + step_temp, 0),
    }
    phase = max(phases, key=lambda k: sum(phases[k]))
    grad_part, opt_part, act_part = phases[phase]
    # Framework overhead lives outside PyTorch's allocator: the CUDA context on a GPU
    # (the caching allocator's fragmentation on top is not modelled; the basis says so),
    # PyTorch's own host memory on the CPU backend (measured, data/finetune.yaml).
    if s.backend in ("cuda", "rocm"):
        overhead = data.cuda_context_bytes
    elif s.backend == "cpu":
        overhead = data.cpu_runtime_bytes(bf16=s.method != "full" or s.precision == "mixed_bf16")
    else:
        overhead = 0
    total = weights + grad_part + opt_part + act_part + overhead

    warnings: list[str] = []
    supported = True
    if s.method == "qlora" and s.backend not in BNB_BACKENDS:
        supported = False
        warnings.append(
            f"QLoRA needs bitsandbytes' 4-bit CUDA kernels; the {s.backend} backend cannot run it "
            "(use LoRA on a bf16 base instead)"
        )
    if s.optimizer == "adamw8bit" and s.backend not in BNB_BACKENDS:
        supported = False
        warnings.append(f"8-bit AdamW comes from bitsandbytes, which does not run on the {s.backend} backend")
    if s.model.is_moe:
        warnings.append(
            "MoE: activations sized as if every token ran through its experts' share; router buffers not modelled"
        )

    measured = s.method != "qlora" and s.model.arch in ("llama", "qwen2", "qwen3", "mistral")
    return FinetuneMemory(
        params=p.total,
        trainable_params=trainable,
        weights_bytes=int(weights),
        gradients_bytes=int(grad_part),
        optimizer_bytes=int(opt_part),
        activations_bytes=int(act_part),
        overhead_bytes=int(overhead),
        total_bytes=int(total),
        peak_phase=phase,  # type: ignore[arg-type]
        activations=act,
        n_gpus=n,
        sharding=s.sharding,
        supported=supported,
        warnings=tuple(warnings),
        basis=Basis(
            source=f"architecture of {s.model.id} ({s.model.source})",
            method=(
                "per-op count of the tensors PyTorch autograd saves in a transformers decoder layer "
                f"({'SDPA/flash' if s.flash_attn else 'eager'} attention"
                f"{', gradient checkpointing' if s.grad_checkpointing else ''}), "
                "peak over backward start/end and optimizer step"
            ),
            calibration=(
                (
                    "checked against the allocator peak and peak RSS of real PyTorch CPU training steps "
                    "(tests/test_finetune_truth.py, bench/accuracy_finetune.py)"
                    if measured
                    else "not measured here (QLoRA needs CUDA + bitsandbytes)"
                )
                + (
                    "; GPU: allocated peak plus the CUDA context, the caching allocator's fragmentation "
                    "is not included (leave a few % spare)"
                    if s.backend in ("cuda", "rocm")
                    else ""
                )
            ),
            measured=False,
        ),
    )

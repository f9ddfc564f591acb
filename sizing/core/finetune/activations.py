"""Activations of a training step: what autograd saves in each decoder layer, and what
the backward pass allocates on top.

Counted op by op from what PyTorch keeps for a ``transformers`` decoder layer (RMSNorm,
q/k/v/o projections, RoPE, SDPA or eager attention, gated MLP) — read with
``torch.autograd.graph.saved_tensors_hooks`` on the real modules and written here per
token, per unit of width:

* **RMSNorm** (``x.float(); x * rsqrt(mean(x²)+eps); w * y``) saves the fp32 input and,
  when its weight trains, the normalised ``y``; the projection after it saves its input
  only when its own weight trains. Under autocast each projection casts its input to
  bf16 separately, so q, k and v each save a copy.
* **Attention, SDPA (flash kernel)** saves q and k after RoPE, v, the output and one fp32
  log-sum-exp per head. **Eager** saves q, the repeated k and v, the output copy made
  contiguous, and the fp32 softmax (plus its bf16 cast): ``s`` values per head per token.
* **Gated MLP** saves gate, act(gate), up and their product when trained (four i-sized
  tensors); frozen, the product is not needed (three).
* **LoRA** (peft): each adapted layer casts its input to the adapter dtype (a copy per
  layer when the dtypes differ) and saves the rank-sized output of A.
* **Loss**: the fp32 log-softmax over the vocabulary; its backward makes two more.
* **Autocast** (mixed bf16) casts every weight to bf16 once per forward; the matmuls
  save those copies, so 2 bytes per matmul weight live until backward passes them.
* **Gradient checkpointing** keeps only each layer's input and recomputes one layer at a
  time during backward.

Pure core; the numbers are checked against real steps in tests/test_finetune_truth.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from sizing.core.finetune.params import ParamBreakdown

if TYPE_CHECKING:
    from sizing.core.finetune.scenario import FinetuneScenario


class ActivationParts(BaseModel):
    """Activation bytes for one micro-batch on one GPU."""

    model_config = ConfigDict(frozen=True)

    per_layer_bytes: int  # what one decoder layer saves (without checkpointing)
    checkpoint_bytes: int  # per layer, kept under gradient checkpointing (0 otherwise)
    non_layer_bytes: int  # final norm, RoPE tables, log-softmax over the vocabulary
    logits_bytes: int  # of which the fp32 log-softmax
    saved_bytes: int  # everything saved at the start of backward
    loss_transient_bytes: int  # the loss's gradients over the vocabulary
    layer_transient_bytes: int  # extra while the last layer's backward runs
    last_layer_bytes: int  # held while the first layer's backward runs


def _regime(s: "FinetuneScenario") -> tuple[str, int]:
    """('fp32' | 'amp' | 'frozen', activation bytes)."""
    if s.method == "full":
        return ("fp32", 4) if s.precision == "fp32" else ("amp", 2)
    return "frozen", 2


def activation_parts(s: "FinetuneScenario", p: ParamBreakdown) -> ActivationParts:
    m = s.model
    regime, a = _regime(s)
    T = s.tokens
    h, L = m.hidden_size, m.n_layers
    nh, nkv, dk, dv = m.n_heads, m.n_kv_heads, m.head_dim_k, m.head_dim_v
    if m.is_moe:
        ffn = m.expert_ffn_size * m.n_experts_used + m.shared_expert_ffn_size * m.n_shared_experts
    else:
        ffn = m.ffn_size
    gated = m.ffn_activation == "gated"
    trained = regime != "frozen"
    res = 2 if regime == "frozen" else 4  # residual stream dtype (fp32 under autocast)

    # --- per layer, per token ---------------------------------------------------------
    consumers1 = 3  # q, k, v read the first norm's output
    consumers2 = 2 if gated else 1
    if regime == "fp32":
        norms = 2 * 12 * h
    elif regime == "amp":
        norms = (8 + 2 * consumers1) * h + (8 + 2 * consumers2) * h
    else:
        norms = 2 * 4 * h
    norms += 2 * 4  # rsqrt per token
    if m.post_norms:
        # Gemma-2/3's extra norms after attention and MLP feed the residual, not a
        # projection: the fp32 input, and the normalised value when the weight trains.
        norms += 2 * ((4 + 4) * h if trained else 4 * h) + 2 * 4

    if s.flash_attn:
        attn = nh * (a * dk + a * dv + 4) + nkv * (a * dk + a * dv)
    else:
        scores = 4 + (2 if a == 2 else 0)
        attn = nh * (a * (2 * dk + 2 * dv) + scores * s.seq_len)
    if m.qk_norm:
        attn += (nh + nkv) * ((4 + a) * dk + 4 if trained else 4 * dk + 4)

    if trained:
        mlp = (4 if gated else 2) * a * ffn
    else:
        mlp = (3 if gated else 1) * a * ffn

    lora = 0.0
    if s.method != "full":
        targets = set(s.target_modules)
        shapes = [(t, i) for t, i, _ in p.lora_shapes if t in targets]
        per_layer_shapes = len(shapes) / L
        if s.adapter_bytes != a:
            lora += sum(s.adapter_bytes * i for _, i in shapes) / L  # one cast per adapted layer
        else:  # same dtype: adapted layers share their input; count each input once
            if targets & {"q", "k", "v"}:
                lora += a * h
            if targets & {"gate", "up"}:
                lora += a * h
            if "down" in targets:
                lora += a * ffn
        lora += per_layer_shapes * s.rank * s.adapter_bytes

    per_token_layer = norms + attn + mlp + lora
    per_layer = int(per_token_layer * T)
    if regime == "frozen":
        # The first layer's input comes from a frozen embedding: its norm saves nothing.
        first_layer_saving = 4 * h * T
    else:
        first_layer_saving = 0

    # --- outside the layers -------------------------------------------------------------
    V = m.vocab_size
    logits = 4 * V * T
    final_norm = {"fp32": 12 * h, "amp": 10 * h, "frozen": 4 * h}[regime] + 4
    rope = 2 * dk * (4 if regime == "fp32" else a)
    non_layer = logits + (final_norm + rope) * T

    # --- backward transients -------------------------------------------------------------
    loss_transient = 2 * 4 * V * T
    temps = int((3 * a * ffn + 2 * res * h) * T)
    if not s.flash_attn:
        temps += 2 * 4 * nh * s.seq_len * T

    # Autocast casts each weight to bf16 once per forward; the matmuls save those
    # copies for their input gradients, so they live until backward has passed them.
    # Not under ZeRO/FSDP, whose working weights are already bf16; under checkpointing
    # only the output head's copy is saved, a layer's own casts live while it recomputes.
    amp_casts = regime == "amp" and s.sharding in ("none", "ddp")
    weight_casts = 2 * p.matmul_weights if amp_casts and not s.grad_checkpointing else 0
    if amp_casts and s.grad_checkpointing:
        weight_casts = 2 * p.output_head
        temps += 2 * p.largest_layer

    if s.grad_checkpointing:
        ckpt = res * h * T
        saved = L * ckpt + non_layer + weight_casts
        layer_transient = per_layer + temps
        last_layer = ckpt + per_layer + temps
    else:
        ckpt = 0
        saved = L * per_layer - first_layer_saving + non_layer + weight_casts
        layer_transient = temps
        last_layer = per_layer + temps
    return ActivationParts(  # T = seq_len x micro_batch: every part is for the whole micro-batch
        per_layer_bytes=per_layer,
        checkpoint_bytes=ckpt,
        non_layer_bytes=int(non_layer),
        logits_bytes=logits,
        saved_bytes=int(saved),
        loss_transient_bytes=loss_transient,
        layer_transient_bytes=int(layer_transient),
        last_layer_bytes=int(last_layer),
    )

"""Parameters of a model grouped the way training memory needs them.

Counts come from ``sizing.core.tensors.tensors_for`` (the one tensor list every
estimator shares), so they match the weight sizing exactly. Training needs more than the
total: which weights a matmul uses (autocast caches a bf16 copy of those), which are the
blocks' linear layers (QLoRA quantizes those to NF4), how large one layer is (ZeRO-3 and
FSDP gather one at a time), and the shapes LoRA adapts.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from sizing.core.arch import ModelArch
from sizing.core.tensors import TensorSpec, tensors_for

# LoRA target name -> llama.cpp tensor-name stems it adapts (dense and shared-expert
# projections; routed experts are not adapted, as with peft's default target matching).
LORA_STEMS: dict[str, tuple[str, ...]] = {
    "q": ("attn_q", "attn_q_a", "attn_q_b"),
    "k": ("attn_k", "attn_kv_a_mqa", "attn_kv_b"),
    "v": ("attn_v",),
    "o": ("attn_output",),
    "gate": ("ffn_gate", "ffn_gate_shexp"),
    "up": ("ffn_up", "ffn_up_shexp"),
    "down": ("ffn_down", "ffn_down_shexp"),
}


def _stem(t: TensorSpec) -> str:
    parts = t.name.split(".")
    return parts[2] if parts[0] == "blk" else parts[0]


class ParamBreakdown(BaseModel):
    """Parameter counts by role (elements, not bytes)."""

    model_config = ConfigDict(frozen=True)

    total: int
    block_linear: int  # 2-D weights inside the blocks (NF4 under QLoRA)
    matmul_weights: int  # weights used by a matmul: block linears and the output head
    output_head: int  # vocab x hidden (the tied embedding when tied)
    expert_params: int  # routed experts' weights (a token uses n_experts_used of them)
    block_params: int  # everything inside the decoder blocks (the rest: embeddings, head, final norm)
    largest_layer: int  # parameters of the largest block
    largest_linear: int
    largest_tensor: int
    lora_shapes: tuple[tuple[str, int, int], ...]  # (target, in, out) for every adaptable tensor

    def lora_params(self, rank: int, targets: tuple[str, ...]) -> int:
        """Adapter parameters: r x (in + out) per adapted weight (A is r x in, B is out x r)."""
        want = set(targets)
        return sum(rank * (i + o) for t, i, o in self.lora_shapes if t in want)


def param_breakdown(arch: ModelArch) -> ParamBreakdown:
    """Counts for ``arch`` (memoised: the planner asks for the same model many times)."""
    return _breakdown(arch.model_dump_json())


@lru_cache(maxsize=64)
def _breakdown(arch_json: str) -> ParamBreakdown:
    arch = ModelArch.model_validate_json(arch_json)
    tensors = tensors_for(arch)
    stem_target = {stem: target for target, stems in LORA_STEMS.items() for stem in stems}
    total = block_linear = experts = 0
    per_layer: dict[int, int] = {}
    largest_linear = largest_tensor = 0
    shapes: list[tuple[str, int, int]] = []
    head = arch.vocab_size * arch.hidden_size
    for t in tensors:
        n = t.n_elements
        total += n
        largest_tensor = max(largest_tensor, n)
        if t.name.startswith("blk."):
            layer = int(t.name.split(".")[1])
            per_layer[layer] = per_layer.get(layer, 0) + n
            if len(t.shape) >= 2 and t.name.endswith(".weight"):
                block_linear += n
                if _stem(t).endswith("_exps"):
                    experts += n
                largest_linear = max(largest_linear, n)
                target = stem_target.get(_stem(t))
                if target and len(t.shape) == 2:
                    shapes.append((target, t.shape[0], t.shape[1]))
    return ParamBreakdown(
        total=total,
        block_linear=block_linear,
        matmul_weights=block_linear + head,
        output_head=head,
        expert_params=experts,
        block_params=sum(per_layer.values()),
        largest_layer=max(per_layer.values(), default=0),
        largest_linear=largest_linear,
        largest_tensor=largest_tensor,
        lora_shapes=tuple(shapes),
    )

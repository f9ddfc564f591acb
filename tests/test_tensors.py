"""tensors_for against the tensor tables of real GGUF files (names, ggml shapes, counts)."""

from __future__ import annotations

import pytest
from gguf_header import arch_from_header, header_tensors, reader

from sizing.errors import SizingError
from sizing.core.arch import ModelArch
from sizing.core.tensors import param_counts, tensors_for


@pytest.mark.parametrize("fixture", ["smollm2_gguf", "gemma3_gguf"])
def test_names_and_shapes_match_real_file(fixture, request):
    path = request.getfixturevalue(fixture)
    real = header_tensors(path)
    mine = {t.name: t.shape for t in tensors_for(arch_from_header(path))}
    assert mine == real


@pytest.mark.parametrize("fixture", ["smollm2_gguf", "gemma3_gguf"])
def test_param_count_is_the_files_element_count(fixture, request):
    path = request.getfixturevalue(fixture)
    r = reader(path)
    n_file = sum(int(t.n_elements) for t in r.tensors)
    total, active = param_counts(arch_from_header(path))
    assert total == active == n_file


def _moe(**kw) -> ModelArch:
    base = dict(
        id="m",
        name="m",
        arch="qwen3moe",
        source="test",
        n_layers=4,
        hidden_size=256,
        n_heads=4,
        n_kv_heads=2,
        head_dim_k=64,
        head_dim_v=64,
        ffn_size=0,
        vocab_size=1000,
        max_context=4096,
        qk_norm=True,
        n_experts=8,
        n_experts_used=2,
        expert_ffn_size=128,
    )
    base.update(kw)
    return ModelArch(**base)


def test_moe_active_counts_only_used_experts():
    a = _moe()
    total, active = param_counts(a)
    experts = 4 * 3 * 256 * 128 * 8
    assert total - active == experts * 6 // 8


def test_deepseek2_mla_layout():
    a = ModelArch(
        id="ds",
        name="ds",
        arch="deepseek2",
        source="test",
        n_layers=3,
        hidden_size=512,
        n_heads=8,
        n_kv_heads=8,
        head_dim_k=96,
        head_dim_v=64,
        ffn_size=1024,
        vocab_size=1000,
        max_context=4096,
        n_experts=4,
        n_experts_used=2,
        expert_ffn_size=128,
        n_shared_experts=1,
        shared_expert_ffn_size=128,
        n_dense_leading_layers=1,
        q_lora_rank=192,
        kv_lora_rank=128,
        qk_rope_head_dim=32,
        qk_nope_head_dim=64,
        expert_score_bias=True,
    )
    t = {x.name: x.shape for x in tensors_for(a)}
    assert t["blk.0.ffn_gate.weight"] == (512, 1024) and "blk.0.ffn_gate_exps.weight" not in t
    assert t["blk.1.ffn_gate_exps.weight"] == (512, 128, 4)
    assert t["blk.1.ffn_down_shexp.weight"] == (128, 512)
    assert t["blk.1.attn_k_b.weight"] == (64, 128, 8)
    assert t["blk.1.attn_v_b.weight"] == (128, 64, 8)
    assert t["blk.1.attn_kv_a_mqa.weight"] == (512, 160)
    assert t["blk.1.attn_q_b.weight"] == (192, 8 * 96)
    assert t["blk.2.exp_probs_b.bias"] == (4,)


def test_unknown_arch_is_a_sizing_error():
    a = _moe(arch="rwkv7")
    with pytest.raises(SizingError, match="rwkv7"):
        tensors_for(a)

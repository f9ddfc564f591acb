"""config.json → ModelArch: real published configs and the edge cases that trip calculators."""

from __future__ import annotations

import json

import pytest

from sizing.errors import SizingError
from sizing.sources.config_json import arch_from_config, arch_from_path


def conv(cfg, **kw):
    return arch_from_config(cfg, repo_id=kw.pop("repo_id", "org/test"), source="test", **kw)


QWEN25_7B = {  # Qwen/Qwen2.5-7B-Instruct config.json (architecture fields)
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "vocab_size": 152064,
    "max_position_embeddings": 32768,
    "sliding_window": 131072,
    "use_sliding_window": False,
    "max_window_layers": 28,
    "tie_word_embeddings": False,
}


def test_qwen2_sliding_window_is_disabled_and_qkv_bias_on():
    a = conv(QWEN25_7B)
    assert a.arch == "qwen2"
    assert a.sliding_window is None and not a.is_swa
    assert a.attn_qkv_bias  # Qwen2 has q/k/v biases although the config does not say so
    assert (a.head_dim_k, a.head_dim_v) == (128, 128)  # 3584 / 28
    assert a.n_kv_heads == 4 and not a.tied_embeddings


def test_explicit_head_dim_wins_over_hidden_over_heads():
    # Qwen3-0.6B: hidden 1024 / 16 heads would be 64, the config says 128.
    a = conv(
        {
            "model_type": "qwen3",
            "hidden_size": 1024,
            "intermediate_size": 3072,
            "num_hidden_layers": 28,
            "num_attention_heads": 16,
            "num_key_value_heads": 8,
            "head_dim": 128,
            "vocab_size": 151936,
            "max_position_embeddings": 40960,
            "tie_word_embeddings": True,
            "sliding_window": None,
            "use_sliding_window": False,
        }
    )
    assert a.head_dim_k == 128 and a.qk_norm and a.tied_embeddings and not a.attn_qkv_bias


def test_mistral_maps_to_llama_without_window():
    a = conv(
        {
            "model_type": "mistral",
            "hidden_size": 4096,
            "intermediate_size": 14336,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "vocab_size": 32000,
            "max_position_embeddings": 32768,
            "sliding_window": 4096,
        }
    )
    assert a.arch == "llama" and a.sliding_window is None  # llama.cpp's llama graph has no SWA


def test_gemma3_multimodal_nests_text_config_and_uses_defaults():
    # google/gemma-3-4b-it: the text_config relies on Gemma3TextConfig defaults
    cfg = {
        "architectures": ["Gemma3ForConditionalGeneration"],
        "model_type": "gemma3",
        "text_config": {
            "hidden_size": 2560,
            "intermediate_size": 10240,
            "model_type": "gemma3_text",
            "num_hidden_layers": 34,
            "sliding_window": 1024,
        },
        "vision_config": {"hidden_size": 1152},
    }
    a = conv(cfg)
    assert a.arch == "gemma3"
    assert (a.n_heads, a.n_kv_heads, a.head_dim_k) == (8, 4, 256)
    assert a.sliding_window == 1024 and a.swa_pattern == 6
    assert a.swa_flags[:6] == (True,) * 5 + (False,)
    assert a.tied_embeddings and a.post_norms and a.qk_norm


def test_layer_types_give_the_window_layers():
    types = ["sliding_attention", "full_attention"] * 12
    a = conv(
        {
            "model_type": "gpt_oss",
            "hidden_size": 2880,
            "intermediate_size": 2880,
            "num_hidden_layers": 24,
            "num_attention_heads": 64,
            "num_key_value_heads": 8,
            "head_dim": 64,
            "vocab_size": 201088,
            "max_position_embeddings": 131072,
            "num_local_experts": 32,
            "num_experts_per_tok": 4,
            "sliding_window": 128,
            "layer_types": types,
            "attention_bias": True,
        }
    )
    assert a.arch == "gpt-oss" and a.is_moe and a.n_experts == 32 and a.n_experts_used == 4
    assert a.expert_ffn_size == 2880 and a.attn_sinks and a.attn_qkv_bias
    assert a.swa_flags == tuple(t == "sliding_attention" for t in types)
    irregular = ["full_attention"] + ["sliding_attention"] * 23
    b = conv(
        {
            **{
                "model_type": "gemma3_text",
                "hidden_size": 640,
                "intermediate_size": 2048,
                "num_hidden_layers": 24,
                "vocab_size": 262144,
                "max_position_embeddings": 32768,
                "sliding_window": 512,
            },
            "layer_types": irregular,
        }
    )
    assert b.swa_layers == tuple(range(1, 24)) and b.swa_flags[0] is False


def test_layer_types_of_wrong_length_is_an_error():
    with pytest.raises(SizingError, match="layer_types"):
        conv(
            {
                "model_type": "gemma3_text",
                "hidden_size": 640,
                "intermediate_size": 2048,
                "num_hidden_layers": 4,
                "vocab_size": 10,
                "max_position_embeddings": 64,
                "sliding_window": 8,
                "layer_types": ["full_attention"],
            }
        )


def test_deepseek_v3_mla_moe_fields():
    cfg = {
        "model_type": "deepseek_v3",
        "hidden_size": 7168,
        "intermediate_size": 18432,
        "moe_intermediate_size": 2048,
        "num_hidden_layers": 61,
        "num_attention_heads": 128,
        "num_key_value_heads": 128,
        "n_routed_experts": 256,
        "n_shared_experts": 1,
        "num_experts_per_tok": 8,
        "first_k_dense_replace": 3,
        "q_lora_rank": 1536,
        "kv_lora_rank": 512,
        "qk_rope_head_dim": 64,
        "qk_nope_head_dim": 128,
        "v_head_dim": 128,
        "vocab_size": 129280,
        "max_position_embeddings": 163840,
        "num_nextn_predict_layers": 1,
        "topk_method": "noaux_tc",
        "tie_word_embeddings": False,
    }
    a = conv(cfg)
    assert a.arch == "deepseek2" and a.is_mla and a.is_moe
    assert (a.head_dim_k, a.head_dim_v) == (192, 128)
    assert (a.q_lora_rank, a.kv_lora_rank, a.qk_rope_head_dim) == (1536, 512, 64)
    assert (a.n_experts, a.n_experts_used, a.expert_ffn_size) == (256, 8, 2048)
    assert (a.n_shared_experts, a.shared_expert_ffn_size, a.n_dense_leading_layers) == (1, 2048, 3)
    assert not a.is_moe_layer(2) and a.is_moe_layer(3)
    assert a.expert_score_bias  # noaux_tc routing: llama.cpp's exp_probs_b tensor
    assert a.extra["nextn_predict_layers"] == 1
    # DeepSeek-V2-Lite has no q LoRA: q_lora_rank null
    lite = conv({**cfg, "model_type": "deepseek_v2", "q_lora_rank": None})
    assert lite.q_lora_rank == 0 and lite.is_mla


def test_qwen2_moe_shared_expert():
    a = conv(
        {
            "model_type": "qwen2_moe",
            "hidden_size": 2048,
            "intermediate_size": 5632,
            "moe_intermediate_size": 1408,
            "shared_expert_intermediate_size": 5632,
            "num_experts": 60,
            "num_experts_per_tok": 4,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "num_key_value_heads": 16,
            "vocab_size": 151936,
            "max_position_embeddings": 8192,
            "use_sliding_window": False,
            "sliding_window": 32768,
        }
    )
    assert a.arch == "qwen2moe" and a.n_shared_experts == 1 and a.shared_expert_ffn_size == 5632
    assert a.sliding_window is None


def test_unsupported_model_type_names_the_field():
    with pytest.raises(SizingError, match="model_type.*'bert'"):
        conv({"model_type": "bert", "hidden_size": 768})


def test_missing_field_is_named():
    with pytest.raises(SizingError, match="'num_hidden_layers' is missing"):
        conv({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32})
    with pytest.raises(SizingError, match="'model_type' is missing"):
        conv({"hidden_size": 4096})
    with pytest.raises(SizingError, match="'intermediate_size' must be an integer"):
        conv(
            {
                "model_type": "llama",
                "hidden_size": 64,
                "num_attention_heads": 4,
                "num_hidden_layers": 2,
                "intermediate_size": "big",
                "vocab_size": 10,
                "max_position_embeddings": 64,
            }
        )


def test_inconsistent_heads_is_a_sizing_error():
    with pytest.raises(SizingError, match="n_heads"):
        conv(
            {
                "model_type": "llama",
                "hidden_size": 64,
                "num_attention_heads": 4,
                "num_key_value_heads": 3,
                "num_hidden_layers": 2,
                "intermediate_size": 128,
                "vocab_size": 10,
                "max_position_embeddings": 64,
            }
        )


def test_arch_from_path_file_and_folder(tmp_path):
    folder = tmp_path / "Qwen2.5-7B-Instruct"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(QWEN25_7B))
    by_folder = arch_from_path(folder)
    by_file = arch_from_path(folder / "config.json")
    assert by_folder == by_file
    assert by_folder.id == "Qwen2.5-7B-Instruct" and by_folder.n_layers == 28


def test_arch_from_path_errors(tmp_path):
    with pytest.raises(SizingError, match="no config.json"):
        arch_from_path(tmp_path)
    with pytest.raises(SizingError, match="no such file"):
        arch_from_path(tmp_path / "missing.json")
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(SizingError, match="not valid JSON"):
        arch_from_path(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(SizingError, match="JSON object"):
        arch_from_path(bad)


def test_rope_tensors_llama3_and_longrope():
    base = {
        "model_type": "llama",
        "hidden_size": 2048,
        "intermediate_size": 8192,
        "num_hidden_layers": 16,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": 64,
        "vocab_size": 128256,
        "max_position_embeddings": 131072,
        "tie_word_embeddings": True,
    }
    assert conv(base).rope_factor_tensors == ()
    l31 = conv({**base, "rope_scaling": {"factor": 32.0, "rope_type": "llama3"}})
    assert l31.rope_factor_tensors == ("rope_freqs",)
    phi = conv(
        {
            "model_type": "phi3",
            "hidden_size": 3072,
            "intermediate_size": 8192,
            "num_hidden_layers": 32,
            "num_attention_heads": 24,
            "num_key_value_heads": 8,
            "vocab_size": 200064,
            "max_position_embeddings": 131072,
            "tie_word_embeddings": True,
            "partial_rotary_factor": 0.75,
            "rope_scaling": {"type": "longrope", "long_factor": [1.0], "short_factor": [1.0]},
            "sliding_window": 262144,
        }
    )
    assert phi.rope_factor_tensors == ("rope_factors_long", "rope_factors_short")
    assert phi.rope_dim == 96 and phi.sliding_window is None  # llama.cpp disables Phi-3 SWA


def test_llama_attention_bias_adds_output_bias_too():
    cfg = {
        "model_type": "llama",
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "vocab_size": 10,
        "max_position_embeddings": 64,
    }
    assert not conv(cfg).attn_qkv_bias
    biased = conv({**cfg, "attention_bias": True})
    assert biased.attn_qkv_bias and biased.attn_out_bias
    with pytest.raises(SizingError, match="'head_dim' must be an integer"):
        conv({**cfg, "head_dim": "16"})


def test_lfm2_full_attn_idxs_give_the_same_layers_as_layer_types():
    """The first LFM2 configs list only the attention layers; transformers derives layer_types from them."""
    base = {
        "model_type": "lfm2",
        "hidden_size": 64,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 100,
        "max_position_embeddings": 128,
        "block_ff_dim": 96,
        "conv_L_cache": 3,
    }
    by_idx = arch_from_config({**base, "full_attn_idxs": [1, 3]}, repo_id="t/lfm2", source="t")
    by_types = arch_from_config(
        {**base, "layer_types": ["conv", "full_attention", "conv", "full_attention"]}, repo_id="t/lfm2", source="t"
    )
    assert by_idx.recurrent_layers == by_types.recurrent_layers == (0, 2)
    assert by_idx == by_types
    with pytest.raises(SizingError, match="full_attn_idxs"):
        arch_from_config({**base, "full_attn_idxs": [1, 4]}, repo_id="t/lfm2", source="t")


def test_every_closest_type_is_unmodelled_and_points_at_a_modelled_one():
    """The 'closest supported' hints are for refused types only: a hint for a type that is
    modelled would never be shown, and one pointing at a refused type would mislead."""
    from sizing.sources.config_json import _CLOSEST_TYPE, ARCH_BY_MODEL_TYPE

    assert not set(_CLOSEST_TYPE) & set(ARCH_BY_MODEL_TYPE)
    assert set(_CLOSEST_TYPE.values()) <= set(ARCH_BY_MODEL_TYPE)
    for model_type in ("lfm2_moe", "hunyuan_v1_moe", "ernie4_5_moe", "minimax_m2"):
        with pytest.raises(SizingError) as e:
            conv({"model_type": model_type})
        assert "not modelled" not in str(e.value), model_type  # refused for a missing field, not the type


def test_liquid_tie_embedding_spelling_wins_as_in_lfm2_configs():
    """Liquid's configs write tie_embedding; Lfm2Config / Lfm2MoeConfig take it over tie_word_embeddings."""
    base = {
        "model_type": "lfm2",
        "hidden_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "vocab_size": 100,
        "max_position_embeddings": 128,
        "block_ff_dim": 96,
        "conv_L_cache": 3,
        "layer_types": ["conv", "full_attention"],
    }
    assert conv(base).tied_embeddings  # Lfm2Config's default
    assert not conv({**base, "tie_embedding": False}).tied_embeddings
    assert not conv({**base, "tie_embedding": False, "tie_word_embeddings": True}).tied_embeddings

"""The 2025-26 architectures: headers read layer by layer, recurrent state, refusals.

Files are synthetic GGUFs (sizing.live.synthetic: real headers, the layouts llama.cpp
loads, as the live truth tests confirm) and hand-made headers for what a converter could
write but we do not model. The memory these give is held against llama.cpp itself in
tests/test_memory_truth.py (NEW_ARCH_CASES).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from gguf import GGUFWriter

from sizing.errors import SizingError
from sizing.core.memory.kv_cache import estimate_kv_cache
from sizing.live.synthetic import write_synthetic_gguf
from harness.truth_cases import NEW_ARCH_CASES
from sizing.core.arch import ModelArch
from sizing.sources.config_json import arch_from_config
from sizing.sources.gguf_reader import read_gguf
from sizing.core.tensors import tensors_for

_CASES = {c.model: c for c in NEW_ARCH_CASES}


def _arch(model: str) -> ModelArch:
    c = _CASES[model]
    return ModelArch(id=model, name=c.name, source="test", **(c.arch or {}))


@pytest.mark.parametrize("model", sorted(_CASES))
def test_synthetic_header_reads_back_the_same_layers(model, tmp_path):
    """What we write as llama.cpp's converter would, we read back: layer kinds, state, tensors."""
    a = _arch(model)
    path = write_synthetic_gguf(a, "Q8_0", tmp_path / f"{model}.gguf")
    m = read_gguf(path)
    b = m.arch
    assert b.arch == a.arch and b.n_layers == a.n_layers
    assert b.recurrent_layers == a.recurrent_layers
    assert b.recurrent_kind == a.recurrent_kind
    assert b.ffn_only_layers == a.ffn_only_layers
    assert b.attention_flags == a.attention_flags
    assert b.swa_flags == a.swa_flags
    assert {t.name: t.shape for t in m.tensors} == {t.name: t.shape for t in tensors_for(a)}
    for ctx in (1000, 32768):
        assert estimate_kv_cache(b, ctx).parts == estimate_kv_cache(a, ctx).parts


def test_granitehybrid_kv_only_on_attention_layers_plus_recurrent_state(tmp_path):
    """The bug this replaces: a granitehybrid GGUF sized KV for every layer and no state."""
    a = _arch("granitehybrid-shape")
    m = read_gguf(write_synthetic_gguf(a, "Q8_0", tmp_path / "g.gguf"))
    kv = estimate_kv_cache(m.arch, 8192)
    full, rec = kv.part("kv"), kv.part("recurrent")
    assert full.layers == 1 and full.cells == 8192
    # R: (d_conv - 1) x (d_inner + 2 n_group d_state) F32; S: d_state x d_inner F32 per layer
    assert rec.layers == 3 and rec.cells == 1
    assert rec.k_bytes == 3 * 4 * 3 * (3072 + 2 * 128)
    assert rec.v_bytes == 3 * 4 * 128 * 3072
    # the state is per sequence, not per token
    assert estimate_kv_cache(m.arch, 65536).part("recurrent") == rec
    assert estimate_kv_cache(m.arch, 8192, n_parallel=4).part("recurrent").bytes == 4 * rec.bytes


def test_llama4_chunked_attention_caps_three_of_four_layers():
    a = _arch("llama4-shape")
    kv = estimate_kv_cache(a, 131072)
    assert (kv.part("non-swa").layers, kv.part("swa").layers) == (1, 3)
    assert kv.part("swa").cells == 8192 + 512  # chunk + micro-batch, padded to 256
    assert kv.part("non-swa").cells == 131072


def _header(tmp_path, arch: str, kv_heads, ffn=4096, extra=None):
    """A minimal loadable-looking header: a few keys and one tensor."""
    path = tmp_path / f"{arch}.gguf"
    w = GGUFWriter(path, arch)
    w.add_uint32(f"{arch}.block_count", len(kv_heads))
    w.add_uint32(f"{arch}.embedding_length", 1024)
    w.add_uint32(f"{arch}.context_length", 4096)
    w.add_uint32(f"{arch}.attention.head_count", 16)
    w.add_array(f"{arch}.attention.head_count_kv", list(kv_heads))
    w.add_uint32(f"{arch}.feed_forward_length", ffn)
    for k, v in (extra or {}).items():
        w.add_uint32(f"{arch}.{k}", v)
    w.add_tensor("token_embd.weight", np.zeros((32, 1024), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def test_unmodelled_architecture_is_refused_with_the_closest(tmp_path):
    path = _header(tmp_path, "falcon-h1", [8, 8])
    with pytest.raises(SizingError, match=r"'falcon-h1' is not modelled.*closest supported: granitehybrid"):
        read_gguf(path)


def test_per_layer_kv_heads_that_differ_are_refused_not_collapsed(tmp_path):
    path = _header(tmp_path, "llama", [8, 4, 8, 8])
    with pytest.raises(SizingError, match="head_count_kv differs between layers"):
        read_gguf(path)


def test_zero_kv_heads_on_an_attention_only_arch_is_refused(tmp_path):
    path = _header(tmp_path, "llama", [8, 0, 8, 8])
    with pytest.raises(SizingError, match="head_count_kv is 0 on some layers"):
        read_gguf(path)


def test_hybrid_without_its_ssm_keys_is_refused(tmp_path):
    path = _header(tmp_path, "granitehybrid", [0, 0, 0, 4])
    with pytest.raises(SizingError, match=r"ssm\.conv_kernel is missing"):
        read_gguf(path)


def test_cli_refuses_an_unmodelled_gguf_with_exit_2(tmp_path):
    path = _header(tmp_path, "falcon-h1", [8, 8])
    proc = subprocess.run(
        [sys.executable, "-m", "sizing", "estimate", "--model", str(path), "--ctx", "4096"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "falcon-h1" in proc.stderr and "closest supported: granitehybrid" in proc.stderr


QWEN3_NEXT = dict(  # the fields of Qwen/Qwen3-Next-80B-A3B-Instruct's config.json that sizing reads
    model_type="qwen3_next",
    hidden_size=2048,
    num_hidden_layers=48,
    num_attention_heads=16,
    num_key_value_heads=2,
    head_dim=256,
    intermediate_size=5120,
    moe_intermediate_size=512,
    shared_expert_intermediate_size=512,
    num_experts=512,
    num_experts_per_tok=10,
    linear_conv_kernel_dim=4,
    linear_key_head_dim=128,
    linear_value_head_dim=128,
    linear_num_key_heads=16,
    linear_num_value_heads=32,
    vocab_size=151936,
    max_position_embeddings=262144,
    full_attention_interval=4,
    partial_rotary_factor=0.25,
)


def test_qwen3_next_config_every_fourth_layer_attends():
    a = arch_from_config(QWEN3_NEXT, repo_id="q", source="test")
    assert a.arch == "qwen3next" and a.recurrent_kind == "gated_delta"
    assert [i for i, f in enumerate(a.attention_flags) if f] == list(range(3, 48, 4))
    kv = estimate_kv_cache(a, 262144)
    assert kv.part("kv").layers == 12 and kv.part("recurrent").layers == 36
    # per delta-net layer: conv state 3 x (2*16*128 + 32*128), S = 128 x (32*128), F32
    assert kv.part("recurrent").bytes == 36 * 4 * (3 * (4096 + 4096) + 128 * 4096)


def test_unmodelled_model_type_names_the_closest():
    with pytest.raises(SizingError, match=r"'falcon_h1'.*closest supported: granitemoehybrid"):
        arch_from_config({"model_type": "falcon_h1"}, repo_id="x", source="test")


def test_nemotron_h_pattern_gives_mamba_attention_and_ffn_blocks():
    cfg = dict(
        model_type="nemotron_h",
        hidden_size=4480,
        num_hidden_layers=8,
        num_attention_heads=40,
        num_key_value_heads=8,
        head_dim=128,
        intermediate_size=15680,
        mamba_num_heads=128,
        mamba_head_dim=80,
        ssm_state_size=128,
        n_groups=8,
        conv_kernel=4,
        hybrid_override_pattern="M-M-M*-M",
        vocab_size=131072,
        max_position_embeddings=131072,
    )
    a = arch_from_config(cfg, repo_id="n", source="test")
    assert a.recurrent_layers == (0, 2, 4, 7) and a.ffn_only_layers == (1, 3, 6)
    assert [i for i, f in enumerate(a.attention_flags) if f] == [5]
    names = {t.name for t in tensors_for(a)}
    assert "blk.1.ffn_up.weight" in names and "blk.1.attn_q.weight" not in names
    assert "blk.5.attn_q.weight" in names and "blk.5.ffn_up.weight" not in names
    assert "blk.0.ssm_in.weight" in names


def test_gemma4_config_gives_each_layer_kind_its_own_kv_rows(tmp_path):
    """Gemma-4-26B-A4B (config.json as copied by ai-dynamo/aiconfigurator@095f58a51): windowed
    layers cache 8 heads of 256, full ones 2 heads of 512 (V from K, still cached), and a
    GGUF written from it reads back the same."""
    a = arch_from_config(GEMMA4_26B, repo_id="g", source="test")
    assert (a.arch, a.n_kv_heads, a.head_dim_k, a.swa_n_kv_heads, a.swa_head_dim) == ("gemma4", 2, 512, 8, 256)
    assert a.swa_flags.count(False) == 5 and a.extra == {"attention_k_eq_v": True}
    kv = estimate_kv_cache(a, 32768)
    assert kv.part("non-swa").k_bytes == 5 * 32768 * 2 * 512 * 2
    assert kv.part("swa").k_bytes == 25 * kv.part("swa").cells * 8 * 256 * 2
    names = {t.name for t in tensors_for(a)}
    assert "blk.5.attn_v.weight" not in names and "blk.4.attn_v.weight" in names
    six = dict(
        GEMMA4_26B,
        text_config=dict(
            GEMMA4_26B["text_config"], num_hidden_layers=6, layer_types=GEMMA4_26B["text_config"]["layer_types"][:6]
        ),
    )
    a = arch_from_config(six, repo_id="g", source="test")
    b = read_gguf(write_synthetic_gguf(a, "Q8_0", tmp_path / "g4.gguf", n_vocab_tokens=1000)).arch
    assert (b.n_kv_heads, b.swa_n_kv_heads, b.head_dim_k, b.swa_head_dim, b.extra) == (2, 8, 512, 256, a.extra)


GEMMA4_26B = dict(
    model_type="gemma4",
    text_config=dict(
        model_type="gemma4_text",
        attention_k_eq_v=True,
        enable_moe_block=True,
        global_head_dim=512,
        head_dim=256,
        hidden_size=2816,
        hidden_size_per_layer_input=0,
        intermediate_size=2112,
        layer_types=(["sliding_attention"] * 5 + ["full_attention"]) * 5,
        max_position_embeddings=262144,
        moe_intermediate_size=704,
        num_attention_heads=16,
        num_experts=128,
        num_global_key_value_heads=2,
        num_hidden_layers=30,
        num_key_value_heads=8,
        num_kv_shared_layers=0,
        sliding_window=1024,
        tie_word_embeddings=True,
        top_k_experts=8,
        use_double_wide_mlp=False,
        vocab_size=262144,
    ),
)


def test_deepseek_v32_config_adds_the_indexer_and_its_key_cache(tmp_path):
    """DeepSeek-V3.2 (config.json as copied by ai-dynamo/aiconfigurator@095f58a51): MLA plus
    the lightning indexer, whose keys (one head of 128 per token and layer) get a cache
    of their own in the K type, as llama_kv_cache_dsa allocates it."""
    cfg = dict(
        model_type="deepseek_v32",
        hidden_size=7168,
        num_hidden_layers=61,
        num_attention_heads=128,
        num_key_value_heads=128,
        intermediate_size=18432,
        moe_intermediate_size=2048,
        n_routed_experts=256,
        n_shared_experts=1,
        num_experts_per_tok=8,
        first_k_dense_replace=3,
        kv_lora_rank=512,
        q_lora_rank=1536,
        qk_nope_head_dim=128,
        qk_rope_head_dim=64,
        v_head_dim=128,
        index_n_heads=64,
        index_head_dim=128,
        index_topk=2048,
        topk_method="noaux_tc",
        vocab_size=129280,
        max_position_embeddings=163840,
    )
    a = arch_from_config(cfg, repo_id="d", source="test")
    assert a.arch == "deepseek32" and a.is_mla
    kv = estimate_kv_cache(a, 32768, kv_type_k="q8_0")
    assert kv.part("indexer").k_bytes == 61 * 32768 * 128 // 32 * 34
    assert kv.mask_sizes == (32768,)  # the indexer shares the attention mask
    names = {t.name for t in tensors_for(a)}
    assert {"blk.60.indexer.attn_q_b.weight", "blk.0.indexer.k_norm.bias"} <= names
    small = arch_from_config(dict(cfg, num_hidden_layers=4), repo_id="d", source="test")
    b = read_gguf(write_synthetic_gguf(small, "Q8_0", tmp_path / "d.gguf", n_vocab_tokens=1000)).arch
    assert b.arch == "deepseek32" and {k: b.extra[k] for k in ("indexer_n_head", "indexer_head_size")} == {
        "indexer_n_head": 64,
        "indexer_head_size": 128,
    }


def test_deepseek_v32_keeps_its_mtp_block_as_its_gguf_does(tmp_path):
    """llama.cpp's converter keeps DeepSeek-V3.2's multi-token-prediction block
    (DeepseekV32Model: skip_mtp = False, block_count = layers + nextn) and drops
    DeepSeek-V3's (DeepseekV2Model.skip_mtp): sized from config.json, V3.2 carries the block
    (weights, no KV cache), and the total is the checkpoint's 685B rather than 672B."""
    from sizing.core.tensors import param_counts
    from sizing.sources.catalog import load_catalog

    catalog = load_catalog()
    v32, v3 = catalog.get("deepseek-ai/DeepSeek-V3.2"), catalog.get("deepseek-ai/DeepSeek-V3")
    names = {t.name for t in tensors_for(v32)}
    assert {
        "blk.61.nextn.eh_proj.weight",
        "blk.61.nextn.embed_tokens.weight",
        "blk.61.nextn.shared_head_head.weight",
        "blk.61.ffn_gate_exps.weight",
        "blk.61.indexer.attn_q_b.weight",
    } <= names
    assert not any(n.startswith("blk.62.") for n in names)
    assert not any(t.name.startswith("blk.61.") for t in tensors_for(v3))
    assert param_counts(v32)[0] - param_counts(v3)[0] > 13e9  # the MTP block, not the indexer alone
    assert {p.kind: p.layers for p in estimate_kv_cache(v32, 4096).parts} == {"kv": 61, "indexer": 61}

    small = v32.model_copy(update={"n_layers": 4})
    path = write_synthetic_gguf(small, "Q8_0", tmp_path / "d32.gguf", n_vocab_tokens=1000)
    back = read_gguf(path).arch
    assert (back.n_layers, back.extra["nextn_predict_layers"]) == (4, 1)
    assert {t.name for t in tensors_for(back)} >= {"blk.4.nextn.eh_proj.weight", "blk.4.ffn_up_exps.weight"}


def test_nemotron_3_pattern_with_moe_blocks_is_nemotron_h_moe():
    """Nemotron 3 Nano's config is model_type nemotron_h with 'E' (MoE) blocks in its
    pattern; llama.cpp's converter writes it as nemotron_h_moe (catalog entry from
    ai-dynamo/aiconfigurator@095f58a51)."""
    from sizing.sources.catalog import load_catalog

    a = load_catalog().get("nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16")
    assert a.arch == "nemotron_h_moe" and (a.n_experts, a.n_experts_used, a.n_shared_experts) == (128, 6, 1)
    assert (len(a.recurrent_layers), len(a.ffn_only_layers), a.attention_flags.count(True)) == (23, 23, 6)
    names = {t.name for t in tensors_for(a)}
    assert "blk.1.ffn_up_exps.weight" in names and "blk.1.ffn_gate_exps.weight" not in names
    with pytest.raises(SizingError, match="mixes dense"):
        arch_from_config(
            dict(
                model_type="nemotron_h",
                hybrid_override_pattern="M-E*",
                num_hidden_layers=4,
                hidden_size=64,
                num_attention_heads=4,
                intermediate_size=64,
                vocab_size=100,
                max_position_embeddings=64,
                mamba_num_heads=4,
                mamba_head_dim=16,
                ssm_state_size=16,
                n_groups=1,
            ),
            repo_id="n",
            source="test",
        )


def test_a_copied_architecture_recomputes_its_per_layer_views():
    """Truth cases and shrunk models are copies with other layer counts or patterns: a copy
    must not keep the per-layer flags its original had already worked out."""
    from sizing.core.arch import ModelArch
    from sizing.core.memory.kv_cache import estimate_kv_cache
    from sizing.sources.catalog import load_catalog

    base = next(m for m in load_catalog().models if m.sliding_window and m.swa_pattern)
    assert base.swa_flags and base.attention_flags  # worked out on the original first
    for update in ({"n_layers": 3}, {"swa_pattern": base.swa_pattern + 1}, {"swa_layers": (0,)}):
        copy = base.model_copy(update=update)
        fresh = ModelArch(**copy.model_dump())
        assert copy.swa_flags == fresh.swa_flags, update
        assert copy.attention_flags == fresh.attention_flags, update
        assert estimate_kv_cache(copy, 8192).bytes == estimate_kv_cache(fresh, 8192).bytes, update


def _catalog_config(model_id: str, **over):
    from sizing.sources.catalog import load_catalog

    return {**load_catalog().entries[model_id].config, **over}


def test_lfm2_moe_config_gives_dense_then_routed_layers_and_short_convolutions(tmp_path):
    """LFM2-8B-A1B's config.json (the catalog's sourced copy), as LFM2MoeModel in
    convert_hf_to_gguf.py writes it: KV only on its 6 attention layers, a conv state of
    L - 1 = 2 rows of 2048 F32 on the other 18, dense FFNs on the first num_dense_layers
    and 32 routed experts with a score bias after them. A GGUF written from it (cut to 7
    layers) reads back the same; tests/test_memory_truth.py holds that file against llama.cpp."""
    a = arch_from_config(_catalog_config("LiquidAI/LFM2-8B-A1B"), repo_id="l", source="test")
    assert a.arch == "lfm2moe" and a.recurrent_kind == "shortconv" and a.tied_embeddings
    assert [i for i, f in enumerate(a.attention_flags) if f] == [2, 6, 10, 14, 18, 21]
    kv = estimate_kv_cache(a, 32768)
    assert kv.part("kv").layers == 6 and kv.part("kv").cells == 32768
    assert kv.part("recurrent").layers == 18 and kv.part("recurrent").bytes == 18 * 4 * 2 * 2048
    shapes = {t.name: t.shape for t in tensors_for(a)}
    assert shapes["blk.1.ffn_up.weight"] == (2048, 7168) and "blk.1.ffn_gate_inp.weight" not in shapes
    assert shapes["blk.2.ffn_up_exps.weight"] == (2048, 1792, 32) and shapes["blk.2.exp_probs_b.bias"] == (32,)
    assert "blk.2.ffn_up.weight" not in shapes and "blk.3.attn_q.weight" not in shapes
    seven = arch_from_config(
        _catalog_config(
            "LiquidAI/LFM2-8B-A1B",
            num_hidden_layers=7,
            layer_types=["conv", "conv", "full_attention", "conv", "conv", "conv", "full_attention"],
        ),
        repo_id="l",
        source="test",
    )
    m = read_gguf(write_synthetic_gguf(seven, "Q8_0", tmp_path / "lfm2moe.gguf", n_vocab_tokens=1000))
    small = seven.model_copy(update={"vocab_size": 1000})
    assert (m.arch.n_dense_leading_layers, m.arch.recurrent_layers) == (2, seven.recurrent_layers)
    assert {t.name: t.shape for t in m.tensors} == {t.name: t.shape for t in tensors_for(small)}
    assert estimate_kv_cache(m.arch, 8192).parts == estimate_kv_cache(small, 8192).parts


def test_hunyuan_moe_config_takes_one_value_from_its_per_layer_lists(tmp_path):
    """Hunyuan-A13B's config.json (the catalog's sourced copy) gives experts, top-k and
    shared experts per layer; llama.cpp's converter (HunYuanMoEModel) keeps one of each,
    one shared MLP of intermediate_size, and a 256K context for its NTK-alpha RoPE. The
    first release's remote-code spelling, model_type 'hunyuan', is the same model."""
    cfg = _catalog_config("tencent/Hunyuan-A13B-Instruct")
    a = arch_from_config(cfg, repo_id="h", source="test")
    assert (a.arch, a.n_experts, a.n_experts_used, a.expert_ffn_size) == ("hunyuan-moe", 64, 8, 3072)
    assert (a.n_shared_experts, a.shared_expert_ffn_size, a.qk_norm, a.head_dim_k) == (1, 3072, True, 128)
    assert a.max_context == 262144 and a.tied_embeddings
    assert arch_from_config({**cfg, "model_type": "hunyuan"}, repo_id="h", source="test") == a
    shapes = {t.name: t.shape for t in tensors_for(a)}
    assert shapes["blk.31.ffn_gate_shexp.weight"] == (4096, 3072) and shapes["blk.0.attn_k_norm.weight"] == (128,)
    small = arch_from_config(
        {
            **cfg,
            "num_hidden_layers": 4,
            "num_experts": 16,
            "moe_intermediate_size": [3072] * 4,
            "moe_topk": [8] * 4,
            "num_shared_expert": [1] * 4,
        },
        repo_id="h",
        source="test",
    )
    m = read_gguf(write_synthetic_gguf(small, "Q8_0", tmp_path / "hunyuan.gguf", n_vocab_tokens=1000))
    small = small.model_copy(update={"vocab_size": 1000})
    assert (m.arch.max_context, m.arch.n_shared_experts, m.arch.shared_expert_ffn_size) == (262144, 1, 3072)
    assert {t.name: t.shape for t in m.tensors} == {t.name: t.shape for t in tensors_for(small)}
    assert estimate_kv_cache(m.arch, 8192).parts == estimate_kv_cache(small, 8192).parts


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"use_cla": True, "cla_share_factor": 2}, "cross-layer attention"),
        ({"num_shared_expert": [2] * 32}, "num_shared_expert is 2"),
        ({"moe_topk": [8] * 31 + [4]}, "'moe_topk' differs between layers"),
        ({"moe_intermediate_size": [3072] * 31}, "one per layer \\(32\\)"),
        ({"use_qk_norm": False}, "use_qk_norm"),
    ],
)
def test_hunyuan_configs_llama_cpp_cannot_run_are_refused(change, message):
    with pytest.raises(SizingError, match=message):
        arch_from_config(_catalog_config("tencent/Hunyuan-A13B-Instruct", **change), repo_id="h", source="test")


def test_the_dense_hunyuan_is_refused_with_the_closest():
    cfg = _catalog_config("tencent/Hunyuan-A13B-Instruct", model_type="hunyuan_v1_dense")
    with pytest.raises(SizingError, match=r"'hunyuan_v1_dense'.*closest supported: qwen3"):
        arch_from_config(cfg, repo_id="h", source="test")


def test_an_all_attention_granitemoehybrid_config_is_refused_as_the_granite_it_converts_to():
    """Granite 4.0 Micro ships a granitemoehybrid config whose every layer attends; llama.cpp's
    converter writes that as `granite`, which is not modelled: refused, not sized as a hybrid."""
    from sizing.sources.catalog import load_catalog

    cfg = dict(load_catalog().entry("ibm-granite/granite-4.0-h-tiny").config)
    assert arch_from_config(cfg, repo_id="ibm-granite/granite-4.0-h-tiny", source="test").recurrent_layers
    cfg["layer_types"] = ["attention"] * cfg["num_hidden_layers"]
    with pytest.raises(SizingError, match=r"no mamba layers.*'granite'.*closest supported: llama"):
        arch_from_config(cfg, repo_id="ibm-granite/granite-4.0-micro", source="test")

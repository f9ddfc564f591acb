"""Tensors a model ships already quantized (gpt-oss's MXFP4 experts) keep their type.

The published gpt-oss GGUFs (ggml-org, unsloth, bartowski, lmstudio-community) keep the
experts in MXFP4 whatever the file's label; their sizes are checked in test_quant.py
against tests/data/published_sizes.yaml. Here: the rule itself, its requantized variant,
where it comes from (the release's config.json), and that a GGUF header still wins.
"""

from __future__ import annotations

import pytest

from sizing.errors import SizingError
from sizing.estimate import estimate
from sizing.sources.catalog import load_catalog
from sizing.sources.config_json import arch_from_config
from sizing.core.tensors import tensors_for
from sizing.core.quant import apply_recipe, file_quant, split_quant, weights_bytes


@pytest.fixture(scope="module")
def oss20():
    return load_catalog().get("openai/gpt-oss-20b")


def _types(arch, quant):
    return {t.name: t.ggml_type for t in apply_recipe(arch, tensors_for(arch), quant)}


@pytest.mark.parametrize("quant", ["F16", "BF16", "Q8_0", "Q4_K_M", "Q2_K", "MXFP4"])
def test_gpt_oss_experts_stay_mxfp4_under_every_quant(oss20, quant):
    types = _types(oss20, quant)
    experts = {n: t for n, t in types.items() if "_exps.weight" in n}
    assert experts and set(experts.values()) == {"MXFP4"}
    # the rest follows the quant's own recipe
    if quant == "F16":
        assert types["blk.0.attn_q.weight"] == "F16"


def test_requantized_variant_is_its_own_choice(oss20):
    types = _types(oss20, "Q8_0+requant")
    assert {t for n, t in types.items() if "_exps.weight" in n} == {"Q8_0"}
    native, requant = weights_bytes(oss20, "Q8_0"), weights_bytes(oss20, "Q8_0+requant")
    # one publisher's requantized 20B Q8_0 is 22.3 GB, the usual one 12.1 GB
    assert requant / 1e9 == pytest.approx(22.3, rel=0.01)
    assert native / 1e9 == pytest.approx(12.1, rel=0.01)


def test_quant_names_with_the_variant():
    assert file_quant("q8_0+REQUANT") == "Q8_0+requant"
    assert split_quant("Q4_K_M+requant") == ("Q4_K_M", True)
    assert split_quant("Q4_K_M") == ("Q4_K_M", False)
    with pytest.raises(SizingError, match="unknown quant"):
        file_quant("Q8_0+fast")


def test_native_types_come_from_the_release_config(oss20):
    assert oss20.native_types == (("_exps.weight", "MXFP4"),)
    cfg = {
        "model_type": "gpt_oss",
        "hidden_size": 64,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "vocab_size": 256,
        "max_position_embeddings": 4096,
        "num_local_experts": 4,
        "num_experts_per_tok": 2,
    }
    plain = arch_from_config(cfg, repo_id="x/bf16-oss", source="test")
    assert plain.native_types == ()
    mx = arch_from_config({**cfg, "quantization_config": {"quant_method": "mxfp4"}}, repo_id="x/oss", source="test")
    assert mx.native_types == (("_exps.weight", "MXFP4"),)


def test_the_answer_says_so(oss20):
    est = estimate(oss20, "Q8_0", 4096)
    assert any("MXFP4" in w and "Q8_0+requant" in w for w in est.warnings)
    assert "MXFP4" in est.basis[0].method


def test_a_gguf_header_is_the_truth(tmp_path, oss20):
    """A file that did requantize its experts is sized by its header, not by the rule."""
    from sizing.live.synthetic import write_synthetic_gguf

    small = oss20.model_copy(update={"n_layers": 2, "swa_pattern": 2})
    path = write_synthetic_gguf(small, "Q8_0+requant", tmp_path / "oss-requant.gguf", n_vocab_tokens=512)
    # (a GPU backend: on the CPU the repacked second copy of MXFP4 would blur the comparison)
    from_file = estimate(str(path), None, 1024, backend="cuda")
    by_rule = estimate(small.model_copy(update={"vocab_size": 512}), "Q8_0", 1024, backend="cuda")
    requant = estimate(small.model_copy(update={"vocab_size": 512}), "Q8_0+requant", 1024, backend="cuda")
    assert from_file.weights_bytes == requant.weights_bytes
    assert from_file.weights_bytes > 1.5 * by_rule.weights_bytes
    assert not any("MXFP4" in w for w in from_file.warnings)

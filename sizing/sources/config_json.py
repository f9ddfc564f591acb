"""Hugging Face ``config.json`` → ``ModelArch``, the way llama.cpp would see that model.

One converter serves the embedded catalog (which stores each model's published
``config.json`` fields verbatim), a config fetched from the Hub, and a local file, so a
number can only be read one way.

The result describes what llama.cpp *runs*, not everything the checkpoint declares:
- ``model_type`` maps to llama.cpp's ``general.architecture`` (Mistral and Mixtral
  convert to ``llama``; DeepSeek-V2/V3 to ``deepseek2``).
- A sliding window is kept only where llama.cpp implements it for that architecture
  (Gemma-2/3, gpt-oss). Mistral-v0.1's window is ignored by llama.cpp's ``llama``
  graph, Phi-3's is switched off by llama.cpp, and Qwen2/3 configs carry a
  ``sliding_window`` that ``use_sliding_window: false`` disables.
- Absent fields take the defaults of the matching ``transformers`` config class (some
  published configs, e.g. Gemma-3's multimodal ``text_config``, rely on them); a field
  with no default is an error that names it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sizing.errors import SizingError
from sizing.core.arch import ModelArch

#: Hugging Face ``model_type`` → llama.cpp ``general.architecture``.
ARCH_BY_MODEL_TYPE: dict[str, str] = {
    "llama": "llama",
    "mistral": "llama",
    "mixtral": "llama",
    "qwen2": "qwen2",
    "qwen2_moe": "qwen2moe",
    "qwen3": "qwen3",
    "qwen3_moe": "qwen3moe",
    "gemma": "gemma",
    "gemma2": "gemma2",
    "gemma3": "gemma3",
    "gemma3_text": "gemma3",
    "phi3": "phi3",
    "deepseek_v2": "deepseek2",
    "deepseek_v3": "deepseek2",
    "deepseek_v32": "deepseek32",
    "gpt_oss": "gpt-oss",
    "smollm3": "smollm3",
    "mistral3": "mistral3",
    "seed_oss": "seed_oss",
    "llama4": "llama4",
    "llama4_text": "llama4",
    "glm4_moe": "glm4moe",
    "qwen3_next": "qwen3next",
    "qwen3_vl": "qwen3vl",
    "qwen3_vl_text": "qwen3vl",
    "qwen3_vl_moe": "qwen3vlmoe",
    "qwen3_vl_moe_text": "qwen3vlmoe",
    "granitemoehybrid": "granitehybrid",
    "nemotron_h": "nemotron_h",
    "lfm2": "lfm2",
    "lfm2_moe": "lfm2moe",
    "ernie4_5_moe": "ernie4_5-moe",
    "hunyuan_v1_moe": "hunyuan-moe",
    "minimax_m2": "minimax-m2",
    "gemma3n": "gemma3n",
    "gemma3n_text": "gemma3n",
    "qwen3_5": "qwen35",
    "qwen3_5_text": "qwen35",
    "qwen3_5_moe": "qwen35moe",
    "qwen3_5_moe_text": "qwen35moe",
    "gemma4": "gemma4",
    "gemma4_text": "gemma4",
}

#: Hugging Face model_type of a family we do not model -> the closest one we do
_CLOSEST_TYPE: dict[str, str] = {
    "granitemoe": "qwen3_moe",
    "granite": "llama",
    "mamba2": "granitemoehybrid",
    "falcon_h1": "granitemoehybrid",
    "glm4": "glm4_moe",
    "hunyuan_v1_dense": "qwen3",
}

#: the context llama.cpp's converter writes for Hunyuan's NTK-alpha RoPE ("256K", whatever
#: max_position_embeddings says: HunYuanMoEModel.set_gguf_parameters)
HUNYUAN_DYNAMIC_CONTEXT = 256 * 1024

#: model_types whose checkpoints are another type's architecture under a new name. Kimi K2
#: ships ``"model_type": "kimi_k2"`` on DeepseekV3ForCausalLM weights; its deployment guide
#: (moonshotai/Kimi-K2 docs/deploy_guidance.md) says setting it to ``deepseek_v3`` runs it.
SAME_ARCHITECTURE: dict[str, str] = {"kimi_k2": "deepseek_v3"}

#: (model_type, architectures entry) of remote-code configs that name a family we model by
#: another model_type. Tencent's first Hunyuan-A13B config says ``"model_type": "hunyuan"``
#: for the dense and the MoE checkpoints alike; llama.cpp's converter goes by the
#: architecture, and HunYuanMoEV1ForCausalLM is transformers' hunyuan_v1_moe.
_BY_ARCHITECTURE: dict[tuple[str, str], str] = {("hunyuan", "HunYuanMoEV1ForCausalLM"): "hunyuan_v1_moe"}

# Defaults of the transformers config classes (transformers 4.5x/5.x
# ``configuration_<type>.py``) for fields a published config may omit. Only fields that
# real configs leave out are listed; anything else missing is an error.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "llama": {"tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False},
    "mistral": {"tie_word_embeddings": False},
    "mixtral": {"tie_word_embeddings": False, "num_local_experts": 8, "num_experts_per_tok": 2},
    "qwen2": {"tie_word_embeddings": False},
    "qwen2_moe": {"tie_word_embeddings": False, "decoder_sparse_step": 1, "mlp_only_layers": []},
    "qwen3": {"tie_word_embeddings": False, "attention_bias": False},
    "qwen3_moe": {
        "tie_word_embeddings": False,
        "attention_bias": False,
        "decoder_sparse_step": 1,
        "mlp_only_layers": [],
    },
    "gemma": {"tie_word_embeddings": True, "head_dim": 256},
    "gemma2": {"tie_word_embeddings": True, "head_dim": 256, "sliding_window": 4096},
    # Gemma3TextConfig(): Gemma-3 4B/12B/27B publish a text_config that relies on these.
    "gemma3_text": {
        "tie_word_embeddings": True,
        "vocab_size": 262208,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "max_position_embeddings": 131072,
        "sliding_window": 4096,
        "sliding_window_pattern": 6,
    },
    "phi3": {"tie_word_embeddings": False},
    "deepseek_v2": {"tie_word_embeddings": False, "first_k_dense_replace": 0, "n_shared_experts": 0},
    "deepseek_v3": {"tie_word_embeddings": False, "first_k_dense_replace": 3, "n_shared_experts": 1},
    "deepseek_v32": {"tie_word_embeddings": False, "first_k_dense_replace": 3, "n_shared_experts": 1},
    "gpt_oss": {"tie_word_embeddings": False, "attention_bias": True, "sliding_window": 128},
    "smollm3": {"tie_word_embeddings": True, "attention_bias": False},
    "seed_oss": {"tie_word_embeddings": False},
    "llama4_text": {"tie_word_embeddings": False, "interleave_moe_layer_step": 1, "head_dim": 128},
    "glm4_moe": {
        "tie_word_embeddings": False,
        "first_k_dense_replace": 1,
        "n_shared_experts": 1,
        "attention_bias": False,
        "use_qk_norm": False,
        "partial_rotary_factor": 0.5,
    },
    "qwen3_next": {"tie_word_embeddings": False, "full_attention_interval": 4, "linear_conv_kernel_dim": 4},
    "qwen3_5_text": {"tie_word_embeddings": False, "full_attention_interval": 4, "linear_conv_kernel_dim": 4},
    "qwen3_5_moe_text": {
        "tie_word_embeddings": False,
        "full_attention_interval": 4,
        "linear_conv_kernel_dim": 4,
        "intermediate_size": 0,
    },  # every layer is MoE: no dense FFN width
    "qwen3_vl_text": {"tie_word_embeddings": False, "attention_bias": False},
    "qwen3_vl_moe_text": {"tie_word_embeddings": False, "attention_bias": False},
    "granitemoehybrid": {
        "tie_word_embeddings": False,
        "mamba_d_conv": 4,
        "mamba_n_groups": 1,
        "mamba_conv_bias": True,
        "shared_intermediate_size": 0,
        "num_local_experts": 0,
    },
    "nemotron_h": {"tie_word_embeddings": False, "conv_kernel": 4},
    "lfm2": {"tie_word_embeddings": True, "conv_L_cache": 3},
    # Lfm2MoeConfig(): LFM2-8B-A1B's config gives neither tie_word_embeddings nor tie_embedding
    "lfm2_moe": {"tie_word_embeddings": True},
    "ernie4_5_moe": {
        "tie_word_embeddings": True,
        "moe_num_shared_experts": 0,
        "moe_layer_start_index": 0,
        "moe_layer_interval": 1,
        "use_bias": False,
    },
    "minimax_m2": {"tie_word_embeddings": False, "use_qk_norm": True},
    "gemma4_text": {
        "tie_word_embeddings": True,
        "attention_k_eq_v": False,
        "num_kv_shared_layers": 0,
        "hidden_size_per_layer_input": 0,
        "enable_moe_block": False,
        "use_double_wide_mlp": False,
    },
    "gemma3n_text": {
        "tie_word_embeddings": True,
        "altup_num_inputs": 4,
        "laurel_rank": 64,
        "hidden_size_per_layer_input": 256,
        "sliding_window": 512,
    },
}

# llama.cpp architectures whose graphs use a sliding-window KV cache, with the layer
# pattern llama.cpp hard-codes when the config gives no per-layer list
# (``hparams.set_swa_pattern(n)`` in llama-model.cpp).
_SWA_PATTERN: dict[str, int] = {"gemma2": 2, "gemma3": 6, "gpt-oss": 2}


#: multimodal configs that nest the language model in text_config, with its default type
_NESTED_TEXT = {
    "gemma3": "gemma3_text",
    "gemma3n": "gemma3n_text",
    "gemma4": "gemma4_text",
    "qwen3_5": "qwen3_5_text",
    "qwen3_5_moe": "qwen3_5_moe_text",
    "llama4": "llama4_text",
    "mistral3": "mistral3",
    "qwen3_vl": "qwen3_vl_text",
    "qwen3_vl_moe": "qwen3_vl_moe_text",
}


def _text_config(config: dict[str, Any]) -> dict[str, Any]:
    """The language-model part of a config (multimodal models nest it in text_config)."""
    outer = config.get("model_type")
    if outer in _NESTED_TEXT and isinstance(config.get("text_config"), dict):
        text = dict(config["text_config"])
        inner = text.get("model_type")
        # Mistral-3 nests a plain "mistral" text model; llama.cpp names the whole "mistral3"
        if outer == "mistral3" or not inner:
            text["model_type"] = _NESTED_TEXT[outer]
        return text
    return config


def _tied(cfg: dict[str, Any], get) -> bool:
    """tie_word_embeddings; Liquid's configs spell it tie_embedding, which Lfm2Config and
    Lfm2MoeConfig take over the other."""
    if cfg.get("tie_embedding") is not None:
        return bool(cfg["tie_embedding"])
    return bool(get("tie_word_embeddings", default=False))


def _ffn_width(v: Any, source: str) -> int:
    """intermediate_size: one width, or one per layer (Gemma-3n) that must all agree."""
    if isinstance(v, list) and v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        if len(set(v)) > 1:
            raise SizingError(
                f"{source}: config field 'intermediate_size' differs between layers "
                f"({', '.join(map(str, sorted(set(v))))}); that is not modelled"
            )
        return v[0]
    if isinstance(v, bool) or not isinstance(v, int):
        raise SizingError(f"{source}: config field 'intermediate_size' must be an integer, got {v!r}")
    return v


def _layer_types(cfg: dict[str, Any], key: str, n_layers: int, source: str) -> list[str]:
    v = cfg.get(key)
    if not isinstance(v, list) or len(v) != n_layers or not all(isinstance(x, str) for x in v):
        raise SizingError(f"{source}: config field {key!r} must list one layer type per layer ({n_layers})")
    return v


def _swa_from_layer_types(layer_types: list[str], n_layers: int) -> tuple[int, ...]:
    if len(layer_types) != n_layers:
        raise SizingError(
            f"config field 'layer_types' has {len(layer_types)} entries but num_hidden_layers is {n_layers}"
        )
    return tuple(i for i, t in enumerate(layer_types) if t == "sliding_attention")


def _pattern_of(flags: tuple[bool, ...]) -> int | None:
    """The llama.cpp ``set_swa_pattern`` n that reproduces these per-layer flags, if any."""
    n_layers = len(flags)
    for n in range(1, n_layers + 1):
        if all((i % n < n - 1) == f for i, f in enumerate(flags)):
            return n
    if all(flags):
        return 0
    return None


def arch_from_config(
    config: dict[str, Any], *, repo_id: str, source: str, name: str | None = None, aliases: tuple[str, ...] = ()
) -> ModelArch:
    """Build the ``ModelArch`` llama.cpp would run for a Hugging Face ``config.json``.

    ``repo_id`` becomes the model id, ``source`` says where the config came from.
    Raises ``SizingError`` naming the field for an unsupported ``model_type`` or a
    missing/invalid field.
    """
    if not isinstance(config, dict):
        raise SizingError(f"{source}: config.json must be a JSON object")
    outer_type = config.get("model_type")
    if outer_type is None:
        raise SizingError(f"{source}: config field 'model_type' is missing")
    cfg = _text_config(config)
    model_type = str(cfg.get("model_type", outer_type))
    model_type = SAME_ARCHITECTURE.get(model_type, model_type)
    declared = config.get("architectures")
    for a in declared if isinstance(declared, list) else ():
        model_type = _BY_ARCHITECTURE.get((model_type, str(a)), model_type)
    arch = ARCH_BY_MODEL_TYPE.get(model_type)
    if arch is None:
        import difflib

        closest = _CLOSEST_TYPE.get(str(model_type)) or next(
            iter(difflib.get_close_matches(str(model_type), list(ARCH_BY_MODEL_TYPE), n=1, cutoff=0.0)), "llama"
        )
        raise SizingError(
            f"{source}: config field 'model_type' is {model_type!r}, which is not modelled here "
            f"(closest supported: {closest})"
        )
    defaults = _DEFAULTS.get(model_type, {})

    def get(key: str, *alts: str, default: Any = ...) -> Any:
        for k in (key, *alts):
            if cfg.get(k) is not None:
                return cfg[k]
        if key in defaults:
            return defaults[key]
        if default is not ...:
            return default
        raise SizingError(f"{source}: config field {key!r} is missing (model_type {model_type!r})")

    def get_int(key: str, *alts: str, default: Any = ...) -> int:
        v = get(key, *alts, default=default)
        if isinstance(v, bool) or not isinstance(v, int):
            raise SizingError(f"{source}: config field {key!r} must be an integer, got {v!r}")
        return v

    n_layers = get_int("num_hidden_layers", "n_layer", "num_layers")
    hidden = get_int("hidden_size", "d_model", "n_embd")
    n_heads = get_int("num_attention_heads", "n_head")
    if n_heads <= 0 or hidden <= 0 or n_layers <= 0:
        raise SizingError(f"{source}: num_hidden_layers, hidden_size and num_attention_heads must be > 0")
    n_kv = get_int("num_key_value_heads", default=n_heads)
    head_dim = get("head_dim", "attention_head_dim", default=None)
    if head_dim is not None and (isinstance(head_dim, bool) or not isinstance(head_dim, int)):
        raise SizingError(f"{source}: config field 'head_dim' must be an integer, got {head_dim!r}")
    if head_dim is None:
        if hidden % n_heads:
            raise SizingError(
                f"{source}: config field 'head_dim' is missing and hidden_size {hidden} "
                f"is not divisible by num_attention_heads {n_heads}"
            )
        head_dim = hidden // n_heads
    head_dim_k = head_dim_v = int(head_dim)

    fields: dict[str, Any] = dict(
        id=repo_id,
        name=name or repo_id.rsplit("/", 1)[-1],
        arch=arch,
        source=source,
        aliases=tuple(aliases),
        n_layers=n_layers,
        hidden_size=hidden,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        ffn_size=_ffn_width(get("intermediate_size", "block_ff_dim"), source),
        vocab_size=get_int("vocab_size"),
        tied_embeddings=_tied(cfg, get),
        max_context=get_int("max_position_embeddings"),
        attn_qkv_bias=bool(get("attention_bias", default=False)),
        attn_out_bias=False,
    )
    if model_type == "llama" and get("mlp_bias", default=False):
        raise SizingError(f"{source}: config field 'mlp_bias' true is not supported for llama models")

    # --- architecture-specific small tensors --------------------------------------------
    if model_type in ("qwen2", "qwen2_moe"):
        fields["attn_qkv_bias"] = True  # Qwen2 always has q/k/v biases (not a config field)
    if model_type in ("llama", "mistral", "mixtral", "gpt_oss"):
        # llama.cpp loads bq/bk/bv and bo together when the checkpoint has attention biases
        fields["attn_out_bias"] = fields["attn_qkv_bias"]
    if model_type in (
        "qwen3",
        "qwen3_moe",
        "gemma3_text",
        "gemma3n_text",
        "gemma4_text",
        "qwen3_next",
        "qwen3_5_text",
        "qwen3_5_moe_text",
        "lfm2",
        "lfm2_moe",
        "hunyuan_v1_moe",
        "qwen3_vl_text",
        "qwen3_vl_moe_text",
    ) or (model_type == "glm4_moe" and get("use_qk_norm")):
        fields["qk_norm"] = True
    if model_type in ("gemma2", "gemma3_text", "gemma3n_text", "gemma4_text"):
        fields["post_norms"] = True
    if model_type == "gpt_oss":
        fields["attn_sinks"] = True
        fields["expert_bias"] = True
    qc = cfg.get("quantization_config") or config.get("quantization_config")
    if isinstance(qc, dict) and str(qc.get("quant_method", "")).lower() == "mxfp4":
        # the release's experts are MXFP4 (everything in modules_to_not_convert is not):
        # convert_hf_to_gguf.py writes them unchanged as ggml MXFP4
        fields["native_types"] = (("_exps.weight", "MXFP4"),)

    # --- mixture of experts --------------------------------------------------------------
    n_experts = get("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts", default=0) or 0
    if model_type in ("nemotron_h", "lfm2"):
        n_experts = 0  # their MoE variants are other model types
    if model_type == "hunyuan_v1_moe":
        n_experts = 0  # per-layer lists: read in _new_families
    if model_type == "gemma4_text" and not get("enable_moe_block"):
        n_experts = 0
    if model_type in ("mixtral", "gpt_oss"):
        n_experts = get_int("num_local_experts")
    if n_experts:
        fields["n_experts"] = int(n_experts)
        fields["n_experts_used"] = get_int("num_experts_per_tok", "experts_per_token", "moe_k", "top_k_experts")
        if model_type in ("mixtral", "gpt_oss", "granitemoehybrid", "llama4_text", "minimax_m2"):
            fields["expert_ffn_size"] = get_int("intermediate_size")
        else:
            fields["expert_ffn_size"] = get_int("moe_intermediate_size")
        if model_type in ("qwen2_moe", "qwen3_next", "qwen3_5_moe_text"):
            shared = get_int("shared_expert_intermediate_size", default=0)
            if shared:
                fields["n_shared_experts"] = 1
                fields["shared_expert_ffn_size"] = shared
        if model_type in ("deepseek_v2", "deepseek_v3", "deepseek_v32", "glm4_moe"):
            n_shared = get_int("n_shared_experts")
            if n_shared:
                fields["n_shared_experts"] = n_shared
                fields["shared_expert_ffn_size"] = fields["expert_ffn_size"]
            fields["n_dense_leading_layers"] = get_int("first_k_dense_replace")
        if model_type in ("qwen2_moe", "qwen3_moe"):
            if get("mlp_only_layers") or get_int("decoder_sparse_step") != 1:
                raise SizingError(
                    f"{source}: config fields 'mlp_only_layers'/'decoder_sparse_step' give "
                    "a dense/MoE interleave llama.cpp does not support"
                )

    # --- multi-head latent attention -------------------------------------------------------
    if model_type in ("deepseek_v2", "deepseek_v3", "deepseek_v32"):
        rope = get_int("qk_rope_head_dim")
        nope = get_int("qk_nope_head_dim")
        fields.update(
            q_lora_rank=get("q_lora_rank", default=None) or 0,
            kv_lora_rank=get_int("kv_lora_rank"),
            qk_rope_head_dim=rope,
            qk_nope_head_dim=nope,
            head_dim_k=nope + rope,
            head_dim_v=get_int("v_head_dim"),
        )
        head_dim_k, head_dim_v = fields["head_dim_k"], fields["head_dim_v"]
        if cfg.get("num_nextn_predict_layers"):
            # multi-token-prediction layers: llama.cpp's converter drops them for deepseek2
            # (DeepseekV2Model.skip_mtp) and keeps them for deepseek32 (sizing.core.tensors)
            fields["extra"] = {"nextn_predict_layers": int(cfg["num_nextn_predict_layers"])}
        if cfg.get("topk_method") == "noaux_tc":
            fields["expert_score_bias"] = True  # e_score_correction_bias → exp_probs_b
        if model_type == "deepseek_v32":  # the lightning indexer's heads (DSA)
            fields["extra"] = {
                **fields.get("extra", {}),
                "indexer_n_head": get_int("index_n_heads"),
                "indexer_head_size": get_int("index_head_dim"),
                "indexer_top_k": get_int("index_topk"),
            }
    if model_type == "glm4_moe" and n_experts:
        fields["expert_score_bias"] = True  # e_score_correction_bias, as DeepSeek-V3
    fields["head_dim_k"], fields["head_dim_v"] = head_dim_k, head_dim_v

    # --- 2025-26 families: MoE interleave, hybrid layers ---------------------------------
    _new_families(model_type, cfg, fields, get, get_int, n_layers, source)

    # --- RoPE tensors llama.cpp's converter adds ------------------------------------------
    rope_scaling = cfg.get("rope_scaling")
    rope_type = None
    if isinstance(rope_scaling, dict):
        rope_type = rope_scaling.get("rope_type") or rope_scaling.get("type")
    if arch == "llama" and rope_type == "llama3":
        fields["rope_factor_tensors"] = ("rope_freqs",)  # Llama-3.1 frequency factors
    if arch == "phi3" and rope_type in ("longrope", "su"):
        fields["rope_factor_tensors"] = ("rope_factors_long", "rope_factors_short")
    partial = cfg.get("partial_rotary_factor")
    if partial is None and isinstance(cfg.get("rope_parameters"), dict):
        partial = cfg["rope_parameters"].get("partial_rotary_factor")
    if partial and partial != 1 and arch not in ("deepseek2", "deepseek32"):
        fields["rope_dim"] = int(head_dim_k * float(partial))

    # --- sliding-window attention ----------------------------------------------------------
    if arch in _SWA_PATTERN:
        window = get("sliding_window", default=None)
        if window:
            fields["sliding_window"] = int(window)
            layer_types = cfg.get("layer_types")
            if layer_types:
                swa = _swa_from_layer_types(list(layer_types), n_layers)
                flags = tuple(i in set(swa) for i in range(n_layers))
                pattern = _pattern_of(flags)
                if not swa:
                    del fields["sliding_window"]  # every layer is global
                elif pattern is not None:
                    fields["swa_pattern"] = pattern
                else:
                    fields["swa_layers"] = swa
            elif model_type == "gemma3_text":
                fields["swa_pattern"] = get_int("sliding_window_pattern")
            else:
                fields["swa_pattern"] = _SWA_PATTERN[arch]

    try:
        return ModelArch(**fields)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "config"
        raise SizingError(f"{source}: invalid architecture ({loc}: {err['msg']})") from None


def arch_from_path(path: str | Path) -> ModelArch:
    """Read a local ``config.json`` (or a model folder holding one) into a ``ModelArch``."""
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
        if not p.is_file():
            raise SizingError(f"{path}: folder has no config.json")
    if not p.is_file():
        raise SizingError(f"{path}: no such file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SizingError(f"{p}: cannot read config.json ({e})") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as e:
        raise SizingError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None
    name = p.parent.name or p.stem
    return arch_from_config(config, repo_id=name, source=str(p.resolve()), name=name)


def _new_families(
    model_type: str, cfg: dict[str, Any], fields: dict[str, Any], get, get_int, n_layers: int, source: str
) -> None:
    """Fields of the 2025-26 families, as llama.cpp's converter (convert_hf_to_gguf.py)
    turns their configs into GGUF keys and llama.cpp's loader reads them back."""
    if model_type == "llama4_text":
        # experts are `intermediate_size` wide with one shared expert of that width; the
        # dense layers between MoE ones use `intermediate_size_mlp`; chunked attention of
        # 8192 tokens on 3 of 4 layers (src/models/llama4.cpp)
        fields["ffn_size"] = get_int("intermediate_size_mlp")
        fields["n_shared_experts"] = 1
        fields["shared_expert_ffn_size"] = get_int("intermediate_size")
        fields["moe_layer_step"] = get_int("interleave_moe_layer_step")
        fields["sliding_window"], fields["swa_pattern"] = 8192, 4
    elif model_type == "granitemoehybrid":
        types = _layer_types(cfg, "layer_types", n_layers, source)
        fields["recurrent_layers"] = tuple(i for i, t in enumerate(types) if t == "mamba")
        if not fields["recurrent_layers"]:
            # GraniteHybridModel in convert_hf_to_gguf.py writes a config without Mamba layers
            # (Granite 4.0 Micro, 1B, 350M) as llama.cpp's `granite` (`granitemoe` with experts)
            raise SizingError(
                f"{source}: a granitemoehybrid config with no mamba layers converts to llama.cpp's "
                "'granite' architecture, which is not modelled here (closest supported: llama)"
            )
        heads, dhead = get_int("mamba_n_heads"), get_int("mamba_d_head")
        fields.update(
            recurrent_kind="mamba2",
            ssm_d_state=get_int("mamba_d_state"),
            ssm_d_conv=get_int("mamba_d_conv"),
            ssm_d_inner=heads * dhead,
            ssm_n_group=get_int("mamba_n_groups"),
            ssm_dt_rank=heads,
        )
        shared = get_int("shared_intermediate_size")
        if fields.get("n_experts"):
            if shared:
                fields.update(n_shared_experts=1, shared_expert_ffn_size=shared)
        else:
            fields["ffn_size"] = shared or fields["ffn_size"]
    elif model_type == "nemotron_h":
        # the pattern: M Mamba-2, * attention, - dense FFN, E MoE FFN (Nemotron 3, which
        # llama.cpp's converter writes as nemotron_h_moe)
        pattern = get("hybrid_override_pattern")
        if not isinstance(pattern, str) or len(pattern) != n_layers or set(pattern) - set("M*-E"):
            raise SizingError(
                f"{source}: config field 'hybrid_override_pattern' must give one of "
                f"M, *, - or E for each of the {n_layers} layers"
            )
        if "E" in pattern:
            if "-" in pattern:
                raise SizingError(
                    f"{source}: 'hybrid_override_pattern' mixes dense (-) and MoE (E) FFN "
                    "blocks; llama.cpp's nemotron_h_moe has MoE ones only"
                )
            fields.update(
                arch="nemotron_h_moe",
                n_experts=get_int("n_routed_experts"),
                n_experts_used=get_int("num_experts_per_tok"),
                expert_ffn_size=get_int("moe_intermediate_size"),
                expert_score_bias=True,
                n_shared_experts=1,
                shared_expert_ffn_size=get_int("moe_shared_expert_intermediate_size"),
            )
        heads, dhead = get_int("mamba_num_heads"), get_int("mamba_head_dim")
        fields.update(
            recurrent_kind="mamba2",
            ffn_activation="plain",
            recurrent_layers=tuple(i for i, c in enumerate(pattern) if c == "M"),
            ffn_only_layers=tuple(i for i, c in enumerate(pattern) if c in "-E"),
            ssm_d_state=get_int("ssm_state_size"),
            ssm_d_conv=get_int("conv_kernel"),
            ssm_d_inner=heads * dhead,
            ssm_n_group=get_int("n_groups"),
            ssm_dt_rank=heads,
        )
    elif model_type in ("qwen3_next", "qwen3_5_text", "qwen3_5_moe_text"):
        n = get_int("full_attention_interval")
        nk, nv = get_int("linear_num_key_heads"), get_int("linear_num_value_heads")
        dk, dv = get_int("linear_key_head_dim"), get_int("linear_value_head_dim")
        if dk != dv:
            raise SizingError(
                f"{source}: linear_key_head_dim {dk} != linear_value_head_dim {dv}: "
                "llama.cpp's qwen3next needs them equal"
            )
        fields.update(
            recurrent_kind="gated_delta",
            recurrent_layers=tuple(i for i in range(n_layers) if (i + 1) % n != 0),
            ssm_d_state=dk,
            ssm_d_conv=get_int("linear_conv_kernel_dim"),
            ssm_d_inner=dv * nv,
            ssm_n_group=nk,
            ssm_dt_rank=nv,
        )
    elif model_type == "lfm2":
        idxs = cfg.get("full_attn_idxs")
        if "layer_types" not in cfg and isinstance(idxs, list):
            # the first LFM2 configs list the attention layers only; transformers'
            # Lfm2Config turns them into layer_types the same way
            if not all(isinstance(i, int) and 0 <= i < n_layers for i in idxs):
                raise SizingError(f"{source}: config field 'full_attn_idxs' must list layer indices below {n_layers}")
            types = ["full_attention" if i in idxs else "conv" for i in range(n_layers)]
        else:
            types = _layer_types(cfg, "layer_types", n_layers, source)
        ff = get_int("block_ff_dim", "intermediate_size")
        if get("block_auto_adjust_ff_dim", default=False):
            # LFM2's own sizing rule (modeling_lfm2.py): 2/3 of the width, times the
            # multiplier, rounded up to a multiple of block_multiple_of
            ff = int(2 * ff / 3)
            mult = get("block_ffn_dim_multiplier", default=None)
            if mult:
                ff = int(float(mult) * ff)
            m = get_int("block_multiple_of", default=256)
            ff = m * ((ff + m - 1) // m)
        fields.update(
            ffn_size=ff,
            recurrent_kind="shortconv",
            ssm_d_conv=get_int("conv_L_cache"),
            recurrent_layers=tuple(i for i, t in enumerate(types) if t != "full_attention"),
        )
    elif model_type == "lfm2_moe":
        # LFM2MoeModel in convert_hf_to_gguf.py: the LFM2 backbone (layer_types, conv_L_cache)
        # with dense FFNs of intermediate_size on the first num_dense_layers and routed
        # experts after them; the router's expert_bias becomes exp_probs_b
        types = _layer_types(cfg, "layer_types", n_layers, source)
        fields.update(
            recurrent_kind="shortconv",
            ssm_d_conv=get_int("conv_L_cache"),
            recurrent_layers=tuple(i for i, t in enumerate(types) if t != "full_attention"),
            n_dense_leading_layers=get_int("num_dense_layers"),
            expert_score_bias=bool(get("use_expert_bias")),
        )
    elif model_type == "hunyuan_v1_moe":
        _hunyuan_moe(cfg, fields, get, get_int, n_layers, source)
    elif model_type == "ernie4_5_moe" and fields.get("n_experts"):
        n_sh = get_int("moe_num_shared_experts")
        fields.update(
            n_dense_leading_layers=get_int("moe_layer_start_index"),
            moe_layer_step=get_int("moe_layer_interval"),
            expert_score_bias=True,
        )
        if n_sh:
            fields.update(n_shared_experts=n_sh, shared_expert_ffn_size=fields["expert_ffn_size"])
    elif model_type == "minimax_m2":
        fields["expert_score_bias"] = bool(get("use_routing_bias", default=True))
        rot = get("rotary_dim", default=None)
        if isinstance(rot, int) and rot != fields["head_dim_k"]:
            fields["rope_dim"] = rot
    elif model_type == "gemma3n_text":
        # llama.cpp keeps KV on the first 20 layers (n_layer_kv_from_start), windows 4 of
        # every 5 (set_swa_pattern(5)); AltUp/LAuReL widths as the config gives them
        fields.update(
            sliding_window=get_int("sliding_window"),
            swa_pattern=5,
            n_kv_layers=min(20, n_layers),
            extra={
                "n_altup": get_int("altup_num_inputs"),
                "laurel_rank": get_int("laurel_rank"),
                "n_embd_altup": get_int("hidden_size_per_layer_input"),
            },
        )
        # the converter keeps the text vocabulary of the per-layer embeddings for both tables
        per_layer_vocab = get("vocab_size_per_layer_input", default=None)
        if isinstance(per_layer_vocab, int) and per_layer_vocab > 0:
            fields["vocab_size"] = per_layer_vocab
    elif model_type == "gemma4_text":
        # convert_hf_to_gguf.py (Gemma4Model): full layers are global_head_dim wide with
        # num_global_key_value_heads, windowed ones head_dim with num_key_value_heads; the
        # last num_kv_shared_layers reuse earlier KV; a proportional-RoPE factor table
        types = _layer_types(cfg, "layer_types", n_layers, source)
        swa = tuple(i for i, t in enumerate(types) if t == "sliding_attention")
        hd_swa, hd_full = get_int("head_dim"), get_int("global_head_dim", default=get_int("head_dim"))
        kv_swa = fields["n_kv_heads"]
        kv_full = get_int("num_global_key_value_heads", default=kv_swa)
        shared = get_int("num_kv_shared_layers")
        if get("use_double_wide_mlp") and shared:
            raise SizingError(
                f"{source}: use_double_wide_mlp doubles the FFN of the KV-shared layers; "
                "per-layer FFN widths are not modelled"
            )
        fields.update(
            head_dim_k=hd_full,
            head_dim_v=hd_full,
            n_kv_heads=kv_full,
            sliding_window=get_int("sliding_window"),
            rope_factor_tensors=("rope_freqs",),
        )
        if swa:
            fields["swa_layers"] = swa
        if hd_swa != hd_full:
            fields["swa_head_dim"] = hd_swa
        if kv_swa != kv_full:
            fields["swa_n_kv_heads"] = kv_swa
        if shared:
            fields["n_kv_layers"] = n_layers - shared
        extra: dict[str, int | bool] = {}
        if get_int("hidden_size_per_layer_input"):
            extra["n_embd_per_layer"] = get_int("hidden_size_per_layer_input")
        if get("attention_k_eq_v"):
            extra["attention_k_eq_v"] = True
        if extra:
            fields["extra"] = extra
    elif model_type == "glm4_moe":
        if cfg.get("num_nextn_predict_layers"):
            fields["extra"] = {"nextn_predict_layers": int(cfg["num_nextn_predict_layers"])}


def _per_layer_int(cfg: dict[str, Any], key: str, n_layers: int, source: str) -> int:
    """A field Hunyuan configs give as one integer or one per layer; llama.cpp's converter
    keeps one value, so every layer must agree."""
    v = cfg.get(key)
    if (
        isinstance(v, list)
        and len(v) == n_layers
        and v
        and all(isinstance(x, int) and not isinstance(x, bool) for x in v)
    ):
        if len(set(v)) > 1:
            raise SizingError(f"{source}: config field {key!r} differs between layers; llama.cpp keeps one value")
        return int(v[0])
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if v is None:
        raise SizingError(f"{source}: config field {key!r} is missing (model_type 'hunyuan_v1_moe')")
    raise SizingError(f"{source}: config field {key!r} must be an integer or one per layer ({n_layers}), got {v!r}")


def _hunyuan_moe(cfg: dict[str, Any], fields: dict[str, Any], get, get_int, n_layers: int, source: str) -> None:
    """Hunyuan-A13B as HunYuanMoEModel in convert_hf_to_gguf.py writes it: num_experts
    routed experts of moe_intermediate_size, moe_topk of them per token, and
    num_shared_expert shared ones of intermediate_size; llama.cpp's hunyuan-moe graph
    has exactly one shared MLP, q/k norms and K/V on every layer, so a config that
    shares KV across layers (CLA) or drops either is refused. The NTK-alpha ("dynamic")
    RoPE is folded into the base and the context written as 256K. use_cla, use_qk_norm and
    use_mixed_mlp_moe are remote-code switches that transformers' HunYuanMoEV1 model lacks
    (it has no CLA, always q/k norms and a shared MLP): absent, they mean that."""
    if get("use_cla", default=False):
        raise SizingError(
            f"{source}: use_cla true shares K/V across layers (cross-layer attention); "
            "llama.cpp's hunyuan-moe has K/V on every layer"
        )
    if not get("use_qk_norm", default=True) or not get("use_mixed_mlp_moe", default=True):
        raise SizingError(
            f"{source}: use_qk_norm and use_mixed_mlp_moe must be true: llama.cpp's hunyuan-moe "
            "loads q/k norms and a shared MLP on every layer"
        )
    shared = _per_layer_int(cfg, "num_shared_expert", n_layers, source)
    if shared != 1:
        raise SizingError(
            f"{source}: num_shared_expert is {shared}; llama.cpp's hunyuan-moe has one shared MLP of intermediate_size"
        )
    fields.update(
        n_experts=_per_layer_int(cfg, "num_experts", n_layers, source),
        n_experts_used=_per_layer_int(cfg, "moe_topk", n_layers, source),
        expert_ffn_size=_per_layer_int(cfg, "moe_intermediate_size", n_layers, source),
        n_shared_experts=1,
        shared_expert_ffn_size=fields["ffn_size"],
    )
    rope = cfg.get("rope_scaling") or cfg.get("rope_parameters")
    if isinstance(rope, dict) and (rope.get("rope_type") or rope.get("type")) == "dynamic":
        fields["max_context"] = HUNYUAN_DYNAMIC_CONTEXT

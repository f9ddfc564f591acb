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
    "gpt_oss": "gpt-oss",
}

#: model_types whose checkpoints are another type's architecture under a new name. Kimi K2
#: ships ``"model_type": "kimi_k2"`` on DeepseekV3ForCausalLM weights; its deployment guide
#: (moonshotai/Kimi-K2 docs/deploy_guidance.md) says setting it to ``deepseek_v3`` runs it.
SAME_ARCHITECTURE: dict[str, str] = {"kimi_k2": "deepseek_v3"}

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
    "gpt_oss": {"tie_word_embeddings": False, "attention_bias": True, "sliding_window": 128},
}

# llama.cpp architectures whose graphs use a sliding-window KV cache, with the layer
# pattern llama.cpp hard-codes when the config gives no per-layer list
# (``hparams.set_swa_pattern(n)`` in llama-model.cpp).
_SWA_PATTERN: dict[str, int] = {"gemma2": 2, "gemma3": 6, "gpt-oss": 2}


def _text_config(config: dict[str, Any]) -> dict[str, Any]:
    """The language-model part of a config (multimodal Gemma-3 nests it in text_config)."""
    if config.get("model_type") == "gemma3" and isinstance(config.get("text_config"), dict):
        text = dict(config["text_config"])
        text.setdefault("model_type", "gemma3_text")
        return text
    return config


def _swa_from_layer_types(layer_types: list[str], n_layers: int) -> tuple[int, ...]:
    if len(layer_types) != n_layers:
        raise SizingError(
            f"config field 'layer_types' has {len(layer_types)} entries but "
            f"num_hidden_layers is {n_layers}"
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


def arch_from_config(config: dict[str, Any], *, repo_id: str, source: str,
                     name: str | None = None, aliases: tuple[str, ...] = ()) -> ModelArch:
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
    model_type = cfg.get("model_type", outer_type)
    model_type = SAME_ARCHITECTURE.get(model_type, model_type)
    arch = ARCH_BY_MODEL_TYPE.get(model_type)
    if arch is None:
        supported = ", ".join(sorted(ARCH_BY_MODEL_TYPE))
        raise SizingError(
            f"{source}: config field 'model_type' is {model_type!r}, which is not supported "
            f"(supported: {supported})"
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
    head_dim = get("head_dim", default=None)
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
        ffn_size=get_int("intermediate_size"),
        vocab_size=get_int("vocab_size"),
        tied_embeddings=bool(get("tie_word_embeddings", default=False)),
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
    if model_type in ("qwen3", "qwen3_moe", "gemma3_text"):
        fields["qk_norm"] = True
    if model_type in ("gemma2", "gemma3_text"):
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
    n_experts = get("num_local_experts", "num_experts", "n_routed_experts", default=0) or 0
    if model_type in ("mixtral", "gpt_oss"):
        n_experts = get_int("num_local_experts")
    if n_experts:
        fields["n_experts"] = int(n_experts)
        fields["n_experts_used"] = get_int("num_experts_per_tok", "experts_per_token")
        if model_type in ("mixtral", "gpt_oss"):
            fields["expert_ffn_size"] = get_int("intermediate_size")
        else:
            fields["expert_ffn_size"] = get_int("moe_intermediate_size")
        if model_type == "qwen2_moe":
            shared = get_int("shared_expert_intermediate_size", default=0)
            if shared:
                fields["n_shared_experts"] = 1
                fields["shared_expert_ffn_size"] = shared
        if model_type in ("deepseek_v2", "deepseek_v3"):
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
    if model_type in ("deepseek_v2", "deepseek_v3"):
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
            # multi-token-prediction layers: llama.cpp's converter drops them
            fields["extra"] = {"nextn_predict_layers": int(cfg["num_nextn_predict_layers"])}
        if cfg.get("topk_method") == "noaux_tc":
            fields["expert_score_bias"] = True  # e_score_correction_bias → exp_probs_b
    fields["head_dim_k"], fields["head_dim_v"] = head_dim_k, head_dim_v

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
    if partial and partial != 1 and arch != "deepseek2":
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

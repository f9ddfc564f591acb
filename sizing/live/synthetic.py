"""Synthetic GGUF files: a real header over a sparse hole, for models we cannot download.

llama.cpp sizes its buffers from the header alone (architecture keys, tensor shapes and
types, token count), so a file whose header is real but whose tensor data is a hole
loads, allocates and reports exactly what the real model would, while costing only the
header on disk (a few MB at any size: the data region is never written, the file is
just extended). The weights are zeros; the numbers are real.

Zeros are not free of cost for *speed*, though: on a CPU, a model whose weights are all
zero decodes 10-25% faster than the same model with real or random values
(``bench/synthetic_speed.py``), so a run that measures speed from a synthetic file fills
its weights first (:func:`fill_weights`), at the cost of writing them.

The header follows what llama.cpp's loader reads (``load_hparams`` /
``load_arch_hparams`` per model in ggml-org/llama.cpp), the tensors come from
``tensors_for`` and the types from the quant recipe. The tokenizer is SentencePiece
style (``llama``) with tokens, scores and token types: a ``gpt2`` tokenizer would also
need merges.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from gguf import GGUFWriter
from gguf.constants import GGMLQuantizationType, TokenType

from sizing.errors import SizingError
from sizing.core.arch import ModelArch
from sizing.core.tensors import TensorSpec, file_order, tensors_for
from sizing.core.quant import FILE_QUANTS, apply_recipe, file_quant, tensor_bytes

ALIGNMENT = 32  # GGUF_DEFAULT_ALIGNMENT


def _hparams(w: GGUFWriter, a: ModelArch, n_vocab: int) -> None:
    """The architecture keys llama.cpp's loader needs for ``a``."""
    p = a.arch
    u32 = lambda k, v: w.add_uint32(f"{p}.{k}", int(v))  # noqa: E731
    f32 = lambda k, v: w.add_float32(f"{p}.{k}", float(v))  # noqa: E731
    u32("context_length", a.max_context)
    u32("embedding_length", a.hidden_size)
    nextn = int(a.extra.get("nextn_predict_layers", 0)) if a.arch in ("glm4moe", "deepseek32") else 0
    u32("block_count", a.n_layers + nextn)  # glm4moe and deepseek32 count their kept MTP blocks
    if nextn:
        u32("nextn_predict_layers", nextn)
    ffn = a.ffn_size
    if a.arch == "llama" and a.is_moe:  # llama's MoE tensors use feed_forward_length
        ffn = a.expert_ffn_size
    if a.ffn_only_layers:  # nemotron_h: the FFN width marks the FFN-only blocks
        only = set(a.ffn_only_layers)
        w.add_array(f"{p}.feed_forward_length", [ffn if i in only else 0 for i in range(a.n_layers)])
    else:
        u32("feed_forward_length", ffn)
    u32("attention.head_count", a.n_heads)
    f32("attention.layer_norm_rms_epsilon", 1e-6)
    if a.arch.startswith("nemotron_h"):  # its loader also requires the LayerNorm epsilon
        f32("attention.layer_norm_epsilon", 1e-5)
    f32("rope.freq_base", 10000.0)
    u32("vocab_size", n_vocab)
    if a.is_mla:
        # the MLA layout of current converters: one latent KV head holding kv_lora_rank
        # (+ the rope part for K); the *_mla keys give the decompressed head sizes
        u32("attention.head_count_kv", 1)
        u32("attention.key_length", a.kv_lora_rank + a.qk_rope_head_dim)
        u32("attention.value_length", a.kv_lora_rank)
        u32("attention.key_length_mla", a.qk_nope_head_dim + a.qk_rope_head_dim)
        u32("attention.value_length_mla", a.head_dim_v)
        u32("rope.dimension_count", a.qk_rope_head_dim)
        u32("attention.kv_lora_rank", a.kv_lora_rank)
        if a.q_lora_rank:
            u32("attention.q_lora_rank", a.q_lora_rank)
    else:
        rec, ffn_only = a.recurrent_flags, set(a.ffn_only_layers)
        att = [not rec[i] and i not in ffn_only for i in range(a.n_layers)]  # KV-sharing layers attend
        if a.swa_n_kv_heads:  # gemma4: one KV head count per layer, by its window
            w.add_array(f"{p}.attention.head_count_kv", [a.swa_n_kv_heads if f else a.n_kv_heads for f in a.swa_flags])
        elif all(att) or a.recurrent_kind == "gated_delta":  # qwen3next: an interval key instead
            u32("attention.head_count_kv", a.n_kv_heads)
        else:  # hybrids: 0 KV heads marks a recurrent or FFN-only block, as converters write it
            w.add_array(f"{p}.attention.head_count_kv", [a.n_kv_heads if f else 0 for f in att])
        u32("attention.key_length", a.head_dim_k)
        u32("attention.value_length", a.head_dim_v)
        u32("rope.dimension_count", a.rope_dim or a.head_dim_k)
    if a.is_moe:
        u32("expert_count", a.n_experts)
        u32("expert_used_count", a.n_experts_used)
        u32("expert_feed_forward_length", a.expert_ffn_size)
        if a.n_shared_experts:
            u32("expert_shared_count", a.n_shared_experts)
            # the width of all shared experts together, as llama.cpp's loaders read it
            u32("expert_shared_feed_forward_length", a.shared_expert_ffn_size * a.n_shared_experts)
        if a.n_dense_leading_layers:
            u32("leading_dense_block_count", a.n_dense_leading_layers)
        if a.arch in ("lfm2moe", "glm4moe", "nemotron_h_moe", "minimax-m2"):  # sigmoid routers, score bias
            u32("expert_gating_func", 2)
            w.add_bool(f"{p}.expert_weights_norm", True)
        if a.arch in ("deepseek2", "deepseek32"):
            f32("expert_weights_scale", 1.0)
            w.add_bool(f"{p}.expert_weights_norm", True)
            u32("expert_gating_func", 2 if a.expert_score_bias else 1)  # sigmoid (V3) / softmax
    if a.arch == "deepseek32":  # the lightning indexer (DSA)
        u32("attention.indexer.head_count", int(a.extra["indexer_n_head"]))
        u32("attention.indexer.key_length", int(a.extra["indexer_head_size"]))
        u32("attention.indexer.top_k", int(a.extra.get("indexer_top_k", 2048)))
    _recurrent_hparams(w, a)
    if a.arch in ("qwen3vl", "qwen3vlmoe"):  # M-RoPE sections (time, height, width)
        w.add_array(f"{p}.rope.dimension_sections", [24, 20, 20, 0])
    if a.arch in ("llama4", "ernie4_5-moe") and a.is_moe:
        u32("interleave_moe_layer_step", a.moe_layer_step)
    if a.sliding_window:
        u32("attention.sliding_window", a.sliding_window)
        if a.swa_layers is not None or a.arch == "gemma4":
            w.add_array(f"{p}.attention.sliding_window_pattern", list(a.swa_flags))
    if a.arch == "gemma4":  # windowed layers' own head width; per-layer embeddings; shared KV
        u32("attention.key_length_swa", a.swa_head_dim or a.head_dim_k)
        u32("attention.value_length_swa", a.swa_head_dim or a.head_dim_v)
        u32("rope.dimension_count_swa", a.swa_head_dim or a.head_dim_k)
        u32("embedding_length_per_layer_input", int(a.extra.get("n_embd_per_layer", 0)))
        u32("attention.shared_kv_layers", a.n_layers - (a.n_kv_layers or a.n_layers))
        f32("final_logit_softcapping", 30.0)


def _recurrent_hparams(w: GGUFWriter, a: ModelArch) -> None:
    """The ``ssm.*`` / ``shortconv.*`` keys llama.cpp reads for recurrent layers
    (``LLM_KV_SSM_*`` in src/llama-arch.cpp; each model's load_arch_hparams)."""
    p = a.arch
    if a.recurrent_kind in ("mamba2", "gated_delta"):
        w.add_uint32(f"{p}.ssm.conv_kernel", a.ssm_d_conv)
        w.add_uint32(f"{p}.ssm.inner_size", a.ssm_d_inner)
        w.add_uint32(f"{p}.ssm.state_size", a.ssm_d_state)
        w.add_uint32(f"{p}.ssm.time_step_rank", a.ssm_dt_rank)
        w.add_uint32(f"{p}.ssm.group_count", a.ssm_n_group)
    if a.recurrent_kind == "gated_delta":
        rec = a.recurrent_flags
        n = next(
            (k for k in range(1, a.n_layers + 1) if all(rec[i] == ((i + 1) % k != 0) for i in range(a.n_layers))), None
        )
        if n is None:
            raise SizingError(f"{a.id}: delta-net layers do not follow a full-attention interval")
        w.add_uint32(f"{p}.full_attention_interval", n)
        if a.arch in ("qwen35", "qwen35moe"):
            w.add_array(f"{p}.rope.dimension_sections", [11, 11, 10, 0])
    if a.recurrent_kind == "shortconv":
        w.add_uint32(f"{p}.shortconv.l_cache", a.ssm_d_conv)


def _tokenizer(w: GGUFWriter, n_vocab: int) -> None:
    """A SentencePiece-style vocabulary of ``n_vocab`` unique tokens (content is irrelevant)."""
    specials = ["<unk>", "<s>", "</s>"]
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)] if n_vocab >= 3 + 256 + 1 else []
    head = specials[: min(3, n_vocab)] + byte_tokens
    tokens = head + [f"\u2581t{i}" for i in range(len(head), n_vocab)]
    types = (
        [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL][: min(3, n_vocab)]
        + [TokenType.BYTE] * len(byte_tokens)
        + [TokenType.NORMAL] * (n_vocab - len(head))
    )
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(np.zeros(n_vocab, dtype=np.float32).tolist())
    w.add_token_types([int(t) for t in types])
    if n_vocab >= 3:
        w.add_unk_token_id(0)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)


def synthetic_tensors(arch: ModelArch, quant: str) -> list[TensorSpec]:
    """The typed tensor list a synthetic file of ``arch`` at ``quant`` carries, in file order."""
    return file_order(arch, apply_recipe(arch, tensors_for(arch), quant))


def write_synthetic_gguf(
    arch: ModelArch,
    quant: str,
    path: str | os.PathLike,
    *,
    n_vocab_tokens: int | None = None,
) -> Path:
    """Write a loadable GGUF for ``arch`` at ``quant`` whose tensor data is a sparse hole.

    ``n_vocab_tokens`` shrinks the vocabulary (token list *and* embedding/output rows)
    when a test wants a smaller file; by default the model's own vocabulary is used.
    """
    q = file_quant(quant)
    if n_vocab_tokens is not None:
        if n_vocab_tokens < 1:
            raise SizingError(f"n_vocab_tokens must be positive, got {n_vocab_tokens}")
        arch = arch.model_copy(update={"vocab_size": n_vocab_tokens})
    n_vocab = arch.vocab_size
    tensors = synthetic_tensors(arch, q)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)

    w = GGUFWriter(out, arch.arch)
    # general.name stays neutral: llama.cpp's vocabulary loader patches tokens by model
    # name (a name containing "phi-3" makes it look up tokens our vocabulary lacks)
    w.add_name(f"sizing synthetic {q}")
    w.add_description(f"synthetic header of {arch.id} ({arch.arch}, {q}); tensor data is a sparse hole")
    w.add_type("model")
    w.add_file_type(int(FILE_QUANTS[q.split("+")[0]]))
    w.add_quantization_version(2)
    _hparams(w, arch, n_vocab)
    _tokenizer(w, n_vocab)
    return _write_over_hole(w, out, tensors)


def _aligned(n: int) -> int:
    return (n + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def _write_over_hole(w: GGUFWriter, out: Path, tensors: Iterable[TensorSpec]) -> Path:
    """Write the header (its keys already added to ``w``) with ``tensors``' table, then
    extend the file over their data without writing it: a hole that costs no disk blocks."""
    data = 0
    for t in tensors:
        if t.ggml_type is None:
            raise SizingError(f"{t.name}: no tensor type assigned (the quant recipe gives every tensor one)")
        nbytes = tensor_bytes(t)
        # shapes go in numpy order (the writer reverses them into ggml order)
        w.add_tensor_info(
            t.name, tuple(reversed(t.shape)), np.dtype(np.float32), nbytes, raw_dtype=GGMLQuantizationType[t.ggml_type]
        )
        data += _aligned(nbytes)
    try:
        w.write_header_to_file(out)
        w.write_kv_data_to_file()
        w.write_ti_data_to_file()
        assert w.fout is not None
        header_end = w.fout[0].tell()
    finally:
        w.close()
    os.truncate(out, _aligned(header_end) + data)
    return out


def write_synthetic_mmproj(
    path: str | os.PathLike,
    *,
    n_text: int,
    image_size: int = 896,
    patch_size: int = 14,
    n_embd: int = 1152,
    n_ff: int = 4304,
    n_layers: int = 27,
    n_heads: int = 16,
) -> Path:
    """A Gemma-3-style vision projector (SigLIP ViT + ``gemma3`` projector) over a hole.

    The keys and tensors are those clip.cpp (tools/mtmd/clip.cpp, ``load_hparams`` /
    ``load_tensors`` for ``PROJECTOR_TYPE_GEMMA3``) reads; ``n_text`` must equal the
    language model's embedding width, which mtmd checks.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    w = GGUFWriter(out, "clip")
    w.add_bool("clip.has_vision_encoder", True)
    w.add_string("clip.projector_type", "gemma3")
    for key, v in (
        ("image_size", image_size),
        ("patch_size", patch_size),
        ("embedding_length", n_embd),
        ("feed_forward_length", n_ff),
        ("block_count", n_layers),
        ("projection_dim", n_text),
        ("attention.head_count", n_heads),
    ):
        w.add_uint32(f"clip.vision.{key}", v)
    w.add_float32("clip.vision.attention.layer_norm_epsilon", 1e-6)
    w.add_array("clip.vision.image_mean", [0.5, 0.5, 0.5])
    w.add_array("clip.vision.image_std", [0.5, 0.5, 0.5])
    w.add_bool("clip.use_gelu", True)
    w.add_file_type(1)  # F16
    specs: list[tuple[str, tuple[int, ...], str]] = []

    def t(name: str, *shape: int, typ: str = "F16") -> None:
        specs.append((name, shape, typ))

    d = n_embd
    t("v.patch_embd.weight", patch_size, patch_size, 3, d)
    t("v.patch_embd.bias", d, typ="F32")
    t("v.position_embd.weight", d, (image_size // patch_size) ** 2)
    for i in range(n_layers):
        for n in ("attn_q", "attn_k", "attn_v", "attn_out"):
            t(f"v.blk.{i}.{n}.weight", d, d)
            t(f"v.blk.{i}.{n}.bias", d, typ="F32")
        for n in ("ln1", "ln2"):
            t(f"v.blk.{i}.{n}.weight", d, typ="F32")
            t(f"v.blk.{i}.{n}.bias", d, typ="F32")
        t(f"v.blk.{i}.ffn_up.weight", d, n_ff)
        t(f"v.blk.{i}.ffn_up.bias", n_ff, typ="F32")
        t(f"v.blk.{i}.ffn_down.weight", n_ff, d)
        t(f"v.blk.{i}.ffn_down.bias", d, typ="F32")
    t("v.post_ln.weight", d, typ="F32")
    t("v.post_ln.bias", d, typ="F32")
    t("mm.input_projection.weight", n_text, d)
    t("mm.soft_emb_norm.weight", d, typ="F32")
    return _write_over_hole(w, out, (TensorSpec(name=n, shape=s, ggml_type=typ) for n, s, typ in specs))


# Each 16-bit word's high byte keeps these bits: the sign off and the top exponent bit off,
# so every F16 scale (and F32 value, whose high byte is at an odd offset too) is finite and
# below 1 in magnitude; no NaN or infinity reaches the activations.
FINITE_HIGH_BYTE = 0x3B
FILL_CHUNK = 1 << 24


def fill_weights(path: str | os.PathLike, *, seed: int = 0) -> Path:
    """Overwrite a GGUF's tensor data with pseudo-random, finite, nonzero bytes; returns the
    path. The file then takes its full size on disk."""
    from gguf import GGUFReader

    out = Path(path)
    start = GGUFReader(out).data_offset  # aligned to 32: a word's high byte sits at an odd offset
    size = out.stat().st_size
    rng = np.random.default_rng(seed)
    with open(out, "r+b") as fh:
        fh.seek(start)
        left = size - start
        while left:
            n = min(left, FILL_CHUNK)
            chunk = rng.integers(0, 256, size=n, dtype=np.uint8)
            chunk[1::2] &= FINITE_HIGH_BYTE
            fh.write(chunk.tobytes())
            left -= n
    return out

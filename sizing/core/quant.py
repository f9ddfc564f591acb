"""Quantization: ggml tensor types, the file-level quants users pick, and their recipes.

A file quant such as Q4_K_M is not one bit-width: llama.cpp's quantizer gives each
tensor its own type (more bits for attn_v and some ffn_down layers, Q6_K for the output,
F32 for norms, a fallback when a row does not divide into the type's blocks). We model
that per tensor, following ``llama_tensor_get_type`` / ``llama_tensor_get_type_impl`` /
``tensor_type_fallback`` in ``src/llama-quant.cpp`` of ggml-org/llama.cpp (our own code,
same decisions), so weight bytes are exact rather than "params × bits ÷ 8".

Block sizes and bytes per block come from the ``gguf`` package (``GGML_QUANT_SIZES``),
never typed by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from math import prod

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType

from sizing.errors import SizingError
from sizing.core.arch import ModelArch
from sizing.core.tensors import TensorSpec, llama_order, shared_spec, tensors_for

# --------------------------------------------------------------------------------------
# ggml tensor types

#: name -> (block size in elements, bytes per block), for every ggml type gguf knows.
GGML_TYPES: dict[str, tuple[int, int]] = {
    t.name: (int(GGML_QUANT_SIZES[t][0]), int(GGML_QUANT_SIZES[t][1]))
    for t in GGMLQuantizationType
    if t in GGML_QUANT_SIZES
}

_FLOAT_TYPES = frozenset({"F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64"})


def is_quantized(ggml_type: str) -> bool:
    return ggml_type not in _FLOAT_TYPES


def _type(name: str) -> tuple[int, int]:
    try:
        return GGML_TYPES[name.upper()]
    except KeyError:
        raise SizingError(f"unknown ggml tensor type {name!r}; valid: {', '.join(GGML_TYPES)}") from None


def row_bytes(ggml_type: str, n: int) -> int:
    """Bytes of one row of ``n`` elements (ggml_row_size); ``n`` must fill whole blocks."""
    bs, ts = _type(ggml_type)
    if n % bs:
        raise SizingError(f"a row of {n} elements does not divide into {ggml_type} blocks of {bs}")
    return n // bs * ts


def tensor_bytes(spec: TensorSpec) -> int:
    """Exact bytes of a typed tensor, as ggml_nbytes computes them."""
    if spec.ggml_type is None:
        raise SizingError(f"tensor {spec.name!r} has no ggml type; apply a quant recipe first")
    return _nbytes(spec.ggml_type, spec.shape)


@lru_cache(maxsize=65536)
def _nbytes(ggml_type: str, shape: tuple[int, ...]) -> int:
    """Bytes of a tensor of this type and shape (cached: a model repeats a few shapes
    hundreds of times, and sweeps total the same tensors for every context)."""
    if not shape:
        return _type(ggml_type)[1]
    rows = prod(shape) // shape[0]
    return rows * row_bytes(ggml_type, shape[0])


# --------------------------------------------------------------------------------------
# KV cache types (what --cache-type-k / --cache-type-v accept)

KV_TYPES: tuple[str, ...] = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")


def _kv_type(t: str) -> str:
    key = str(t).strip().lower()
    if key not in KV_TYPES:
        raise SizingError(f"unknown KV cache type {t!r}; valid: {', '.join(KV_TYPES)}")
    return key.upper()


def kv_bytes_per_element(t: str) -> float:
    """Average bytes per cached element of KV type ``t`` (e.g. q8_0: 34/32)."""
    bs, ts = GGML_TYPES[_kv_type(t)]
    return ts / bs


def kv_block_size(t: str) -> int:
    """Elements per block of KV type ``t``: a cache row must be a multiple of it."""
    return GGML_TYPES[_kv_type(t)][0]


# --------------------------------------------------------------------------------------
# file quants (llama-quantize's --ftype names)

#: user-facing name -> llama ftype
FILE_QUANTS: dict[str, LlamaFileType] = {
    "F32": LlamaFileType.ALL_F32,
    "F16": LlamaFileType.MOSTLY_F16,
    "BF16": LlamaFileType.MOSTLY_BF16,
    "Q8_0": LlamaFileType.MOSTLY_Q8_0,
    "Q6_K": LlamaFileType.MOSTLY_Q6_K,
    "Q5_K_M": LlamaFileType.MOSTLY_Q5_K_M,
    "Q5_K_S": LlamaFileType.MOSTLY_Q5_K_S,
    "Q5_1": LlamaFileType.MOSTLY_Q5_1,
    "Q5_0": LlamaFileType.MOSTLY_Q5_0,
    "Q4_K_M": LlamaFileType.MOSTLY_Q4_K_M,
    "Q4_K_S": LlamaFileType.MOSTLY_Q4_K_S,
    "Q4_1": LlamaFileType.MOSTLY_Q4_1,
    "Q4_0": LlamaFileType.MOSTLY_Q4_0,
    "IQ4_NL": LlamaFileType.MOSTLY_IQ4_NL,
    "IQ4_XS": LlamaFileType.MOSTLY_IQ4_XS,
    "Q3_K_L": LlamaFileType.MOSTLY_Q3_K_L,
    "Q3_K_M": LlamaFileType.MOSTLY_Q3_K_M,
    "Q3_K_S": LlamaFileType.MOSTLY_Q3_K_S,
    "IQ3_M": LlamaFileType.MOSTLY_IQ3_M,
    "IQ3_S": LlamaFileType.MOSTLY_IQ3_S,
    "IQ3_XS": LlamaFileType.MOSTLY_IQ3_XS,
    "IQ3_XXS": LlamaFileType.MOSTLY_IQ3_XXS,
    "Q2_K": LlamaFileType.MOSTLY_Q2_K,
    "Q2_K_S": LlamaFileType.MOSTLY_Q2_K_S,
    "IQ2_M": LlamaFileType.MOSTLY_IQ2_M,
    "IQ2_S": LlamaFileType.MOSTLY_IQ2_S,
    "IQ2_XS": LlamaFileType.MOSTLY_IQ2_XS,
    "IQ2_XXS": LlamaFileType.MOSTLY_IQ2_XXS,
    "IQ1_M": LlamaFileType.MOSTLY_IQ1_M,
    "IQ1_S": LlamaFileType.MOSTLY_IQ1_S,
    "TQ2_0": LlamaFileType.MOSTLY_TQ2_0,
    "TQ1_0": LlamaFileType.MOSTLY_TQ1_0,
    "MXFP4": LlamaFileType.MOSTLY_MXFP4_MOE,
}
_ALIASES = {"MXFP4_MOE": "MXFP4", "FP16": "F16", "FP32": "F32", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q3_K": "Q3_K_M"}

F = LlamaFileType
#: the type a tensor gets before the recipe adjusts it (llama_ftype_get_default_type)
_DEFAULT_TYPE: dict[LlamaFileType, str] = {
    F.ALL_F32: "F32",
    F.MOSTLY_F16: "F16",
    F.MOSTLY_BF16: "BF16",
    F.MOSTLY_Q8_0: "Q8_0",
    F.MOSTLY_Q5_1: "Q5_1",
    F.MOSTLY_Q5_0: "Q5_0",
    F.MOSTLY_Q4_1: "Q4_1",
    F.MOSTLY_Q4_0: "Q4_0",
    F.MOSTLY_MXFP4_MOE: "MXFP4",
    F.MOSTLY_Q2_K: "Q2_K",
    F.MOSTLY_Q2_K_S: "Q2_K",
    F.MOSTLY_IQ3_XS: "IQ3_S",
    F.MOSTLY_Q3_K_S: "Q3_K",
    F.MOSTLY_Q3_K_M: "Q3_K",
    F.MOSTLY_Q3_K_L: "Q3_K",
    F.MOSTLY_Q4_K_S: "Q4_K",
    F.MOSTLY_Q4_K_M: "Q4_K",
    F.MOSTLY_Q5_K_S: "Q5_K",
    F.MOSTLY_Q5_K_M: "Q5_K",
    F.MOSTLY_Q6_K: "Q6_K",
    F.MOSTLY_TQ1_0: "TQ1_0",
    F.MOSTLY_TQ2_0: "TQ2_0",
    F.MOSTLY_IQ2_XXS: "IQ2_XXS",
    F.MOSTLY_IQ2_XS: "IQ2_XS",
    F.MOSTLY_IQ2_S: "IQ2_XS",
    F.MOSTLY_IQ2_M: "IQ2_S",
    F.MOSTLY_IQ3_XXS: "IQ3_XXS",
    F.MOSTLY_IQ1_S: "IQ1_S",
    F.MOSTLY_IQ1_M: "IQ1_M",
    F.MOSTLY_IQ4_NL: "IQ4_NL",
    F.MOSTLY_IQ4_XS: "IQ4_XS",
    F.MOSTLY_IQ3_S: "IQ3_S",
    F.MOSTLY_IQ3_M: "IQ3_S",
}

#: quants llama-quantize refuses to make without an importance matrix: they type some
#: tensors IQ1_*, IQ2_* or IQ3_XXS (tensor_requires_imatrix), or are Q2_K_S
_NEEDS_IMATRIX = frozenset(
    {
        F.MOSTLY_IQ2_XXS,
        F.MOSTLY_IQ2_XS,
        F.MOSTLY_IQ2_S,
        F.MOSTLY_IQ2_M,
        F.MOSTLY_IQ1_S,
        F.MOSTLY_IQ1_M,
        F.MOSTLY_IQ3_XXS,
        F.MOSTLY_IQ3_XS,
        F.MOSTLY_Q2_K_S,
    }
)

# quants whose "2-bit family" branch runs in the recipe
_IQ12 = frozenset({F.MOSTLY_IQ2_XXS, F.MOSTLY_IQ2_XS, F.MOSTLY_IQ1_S, F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M, F.MOSTLY_IQ1_M})


#: a quant name with this suffix requantizes the tensors a model ships already quantized
#: (gpt-oss's MXFP4 experts) instead of keeping them as the common files do
REQUANT_SUFFIX = "+requant"


def file_quant(quant: str) -> str:
    """Canonical user-facing name of a file quant; SizingError listing valid names if unknown.

    ``Q8_0+requant`` names the variant whose natively quantized tensors are requantized too."""
    key = str(quant).strip().upper().replace("-", "_")
    key, plus, tail = key.partition("+")
    key = _ALIASES.get(key.strip(), key.strip())
    if key not in FILE_QUANTS or (plus and tail.strip() != "REQUANT"):
        raise SizingError(
            f"unknown quant {quant!r}; valid: {', '.join(FILE_QUANTS)} "
            f"(add {REQUANT_SUFFIX} to requantize natively quantized experts)"
        )
    return key + (REQUANT_SUFFIX if plus else "")


def split_quant(quant: str) -> tuple[str, bool]:
    """(base file quant, whether natively quantized tensors are requantized)."""
    name = file_quant(quant)
    if name.endswith(REQUANT_SUFFIX):
        return name[: -len(REQUANT_SUFFIX)], True
    return name, False


def base_quant(quant: str) -> str:
    """The llama-quantize type name of a quant (without the requant suffix)."""
    return split_quant(quant)[0]


def native_type(arch: ModelArch, name: str) -> str | None:
    """The type a tensor ships in when the checkpoint itself is quantized (else None)."""
    for part, typ in arch.native_types:
        if part in name:
            return typ
    return None


def native_note(arch: ModelArch, quant: str) -> str | None:
    """One line saying which tensors keep their native type under ``quant`` (None: none)."""
    if not arch.native_types:
        return None
    base, requant = split_quant(quant)
    what = ", ".join(
        f"{'the routed experts' if p == '_exps.weight' else p.strip('._')} in {t}" for p, t in arch.native_types
    )
    if requant:
        return (
            f"{base}{REQUANT_SUFFIX}: the natively quantized tensors ({what}) are requantized to "
            f"{base}, as a few publishers do; the common files keep them"
        )
    return (
        f"{what} as the model ships them: kept by the common GGUFs (ggml-org, unsloth, "
        f"bartowski, lmstudio-community) whatever the file's label; {base} applies to the "
        f"rest (ask for {base}{REQUANT_SUFFIX} for files that requantize them)"
    )


def file_quant_from_ftype(ftype: int) -> str | None:
    """User-facing quant name of a GGUF ``general.file_type`` value (None if unknown)."""
    for name, ft in FILE_QUANTS.items():
        if int(ft) == int(ftype):
            return name
    return None


# --------------------------------------------------------------------------------------
# the recipe


@lru_cache(maxsize=65536)
def _category(name: str) -> str:
    """Broad role of a tensor, matched by name the way llama-quant.cpp does."""
    if name == "output.weight":
        return "output"
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return "token_embd"
    for needle, cat in (
        ("attn_qkv.weight", "attn_qkv"),
        ("attn_kv_b.weight", "attn_kv_b"),
        ("attn_v.weight", "attn_v"),
        ("attn_k.weight", "attn_k"),
        ("attn_q.weight", "attn_q"),
        ("attn_output.weight", "attn_output"),
        ("ffn_up", "ffn_up"),
        ("ffn_gate", "ffn_gate"),
        ("ffn_down", "ffn_down"),
    ):
        if needle in name:
            return cat
    return "other"


_ATTN_V_LIKE = frozenset({"attn_v", "attn_qkv", "attn_kv_b"})
_NOT_QUANTIZED = (
    "_norm.weight",
    "ffn_gate_inp.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "attn_rel_b.weight",
)


_NOT_QUANTIZED_RE = re.compile("|".join(re.escape(s) for s in _NOT_QUANTIZED))

# A tensor llama-quantize leaves alone keeps the type it has in the converted GGUF
# (llama_tensor_get_type returns ``tensor->type``). convert_hf_to_gguf.py writes F32 only
# for 1-D tensors, norms, names not ending in ".weight" and this list (its
# prepare_tensors); every other tensor takes the conversion's output type, 16-bit in the
# F16/BF16 files quantizers start from (F32 only when the file itself is F32). So
# Gemma 3n's AltUp projections, LAuReL matrices and per_layer_model_proj are 16-bit.
_CONVERTER_F32 = re.compile(
    r"ffn_gate_inp|position_embd|token_types|ssm_conv1d|shortconv\.conv|time_mix_(first|w1|w2|decay_w1|decay_w2|lerp_fused)"
    r"|posnet\.\d+\.norm|altup_correct_coef|altup_predict_coef"
)


def _source_type(t: TensorSpec) -> str:
    """The type the converter gives a tensor that llama-quantize will not quantize."""
    if len(t.shape) < 2 or max(t.shape[1:]) <= 1 or t.name.endswith("_norm.weight") or not t.name.endswith(".weight"):
        return "F32"
    return "F32" if _CONVERTER_F32.search(t.name) else "F16"


def _quantizable(t: TensorSpec) -> bool:
    """llama.cpp quantizes only 2-D/3-D ``*weight`` tensors that are not norms or routers."""
    if len(t.shape) < 2 or max(t.shape[1:]) <= 1:  # ggml_n_dims < 2
        return False
    return _quantizable_name(t.name)


@lru_cache(maxsize=65536)
def _quantizable_name(name: str) -> bool:
    return name.endswith("weight") and _NOT_QUANTIZED_RE.search(name) is None


def row_fallback(ncols: int, target: str) -> str:
    """tensor_type_fallback: a type whose blocks divide the row when ``target``'s do not."""
    if ncols % GGML_TYPES[target][0] == 0:
        return target
    if target in ("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ4_XS"):
        new = "IQ4_NL"
    elif target in ("Q2_K", "Q3_K", "TQ1_0", "TQ2_0"):
        new = "Q4_0"
    elif target == "Q4_K":
        new = "Q5_0"
    elif target == "Q5_K":
        new = "Q5_1"
    elif target == "Q6_K":
        new = "Q8_0"
    else:  # llama.cpp aborts here; F16 is what it uses when even the fallback misfits
        new = "F16"
    if ncols % GGML_TYPES[new][0]:
        new = "F16"
    return new


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


class _Prepared:
    """What the recipe needs of a tensor list whatever the quant: llama.cpp's order, and
    each tensor's role and whether it is quantized at all."""

    def __init__(self, tensors: Sequence[TensorSpec]) -> None:
        self.tensors = tuple(tensors)
        ordered = llama_order(list(tensors))
        # (tensor, role, its typed specs by type): a quantizable tensor's table fills as
        # quants type it; one that is never quantized keeps the converter's type
        self.entries: tuple[tuple[TensorSpec, str, dict[str, TensorSpec] | None], ...] = tuple(
            (t, _category(t.name), {} if _quantizable(t) else None) for t in ordered
        )
        kept = [t for t, _, typed in self.entries if typed is None]
        self.f32 = {id(t): shared_spec(t.name, t.shape, "F32") for t in kept}
        self.kept = {id(t): shared_spec(t.name, t.shape, _source_type(t)) for t in kept}
        self.n_attention_wv = sum(1 for _, cat, _ in self.entries if cat in _ATTN_V_LIKE)
        self.tied = not any(t.name == "output.weight" for t in ordered)


# A sweep types the same tensor list once per quant: prepare it once (bounded, by value).
# A prepared list holds its tensors, so a bounded count is not a bounded size: lists
# longer than any catalog model's (an uploaded header may carry 65,536 tensors) get a
# cache of their own with room for a few, and a stream of them cannot fill the other.
PREPARED_SMALL = 2048


# A prepared list with its typed tables is ~0.6 MiB for a catalog model once its quants have
# filled them: 12 hold a page's working set (a model and its quants, the few models a
# comparison shows; a sweep walks models one at a time) and keep a server that serves every
# catalog model within its memory budget (bench/load.py --reruns).
@lru_cache(maxsize=12)
def _prepare(tensors: tuple[TensorSpec, ...]) -> _Prepared:
    return _Prepared(tensors)


@lru_cache(maxsize=4)
def _prepare_large(tensors: tuple[TensorSpec, ...]) -> _Prepared:
    return _Prepared(tensors)


def _prepared(tensors: tuple[TensorSpec, ...]) -> _Prepared:
    return _prepare(tensors) if len(tensors) <= PREPARED_SMALL else _prepare_large(tensors)


# Finding a tensor list in the cache above hashes every tensor (~1 ms for a large model):
# the recipe of a catalog model finds it by the architecture instead, once per model rather
# than once per quant (the same prepared object: no second copy).
@lru_cache(maxsize=12)
def _prepared_for(arch: ModelArch) -> _Prepared:
    return _prepared(tuple(tensors_for(arch)))


class _State:
    def __init__(self, arch: ModelArch, prep: _Prepared, imatrix: bool, fused_qkv_own_rule: bool = False) -> None:
        self.arch = arch
        self.imatrix = imatrix
        self.fused_qkv_own_rule = fused_qkv_own_rule
        self.n_attention_wv = prep.n_attention_wv
        self.n_layer = arch.n_layers
        self.i_attention_wv = 0
        self.i_ffn_down = self.i_ffn_gate = self.i_ffn_up = 0
        self.tied = prep.tied
        self.n_expert = arch.n_experts
        # what llama.cpp reads back from the GGUF: MLA files store one KV head
        n_kv = 1 if arch.is_mla else arch.n_kv_heads
        self.n_gqa = arch.n_heads // n_kv
        # LLM_TYPE_70B: llama (GQA) and qwen2 with 80 layers
        self.is_70b = arch.n_layers == 80 and (
            (arch.arch == "llama" and arch.n_heads != arch.n_kv_heads) or arch.arch == "qwen2"
        )

    def layer_of(self, counter: int, t: TensorSpec) -> int:
        return t.layer if max(1, self.n_expert) > 1 else counter


def _impl(s: _State, new: str, t: TensorSpec, ft: LlamaFileType, cat: str) -> str:
    """llama_tensor_get_type_impl: adjust the default type by role, layer and model."""
    if cat == "output" or (s.tied and cat == "token_embd"):
        nx = t.shape[0]
        if ft == F.MOSTLY_MXFP4_MOE:
            return "Q8_0"
        if nx % GGML_TYPES[new][0]:
            return "Q8_0"
        if ft in (
            F.MOSTLY_IQ2_XXS,
            F.MOSTLY_IQ2_XS,
            F.MOSTLY_IQ3_XXS,
            F.MOSTLY_IQ1_S,
            F.MOSTLY_IQ2_S,
            F.MOSTLY_IQ2_M,
            F.MOSTLY_IQ1_M,
        ):
            return "Q5_K"
        return new if new == "Q8_0" else "Q6_K"
    if ft == F.MOSTLY_MXFP4_MOE:
        return "MXFP4" if len(t.shape) >= 3 and t.shape[2] > 1 else "Q8_0"
    if cat == "token_embd":
        if ft in (F.MOSTLY_IQ2_XXS, F.MOSTLY_IQ2_XS, F.MOSTLY_IQ1_S, F.MOSTLY_IQ1_M):
            return "Q2_K"
        if ft in (F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M, F.MOSTLY_IQ3_XXS):
            return "IQ3_S"
        if ft in (F.MOSTLY_TQ1_0, F.MOSTLY_TQ2_0):
            return "Q4_K"
        return new
    if ft in _IQ12:
        lowtwo = "IQ3_S" if ft in (F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M) else "Q2_K"
        if cat in _ATTN_V_LIKE:
            new = "Q4_K" if (s.n_gqa >= 4 or s.n_expert >= 4) else lowtwo
            s.i_attention_wv += 1
        elif s.n_expert == 8 and cat == "attn_k":
            new = "Q4_K"
        elif cat == "ffn_down":
            if s.i_ffn_down < s.n_layer // 8:
                new = lowtwo
            s.i_ffn_down += 1
        elif cat == "attn_output":
            if s.n_expert == 8:
                new = "Q5_K"
            elif ft in (F.MOSTLY_IQ1_S, F.MOSTLY_IQ1_M):
                new = "IQ2_XXS"
            elif ft in (F.MOSTLY_IQ2_S, F.MOSTLY_IQ2_M):
                new = "IQ3_S"
        return new
    if cat in ("attn_qkv", "attn_kv_b") and s.fused_qkv_own_rule:
        # llama.cpp before its tensor-category refactor: fused QKV had its own rule and
        # attn_kv_b none; both still counted in n_attention_wv but never advanced i_attention_wv
        if cat == "attn_qkv":
            if ft in (F.MOSTLY_Q3_K_M, F.MOSTLY_Q3_K_L, F.MOSTLY_IQ3_M):
                return "Q4_K"
            if ft == F.MOSTLY_Q4_K_M:
                return "Q5_K"
            if ft == F.MOSTLY_Q5_K_M:
                return "Q6_K"
        return new
    if cat in _ATTN_V_LIKE:
        gqa4 = s.n_gqa >= 4
        if ft == F.MOSTLY_Q2_K:
            new = "Q4_K" if gqa4 else "Q3_K"
        elif ft == F.MOSTLY_Q2_K_S and gqa4:
            new = "Q4_K"
        elif ft == F.MOSTLY_IQ3_XXS:
            new = "Q4_K" if gqa4 else ("IQ3_XXS" if s.imatrix else "IQ3_S")
        elif ft in (F.MOSTLY_IQ3_XS, F.MOSTLY_IQ3_S) and gqa4:
            new = "Q4_K"
        elif ft == F.MOSTLY_IQ3_M:
            new = "Q4_K"
        elif ft == F.MOSTLY_Q3_K_M:
            new = "Q5_K" if s.i_attention_wv < 2 else "Q4_K"
        elif ft == F.MOSTLY_Q3_K_L:
            new = "Q5_K"
        elif ft in (F.MOSTLY_IQ4_NL, F.MOSTLY_IQ4_XS) and gqa4:
            new = "Q5_K"
        elif ft in (F.MOSTLY_Q4_K_M, F.MOSTLY_Q5_K_M) and _use_more_bits(s.i_attention_wv, s.n_attention_wv):
            new = "Q6_K"
        elif ft == F.MOSTLY_Q4_K_S and s.i_attention_wv < 4:
            new = "Q5_K"
        if s.is_70b and new in ("Q3_K", "Q4_K"):
            new = "Q5_K"
        if s.n_expert == 8:
            new = "Q8_0"
        s.i_attention_wv += 1
        return new
    if cat == "attn_k":
        if s.n_expert == 8:
            return "Q8_0"
        if ft == F.MOSTLY_IQ3_XS:
            return "IQ3_XXS"
        if ft == F.MOSTLY_IQ3_XXS:
            return "IQ2_S"
        return new
    if cat == "attn_q":
        if ft == F.MOSTLY_IQ3_XS:
            return "IQ3_XXS"
        if ft == F.MOSTLY_IQ3_XXS:
            return "IQ2_S"
        return new
    if cat == "ffn_down":
        i, n = s.layer_of(s.i_ffn_down, t), s.n_layer
        if ft == F.MOSTLY_Q2_K:
            new = "Q3_K"
        elif ft == F.MOSTLY_Q2_K_S:
            if i < n // 8:
                new = "Q4_K"
        elif ft == F.MOSTLY_IQ3_XXS and not s.imatrix:
            new = "Q4_K" if i < n // 8 else "Q3_K"
        elif ft == F.MOSTLY_Q3_K_M:
            new = "Q5_K" if i < n // 16 else "Q4_K"  # (Falcon alone may keep Q3_K)
        elif ft == F.MOSTLY_IQ3_M and (i < n // 8 or (s.n_expert == 8 and _use_more_bits(i, n))):
            new = "Q4_K"
        elif ft == F.MOSTLY_Q3_K_L:
            new = "Q5_K"
        elif ft == F.MOSTLY_Q4_K_M:
            if _use_more_bits(i, n):
                new = "Q6_K"
        elif i < n // 8 and ft in (F.MOSTLY_IQ4_NL, F.MOSTLY_IQ4_XS) and not s.imatrix:
            new = "Q5_K"
        elif ft == F.MOSTLY_Q5_K_M and _use_more_bits(i, n):
            new = "Q6_K"
        elif ft == F.MOSTLY_Q4_K_S and i < n // 8:
            new = "Q5_K"
        elif ft in (F.MOSTLY_Q4_0, F.MOSTLY_Q5_0) and s.imatrix and i < n // 8:
            new = "Q4_1" if ft == F.MOSTLY_Q4_0 else "Q5_1"
        s.i_ffn_down += 1
        return new
    if cat == "attn_output":
        if s.n_expert == 8:
            if ft in (
                F.MOSTLY_Q2_K,
                F.MOSTLY_IQ3_XS,
                F.MOSTLY_IQ3_XXS,
                F.MOSTLY_Q3_K_S,
                F.MOSTLY_Q3_K_M,
                F.MOSTLY_IQ4_NL,
                F.MOSTLY_Q4_K_S,
                F.MOSTLY_Q4_K_M,
                F.MOSTLY_IQ3_S,
                F.MOSTLY_IQ3_M,
                F.MOSTLY_IQ4_XS,
            ):
                new = "Q5_K"
        else:
            new = {
                F.MOSTLY_Q2_K: "Q3_K",
                F.MOSTLY_IQ3_XXS: "IQ3_S",
                F.MOSTLY_Q3_K_M: "Q4_K",
                F.MOSTLY_Q3_K_L: "Q5_K",
                F.MOSTLY_IQ3_M: "Q4_K",
            }.get(ft, new)
        return new
    if cat in ("ffn_gate", "ffn_up"):
        counter = s.i_ffn_gate if cat == "ffn_gate" else s.i_ffn_up
        i, n = s.layer_of(counter, t), s.n_layer
        if ft == F.MOSTLY_IQ3_XS and n // 8 <= i < 7 * n // 8:
            new = "IQ3_XXS"
        if cat == "ffn_gate":
            s.i_ffn_gate += 1
        else:
            s.i_ffn_up += 1
        return new
    return new


@lru_cache(maxsize=32)  # ~55 KiB each: a few models' every quant
def recipe_tensors(arch: ModelArch, quant: str) -> tuple[TensorSpec, ...]:
    """``arch``'s tensors typed by llama-quantize's ``quant`` recipe (memoised, bounded):
    the memory estimate sums them and the traffic model splits them per layer, so a new
    model types each quant once for both."""
    return tuple(_typed(arch, _prepared_for(arch), quant))


def apply_recipe(
    arch: ModelArch,
    tensors: Iterable[TensorSpec],
    quant: str,
    *,
    imatrix: bool | None = None,
    fused_qkv_own_rule: bool = False,
) -> list[TensorSpec]:
    """Type every tensor as ``llama-quantize <quant>`` would, in llama.cpp's tensor order.

    ``imatrix``: whether an importance matrix was used (it changes a few choices for
    Q4_0/Q5_0, IQ3_XXS and IQ4_*); default: only for quants that require one.
    ``fused_qkv_own_rule``: llama.cpp as it was before its tensor-category refactor
    (builds of 2024-2025, e.g. b4456), which gave a fused ``attn_qkv`` (Phi-3/Phi-4) its
    own rule (Q4_K_M -> Q5_K, Q5_K_M -> Q6_K on every layer, nothing for IQ4_*/Q4_K_S)
    instead of attn_v's schedule; files published then follow it. Default: current rule.
    Tensors llama.cpp never quantizes keep the converter's type: F32 for 1-D tensors,
    norms, routers and conv kernels, 16-bit for the other matrices (F32 in an F32 file). Tensors the model ships already quantized (``arch.native_types``,
    gpt-oss's MXFP4 experts) keep that type, unless the quant ends in ``+requant``.
    """
    return _typed(arch, _prepared(tuple(tensors)), quant, imatrix, fused_qkv_own_rule)


def _typed(
    arch: ModelArch, prep: _Prepared, quant: str, imatrix: bool | None = None, fused_qkv_own_rule: bool = False
) -> list[TensorSpec]:
    """``apply_recipe`` over a prepared tensor list."""
    kept = prep.f32 if split_quant(quant)[0] == "F32" else prep.kept
    out: list[TensorSpec] = []
    append = out.append
    for (t, _, typed), typ in zip(prep.entries, _types(arch, prep, quant, imatrix, fused_qkv_own_rule)):
        if typed is None:  # not quantizable: keeps the converter's type
            append(kept[id(t)])
            continue
        spec = typed.get(typ)
        if spec is None:
            spec = typed[typ] = shared_spec(t.name, t.shape, typ)
        append(spec)
    return out


def _types(
    arch: ModelArch, prep: _Prepared, quant: str, imatrix: bool | None = None, fused_qkv_own_rule: bool = False
) -> list[str]:
    """The type the recipe gives each tensor of a prepared list, in its order."""
    name, requant = split_quant(quant)
    ft = FILE_QUANTS[name]
    default = _DEFAULT_TYPE[ft]
    native = () if requant else arch.native_types
    s = _State(arch, prep, imatrix if imatrix is not None else ft in _NEEDS_IMATRIX, fused_qkv_own_rule)
    quantized = is_quantized(default)
    kept = prep.f32 if name == "F32" else prep.kept
    out: list[str] = []
    append = out.append
    for t, cat, typed in prep.entries:
        if typed is None:  # not quantizable: keeps the converter's type
            append(kept[id(t)].ggml_type)  # type: ignore[arg-type]  # kept specs are typed
            continue
        keep = native and native_type(arch, t.name)
        if keep:  # shipped quantized: the files keep it as it is
            append(keep)
        else:
            append(row_fallback(t.shape[0], _impl(s, default, t, ft, cat)) if quantized else default)
    return out


TypedTensor = tuple[str, tuple[int, ...], str]  # name, shape, ggml type


@lru_cache(maxsize=32)  # ~35 KiB each
def recipe_types(arch: ModelArch, quant: str) -> tuple[TypedTensor, ...]:
    """``recipe_tensors`` as (name, shape, type) triples, without a TensorSpec per tensor:
    what the weights summary and the traffic model read, for a model they have not seen."""
    prep = _prepared_for(arch)
    return tuple((t.name, t.shape, typ) for (t, _, _), typ in zip(prep.entries, _types(arch, prep, quant)))


def guess_file_quant(arch: ModelArch, tensors: Sequence[TensorSpec]) -> str | None:
    """The file quant of a GGUF whose header lacks ``general.file_type``: the one whose
    llama.cpp recipe types the most of the file's weight elements as the file has them.

    The dominant type alone misleads: Gemma-3-270M at Q4_K_M holds most of its elements
    in a Q8_0 embedding and falls back to Q5_0 on its 640-wide rows. None if nothing fits.
    """
    have = {t.name: t.ggml_type for t in tensors}
    untyped = [t.model_copy(update={"ggml_type": None}) if t.ggml_type else t for t in tensors]
    best, best_n = None, 0
    for name in FILE_QUANTS:
        n = sum(t.n_elements for t in apply_recipe(arch, untyped, name) if have.get(t.name) == t.ggml_type)
        if n > best_n:
            best, best_n = name, n
    return best


def weights_bytes(arch: ModelArch, quant: str, **kw) -> int:
    """Bytes of all weight tensors of ``arch`` quantized as ``quant`` (no file header)."""
    file_quant(quant)
    return sum(tensor_bytes(t) for t in apply_recipe(arch, tensors_for(arch), quant, **kw))


def stock_floor_bytes(arch: ModelArch, quant: str, **kw) -> int:
    """The fewest weight bytes a stock ``llama-quantize <quant>`` file of ``arch`` can hold.

    Why: a published size below this is not llama.cpp's recipe at any build (a custom
    ``--tensor-type`` mix, or a mislabelled listing) and must not be fitted. The recipe's
    upgrades depend on layer position and counters that changed across builds; its
    downgrades and the output head's rule (Q5_K for the IQ1/IQ2/IQ3_XXS quants, else Q6_K,
    Q8_0 for rows that do not fill its blocks) did not. So each tensor counts at the
    smaller of its recipe type and the quant's base type (after the row fallback), the
    output head (the token embedding when tied) and natively kept tensors at their
    recipe type. ``kw`` as ``apply_recipe``.
    """
    name, _ = split_quant(quant)
    base = _DEFAULT_TYPE[FILE_QUANTS[name]]
    typed = apply_recipe(arch, tensors_for(arch), quant, **kw)
    if not is_quantized(base):
        return sum(tensor_bytes(t) for t in typed)
    head = "output.weight" if any(t.name == "output.weight" for t in typed) else "token_embd.weight"
    total = 0
    for t in typed:
        size = tensor_bytes(t)
        assert t.ggml_type is not None  # apply_recipe types every tensor
        free = is_quantized(t.ggml_type) and t.name != head and native_type(arch, t.name) is None
        if free:
            size = min(size, _nbytes(row_fallback(t.shape[0], base), t.shape))
        total += size
    return total


def bits_per_weight(tensors: Iterable[TensorSpec]) -> float:
    """Average bits per parameter of a typed tensor list."""
    ts = list(tensors)
    n = sum(t.n_elements for t in ts)
    return 8 * sum(tensor_bytes(t) for t in ts) / n if n else 0.0

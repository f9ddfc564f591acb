"""Read a GGUF file's header (metadata and tensor table) without touching tensor data.

This is the most exact source of a model's architecture: the header names every tensor
with its ggml type and shape, so weight bytes are read, not estimated.

Why our own walk of the header instead of ``gguf.GGUFReader``: a header is untrusted
input, and GGUFReader trusts its counts (a header declaring 10^12 tensors or a 2^60-byte
string makes it allocate or loop for ever). It is also slow on big vocabularies (about
11 s for Gemma-3's 262k-token list, because it builds an object per token). So we walk
the header once ourselves, checking every count and length against the bytes left in the
file before using it, skipping over the token lists, and we use the ``gguf`` package for
the format's vocabulary (value types, ggml types, block sizes). Tests check the result
against GGUFReader on real files.

Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md
"""

from __future__ import annotations

import mmap
import os
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any, overload

from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType
from pydantic import BaseModel, ConfigDict, ValidationError

from sizing.errors import SizingError
from sizing.core.arch import MAX_LAYERS, ModelArch
from sizing.core.tensors import TensorSpec, llama_order
from sizing.core.quant import file_quant_from_ftype, guess_file_quant

GGUF_MAGIC = b"GGUF"
MAX_KEY_BYTES = 65_535  # the spec's limit for a key
MAX_TENSOR_NAME = 1_024  # ggml allows 64; leave room, but not gigabytes
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_ARRAY_NESTING = 2
KEEP_ARRAY_VALUES = 4_096  # numeric arrays up to this length are kept (per-layer values)
# Far above any published model (a 512-layer model with per-expert tensors stays under
# it) and far below what a crafted header can declare: tables this long are refused
# before they are walked, so a header costs bounded CPU and memory.
MAX_TENSORS = 65_536
#: An upload holds the header, not the data, so a tensor's size cannot be checked against
#: it: 2^44 elements (a 4 TB tensor at 2 bits) is beyond any model and far from overflow.
MAX_UPLOAD_TENSOR_ELEMENTS = 1 << 44
MAX_METADATA = 65_536

_SCALAR = {
    GGUFValueType.UINT8: "<B",
    GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I",
    GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f",
    GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}
_TYPE_NAMES = {int(t): t.name for t in GGMLQuantizationType}


class GGUFArray(BaseModel):
    """An array value: its length always, its items only when short (token lists are skipped)."""

    model_config = ConfigDict(frozen=True)

    item_type: str
    length: int
    values: tuple[Any, ...] | None = None


class GGUFModel(BaseModel):
    """What a GGUF header tells us: architecture, typed tensors, file quant and size."""

    model_config = ConfigDict(frozen=True)

    path: str
    arch: ModelArch
    tensors: tuple[TensorSpec, ...]
    file_type: str  # user-facing quant name, e.g. "Q4_K_M"; "unknown" if the header lacks it
    file_size: int  # bytes on disk (logical size; a sparse file may use less)
    data_offset: int  # where tensor data starts
    metadata: dict[str, Any]  # scalars as values, arrays as GGUFArray

    @property
    def header_bytes(self) -> int:
        return self.data_offset


class NeedMoreBytes(Exception):
    """The header goes on past the bytes read so far (a remote read fetches more and retries)."""

    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


class _Cursor:
    """Bounded reads over the mapped header: every length is checked before it is used.

    ``size`` is the whole file's size (what every declared count and length is checked
    against); ``avail`` is how many of its first bytes ``buf`` holds, less than ``size``
    for a header read in part over HTTP: reading past it raises ``NeedMoreBytes``, so a
    partial header is never taken for a whole one.
    """

    def __init__(self, buf, size: int, path, avail: int | None = None) -> None:
        self.buf, self.size, self.path, self.pos = buf, size, path, 0
        self.avail = size if avail is None else avail

    def fail(self, what: str) -> SizingError:
        return SizingError(f"{self.path}: {what}")

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise self.fail(
                f"truncated or corrupt GGUF header: {what} needs {n} bytes at offset {self.pos}, "
                f"but the file has {self.size} bytes"
            )
        if self.pos + n > self.avail:
            raise NeedMoreBytes(self.pos + n)

    def unpack(self, fmt: str, what: str):
        n = struct.calcsize(fmt)
        self.need(n, what)
        v = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += n
        return v

    def u32(self, what: str) -> int:
        return self.unpack("<I", what)

    def u64(self, what: str) -> int:
        return self.unpack("<Q", what)

    def string(self, what: str, limit: int | None = None) -> str:
        n = self.u64(f"length of {what}")
        if limit is not None and n > limit:
            raise self.fail(f"corrupt GGUF header: {what} declares {n} bytes (limit {limit})")
        self.need(n, what)
        raw = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("utf-8", errors="replace")

    def skip_string(self, what: str) -> None:
        n = self.u64(f"length of {what}")
        self.need(n, what)
        self.pos += n

    def value_type(self, what: str) -> GGUFValueType:
        raw = self.u32(f"type of {what}")
        try:
            return GGUFValueType(raw)
        except ValueError:
            raise self.fail(f"corrupt GGUF header: {what} has unknown value type {raw}") from None

    def value(self, vt: GGUFValueType, what: str, depth: int = 0) -> Any:
        if vt in _SCALAR:
            return self.unpack(_SCALAR[vt], what)
        if vt == GGUFValueType.STRING:
            return self.string(what)
        if vt == GGUFValueType.ARRAY:
            if depth >= MAX_ARRAY_NESTING:
                raise self.fail(f"corrupt GGUF header: {what} nests arrays too deeply")
            it = self.value_type(f"items of {what}")
            n = self.u64(f"length of {what}")
            if it in _SCALAR:
                item = struct.calcsize(_SCALAR[it])
                self.need(n * item, f"{n} items of {what}")
                if n <= KEEP_ARRAY_VALUES:
                    vals = struct.unpack_from("<" + _SCALAR[it][1] * n, self.buf, self.pos)
                    self.pos += n * item
                    return GGUFArray(item_type=it.name, length=n, values=tuple(vals))
                self.pos += n * item
                return GGUFArray(item_type=it.name, length=n)
            # every item takes at least 8 bytes (a string length or an array header)
            self.need(n * 8, f"{n} items of {what}")
            keep = n <= 64
            items: list[Any] = []
            for k in range(n):
                if it == GGUFValueType.STRING:
                    if keep:
                        items.append(self.string(f"item {k} of {what}"))
                    else:
                        self.skip_string(f"item {k} of {what}")
                else:
                    v = self.value(it, f"item {k} of {what}", depth + 1)
                    if keep:
                        items.append(v)
            return GGUFArray(item_type=it.name, length=n, values=tuple(items) if keep else None)
        raise self.fail(f"corrupt GGUF header: {what} has unsupported type {vt.name}")


def _parse(
    path,
    buf,
    size: int,
    avail: int | None = None,
    max_elements: int | None = None,
) -> tuple[int, dict[str, Any], list[TensorSpec], list[int]]:
    """Walk the header. A tensor may not hold more than ``max_elements`` elements; by
    default what the file's bytes could hold (even 1-bit types need a byte per 8)."""
    c = _Cursor(buf, size, path, avail)
    if max_elements is None:
        max_elements = size * 256
    if size < 4 or c.avail < 4 or bytes(buf[:4]) != GGUF_MAGIC:
        head = bytes(buf[: min(c.avail, 4)])
        raise c.fail(f"not a GGUF file (starts with {head!r}, expected {GGUF_MAGIC!r})")
    c.pos = 4
    version = c.u32("version")
    if version not in (2, 3):
        if version in (0x02000000, 0x03000000):
            raise c.fail("big-endian GGUF files are not supported")
        raise c.fail(f"unsupported GGUF version {version} (supported: 2, 3)")
    n_tensors = c.u64("tensor count")
    n_kv = c.u64("metadata count")
    if n_tensors > MAX_TENSORS:
        raise c.fail(f"corrupt GGUF header: declares {n_tensors} tensors (at most {MAX_TENSORS} are read)")
    if n_kv > MAX_METADATA:
        raise c.fail(f"corrupt GGUF header: declares {n_kv} metadata entries (at most {MAX_METADATA} are read)")
    # the smallest possible entries: a KV is key length + 1 byte + type + 1 byte; a tensor
    # info is name length + 1 byte + n_dims + one dim + type + offset
    left = size - c.pos
    if n_kv * 14 > left:
        raise c.fail(
            f"truncated or corrupt GGUF header: declares {n_kv} metadata entries, more than {size} bytes can hold"
        )
    if n_tensors * 33 > left:
        raise c.fail(f"truncated or corrupt GGUF header: declares {n_tensors} tensors, more than {size} bytes can hold")

    meta: dict[str, Any] = {}
    for i in range(n_kv):
        key = c.string(f"key of metadata entry {i}", MAX_KEY_BYTES)
        vt = c.value_type(f"metadata {key!r}")
        meta[key] = c.value(vt, f"metadata {key!r}")

    tensors: list[TensorSpec] = []
    offsets: list[int] = []
    for i in range(n_tensors):
        name = c.string(f"name of tensor {i}", MAX_TENSOR_NAME)
        nd = c.u32(f"dimension count of tensor {name!r}")
        if not 1 <= nd <= MAX_DIMS:
            raise c.fail(f"corrupt GGUF header: tensor {name!r} has {nd} dimensions (1..{MAX_DIMS})")
        shape = tuple(c.u64(f"shape of tensor {name!r}") for _ in range(nd))
        raw = c.u32(f"type of tensor {name!r}")
        tname = _TYPE_NAMES.get(raw)
        if tname is None or GGMLQuantizationType(raw) not in GGML_QUANT_SIZES:
            raise c.fail(f"tensor {name!r} has unknown ggml type {raw}")
        off = c.u64(f"data offset of tensor {name!r}")
        bs, ts = GGML_QUANT_SIZES[GGMLQuantizationType(raw)]
        if any(d == 0 for d in shape) or shape[0] % bs:
            raise c.fail(f"corrupt GGUF header: tensor {name!r} has shape {list(shape)} invalid for {tname}")
        n = 1
        for d in shape:
            n *= d
            if n > max_elements:
                raise c.fail(f"corrupt GGUF header: tensor {name!r} shape {list(shape)} is impossibly large")
        tensors.append(TensorSpec(name=name, shape=shape, ggml_type=tname))
        offsets.append(off)
    align = meta.get("general.alignment", 32)
    if not isinstance(align, int) or align <= 0 or align & (align - 1):
        raise c.fail(f"corrupt GGUF header: general.alignment {align!r} is not a power of two")
    data_offset = (c.pos + align - 1) // align * align
    return data_offset, meta, tensors, offsets


def _check_data(path, size: int, data_offset: int, tensors, offsets) -> None:
    for t, off in zip(tensors, offsets):
        bs, ts = GGML_QUANT_SIZES[GGMLQuantizationType[t.ggml_type]]
        nbytes = t.n_elements // bs * ts
        end = data_offset + off + nbytes
        if end > size:
            raise SizingError(
                f"{path}: truncated GGUF file: tensor {t.name!r} ends at byte {end}, but the file has {size} bytes"
            )


def read_gguf_bytes(data: bytes, name: str) -> GGUFModel:
    """A GGUF header held in memory: an upload, which is the first megabytes of a file.

    Every count and length is checked against these bytes, the ones actually received;
    the tensor data is not expected to be here, so ``file_size`` is the bytes given. A
    part of a split model is refused: its other parts cannot be read from an upload.
    """
    label = Path(name).name or "upload"
    if not data:
        raise SizingError(f"{label}: empty file, not a GGUF file")
    data_offset, meta, tensors, _ = _parse(
        Path(label), memoryview(data), len(data), max_elements=MAX_UPLOAD_TENSOR_ELEMENTS
    )
    count = meta.get("split.count")
    if isinstance(count, int) and count > 1:
        raise SizingError(
            f"{label}: one part of a model split in {count} files; an upload is read alone, "
            "so size the model from its catalog or Hugging Face id instead"
        )
    stem = label[:-5] if label.lower().endswith(".gguf") else label
    arch = arch_from_header(meta, tensors, id=stem or "upload", source=f"GGUF header of the uploaded file {label}")
    return GGUFModel(
        path=label,
        arch=arch,
        tensors=tuple(llama_order(tensors)),
        file_type=_file_type(meta, tensors, arch),
        file_size=len(data),
        data_offset=data_offset,
        metadata=meta,
    )


def read_gguf_header(path: str | os.PathLike) -> tuple[dict[str, Any], list[TensorSpec], int, int]:
    """(metadata, tensors in file order, data offset, file size), every read bounded."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise SizingError(f"{p}: no such file") from None
    except OSError as e:
        raise SizingError(f"{p}: cannot read ({e.strerror or e})") from None
    if p.is_dir():
        raise SizingError(f"{p}: is a directory, not a GGUF file")
    size = st.st_size
    if size == 0:
        raise SizingError(f"{p}: empty file, not a GGUF file")
    try:
        with open(p, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            data_offset, meta, tensors, offsets = _parse(p, buf, size)
    except SizingError:
        raise
    except (OSError, ValueError) as e:
        raise SizingError(f"{p}: cannot read as GGUF ({e})") from None
    _check_data(p, size, data_offset, tensors, offsets)
    return meta, tensors, data_offset, size


# --------------------------------------------------------------------------------------
# header -> ModelArch

#: llama.cpp hard-codes the sliding-window layer pattern for these (set_swa_pattern)
_SWA_PATTERN = {"gemma2": 2, "gemma3": 6, "gpt-oss": 2, "cohere2": 4, "gemma3n": 5}
#: gemma3n: only the first 20 layers hold KV, later ones reuse it (src/models/gemma3n.cpp,
#: n_layer_kv_from_start)
GEMMA3N_KV_LAYERS = 20
#: llama4: chunked attention of 8192 tokens on 3 of every 4 layers, unless the header sets
#: sliding_window to 0 (llama.cpp src/models/llama4.cpp, load_arch_hparams)
LLAMA4_CHUNK = 8192
LLAMA4_CHUNK_PATTERN = 4

#: how llama.cpp tells a recurrent block from an attention block, per architecture
#: (each model's load_arch_hparams): by zero KV heads, by zero KV heads *and* zero FFN
#: width (nemotron_h: zero KV heads with an FFN is an FFN-only block), or by a full
#: attention interval (qwen3next, qwen35: every n-th layer attends, default 4)
_RECURRENT_BY = {
    "granitehybrid": ("kv0", "mamba2"),
    "nemotron_h": ("kv0_ff0", "mamba2"),
    "nemotron_h_moe": ("kv0_ff0", "mamba2"),
    "lfm2": ("kv0", "shortconv"),
    "lfm2moe": ("kv0", "shortconv"),
    "qwen3next": ("interval", "gated_delta"),
    "qwen35": ("interval", "gated_delta"),
    "qwen35moe": ("interval", "gated_delta"),
}

#: families whose nearest modelled relative is not the closest spelling
_CLOSEST = {
    "gemma-embedding": "gemma3",
    "mamba": "granitehybrid",
    "mamba2": "granitehybrid",
    "falcon-h1": "granitehybrid",
    "plamo2": "granitehybrid",
    "jamba": "granitehybrid",
    "deepseek": "deepseek2",
    "kimi-linear": "qwen3next",
    "glm4": "glm4moe",
    "olmo2": "llama",
    "granite": "llama",
    "granitemoe": "qwen3moe",
    "phimoe": "phi3",
    "exaone4": "llama",
    "cohere2": "gemma2",
}


def supported_gguf_archs() -> tuple[str, ...]:
    """llama.cpp architectures whose headers we size: the ones with a tensor layout here."""
    from sizing.core.tensors import SUPPORTED_ARCHS

    return SUPPORTED_ARCHS


def closest_supported(name: str, supported: tuple[str, ...] | None = None) -> str:
    """The modelled architecture nearest to ``name``: a known relative, else the closest spelling."""
    import difflib

    pool = supported or supported_gguf_archs()
    if name in _CLOSEST and _CLOSEST[name] in pool:
        return _CLOSEST[name]
    best = difflib.get_close_matches(name, pool, n=1, cutoff=0.0)
    return best[0] if best else pool[0]


def _per_layer(meta: dict[str, Any], key: str, n_layers: int, default: int, source: str) -> tuple[int, ...]:
    """A hyperparameter llama.cpp reads with ``get_key_or_arr``: one value, or one per layer."""
    v = meta.get(key, default)
    if isinstance(v, GGUFArray):
        if v.values is None or len(v.values) != n_layers:
            raise SizingError(f"{source}: {key} has {v.length} entries, but block_count is {n_layers}")
        vals = v.values
    else:
        vals = (v,) * n_layers
    hi = _INT_LIMITS.get(key.split(".", 1)[-1], 1 << 32)
    if any(isinstance(x, bool) or not isinstance(x, int) or not 0 <= x <= hi for x in vals):
        raise SizingError(f"{source}: {key} must hold whole numbers from 0 to {hi:,}")
    return tuple(int(x) for x in vals)


def _uniform(vals: tuple[int, ...], key: str, source: str) -> int:
    """The one non-zero value of a per-layer array; layers that differ are not modelled."""
    nz = sorted({x for x in vals if x})
    if len(nz) > 1:
        raise SizingError(
            f"{source}: {key} differs between layers ({', '.join(map(str, nz))}); per-layer "
            "widths other than zero are not modelled, so this file cannot be sized"
        )
    return nz[0] if nz else 0


def _layer_kinds(
    a: str, meta: dict[str, Any], n_layers: int, kv: tuple[int, ...], ff: tuple[int, ...], source: str
) -> dict[str, Any]:
    """Recurrent and FFN-only blocks, and the recurrent state's dimensions, as llama.cpp reads them."""
    how = _RECURRENT_BY.get(a)
    if how is None:
        if 0 in kv:
            raise SizingError(
                f"{source}: {a}.attention.head_count_kv is 0 on some layers, a layer kind "
                f"(recurrent or attention-free) this architecture is not modelled with"
            )
        return {}
    rule, kind = how
    fields: dict[str, Any] = {"recurrent_kind": kind}
    if rule == "kv0":
        fields["recurrent_layers"] = tuple(i for i in range(n_layers) if kv[i] == 0)
    elif rule == "kv0_ff0":
        fields["recurrent_layers"] = tuple(i for i in range(n_layers) if kv[i] == 0 and ff[i] == 0)
        fields["ffn_only_layers"] = tuple(i for i in range(n_layers) if kv[i] == 0 and ff[i] > 0)
    else:
        arr = meta.get(f"{a}.attention.recurrent_layers")
        if isinstance(arr, GGUFArray):
            if arr.values is None or len(arr.values) < n_layers:
                raise SizingError(f"{source}: {a}.attention.recurrent_layers does not cover every layer")
            fields["recurrent_layers"] = tuple(i for i in range(n_layers) if arr.values[i])
        else:
            n = meta.get(f"{a}.full_attention_interval", 4)
            if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
                raise SizingError(f"{source}: {a}.full_attention_interval must be a positive integer")
            fields["recurrent_layers"] = tuple(i for i in range(n_layers) if (i + 1) % n != 0)
    if kind == "shortconv":
        fields["ssm_d_conv"] = _int_key(meta, f"{a}.shortconv.l_cache", source)
    else:
        for f, key in (
            ("ssm_d_conv", "conv_kernel"),
            ("ssm_d_inner", "inner_size"),
            ("ssm_d_state", "state_size"),
            ("ssm_dt_rank", "time_step_rank"),
            ("ssm_n_group", "group_count"),
        ):
            fields[f] = _int_key(meta, f"{a}.ssm.{key}", source)
    return fields


def _gemma4_layers(
    meta: dict[str, Any], kv: tuple[int, ...], n_layers: int, by_name: dict[str, TensorSpec], source: str
) -> tuple[dict[str, Any], tuple[int, ...]]:
    """gemma4's per-layer keys (src/models/gemma4.cpp load_arch_hparams): the window
    pattern splits the layers; windowed ones have their own KV heads and head width
    (``key_length_swa``); the last ``shared_kv_layers`` reuse earlier KV; full layers
    without ``attn_v`` take V from K. Returns the fields and the full layers' KV heads."""
    pat = meta.get("gemma4.attention.sliding_window_pattern")
    if not isinstance(pat, GGUFArray) or pat.values is None or len(pat.values) < n_layers:
        raise SizingError(f"{source}: gemma4.attention.sliding_window_pattern must give every layer")
    swa = [bool(x) for x in pat.values[:n_layers]]
    full_kv = {kv[i] for i in range(n_layers) if not swa[i]}
    swa_kv = {kv[i] for i in range(n_layers) if swa[i]}
    if len(full_kv) > 1 or len(swa_kv) > 1:
        raise SizingError(
            f"{source}: gemma4.attention.head_count_kv differs within windowed or full "
            "layers; that is not modelled, so this file cannot be sized"
        )
    n_full = next(iter(full_kv), 0) or next(iter(swa_kv))
    n_swa = next(iter(swa_kv), n_full)
    fields: dict[str, Any] = {}
    if n_swa != n_full:
        fields["swa_n_kv_heads"] = n_swa
    hd, hd_swa = (
        _int_value(meta.get(f"gemma4.attention.{x}"), f"gemma4.attention.{x}", source)
        for x in ("key_length", "key_length_swa")
    )
    if hd_swa and hd_swa != hd:
        fields["swa_head_dim"] = hd_swa
    shared = _int_value(meta.get("gemma4.attention.shared_kv_layers"), "gemma4.attention.shared_kv_layers", source)
    if shared:
        if shared >= n_layers:
            raise SizingError(f"{source}: gemma4.attention.shared_kv_layers {shared} leaves no layer its own KV")
        fields["n_kv_layers"] = n_layers - shared
    extra: dict[str, int | bool] = {}
    pl = _int_value(
        meta.get("gemma4.embedding_length_per_layer_input"), "gemma4.embedding_length_per_layer_input", source
    )
    if pl:
        extra["n_embd_per_layer"] = pl
    full0 = next((i for i in range(n_layers) if not swa[i]), None)
    if full0 is not None and f"blk.{full0}.attn_v.weight" not in by_name:
        extra["attention_k_eq_v"] = True
    if extra:
        fields["extra"] = extra
    return fields, tuple(n_full for _ in kv)


def _int_key(meta: dict[str, Any], key: str, source: str) -> int:
    v = meta.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 1 << 24:
        raise SizingError(
            f"{source}: {key} is missing or not a whole number up to {1 << 24:,}; "
            "without it the recurrent state cannot be sized"
        )
    return v


#: Upper bounds for the header's counts and sizes: far above any published model, and
#: low enough that nothing downstream loops or allocates without bound on a crafted value.
_INT_LIMITS = {
    "block_count": MAX_LAYERS,
    "leading_dense_block_count": MAX_LAYERS,
    "context_length": 1 << 32,
    "embedding_length": 1 << 20,
    "feed_forward_length": 1 << 24,
    "expert_feed_forward_length": 1 << 24,
    "expert_count": 1 << 16,
    "expert_used_count": 1 << 16,
    "expert_shared_count": 1 << 16,
    "vocab_size": 1 << 24,
    "attention.head_count": 1 << 16,
    "attention.head_count_kv": 1 << 16,
    "attention.key_length": 1 << 16,
    "attention.value_length": 1 << 16,
    "attention.key_length_mla": 1 << 16,
    "attention.value_length_mla": 1 << 16,
    "attention.kv_lora_rank": 1 << 20,
    "attention.q_lora_rank": 1 << 20,
    "attention.sliding_window": 1 << 32,
    "rope.dimension_count": 1 << 16,
    "attention.indexer.head_count": 1 << 16,
    "attention.indexer.key_length": 1 << 16,
    "attention.indexer.top_k": 1 << 24,
}


def _int_value(v: Any, key: str, source: str) -> int | None:
    """A whole-number field: a scalar, or a per-layer array of them (its largest value).

    Anything else (a string, a float, an array of strings, nested arrays, a value out of
    range) is refused naming the field, before it is used in a loop or a size.
    """
    if v is None:
        return None
    if isinstance(v, GGUFArray):
        if v.values is None or not v.values:
            raise SizingError(
                f"{source}: {key} is an array of {v.length:,} {v.item_type} items, "
                "expected a whole number (or a short per-layer list of them)"
            )
        items = v.values
    else:
        items = (v,)
    bad = next((x for x in items if isinstance(x, bool) or not isinstance(x, int)), None)
    if bad is not None or (isinstance(v, GGUFArray) and v.item_type not in _INT_ITEM_TYPES):
        if isinstance(v, GGUFArray):
            what = f"an array holding {_shown(bad) if bad is not None else v.item_type + ' values'}"
        else:
            what = _shown(bad)
        raise SizingError(f"{source}: {key} is {what}, expected a whole number")
    value, low = max(items), min(items)
    hi = _INT_LIMITS.get(key.split(".", 1)[-1], 1 << 32)
    if low < 0 or value > hi:
        raise SizingError(f"{source}: {key} is {value if value > hi else low:,}, expected 0 to {hi:,}")
    return value


_INT_ITEM_TYPES = {
    t.name for t in _SCALAR if t not in (GGUFValueType.FLOAT32, GGUFValueType.FLOAT64, GGUFValueType.BOOL)
}


def _shown(v: Any) -> str:
    """A header value quoted in a message: its type, and a short repr."""
    if isinstance(v, GGUFArray):
        return f"an array of {v.item_type}"
    text = repr(v)
    return f"{type(v).__name__} {text[:40]}{'…' if len(text) > 40 else ''}"


@overload
def _dim(t: TensorSpec, i: int, source: str) -> int: ...
@overload
def _dim(t: TensorSpec | None, i: int, source: str) -> int | None: ...
def _dim(t: TensorSpec | None, i: int, source: str) -> int | None:
    """Dimension ``i`` of a tensor the mapping needs, or a message naming the tensor."""
    if t is None:
        return None
    if len(t.shape) <= i:
        raise SizingError(
            f"{source}: tensor {t.name!r} has shape {list(t.shape)}, expected at least {i + 1} dimensions"
        )
    return t.shape[i]


def arch_from_header(meta: dict[str, Any], tensors: list[TensorSpec], *, id: str, source: str) -> ModelArch:
    """Map GGUF metadata keys (``{arch}.block_count`` …) and tensor shapes to a ModelArch.

    Per-layer arrays (``head_count_kv``, ``feed_forward_length``, ``head_count``,
    ``sliding_window_pattern``) are read layer by layer: zeros mark recurrent or FFN-only
    blocks where the architecture has them, and non-zero values that differ between
    layers are refused rather than collapsed. An architecture without a model here is
    refused with the closest one that has.
    """
    a = meta.get("general.architecture")
    if not isinstance(a, str) or not a:
        raise SizingError(f"{source}: GGUF header has no general.architecture")
    if len(a) > 64:
        raise SizingError(f"{source}: general.architecture is {len(a):,} characters long, not an architecture name")
    supported = supported_gguf_archs()
    if a == "clip":
        raise SizingError(
            f"{source}: this is a multimodal projector (mmproj), not a language model; give the "
            "model with --model and this file with --mmproj"
        )
    if a not in supported:
        raise SizingError(
            f"{source}: llama.cpp architecture {a!r} is not modelled here, so its memory "
            f"cannot be sized (closest supported: {closest_supported(a, supported)})"
        )

    def k(key: str, default: Any = None) -> Any:
        raw = meta.get(f"{a}.{key}")
        v = _int_value(raw, f"{a}.{key}", source)  # type and range checked first
        if isinstance(raw, GGUFArray) and raw.values and len(set(raw.values)) > 1:
            raise SizingError(
                f"{source}: {a}.{key} differs between layers; that is not modelled, so this file cannot be sized"
            )
        return default if v is None else v

    by_name = {t.name: t for t in tensors}
    has = by_name.__contains__
    emb = by_name.get("token_embd.weight")
    n_all = k("block_count", 0)
    if isinstance(n_all, bool) or not isinstance(n_all, int) or not 0 < n_all <= MAX_LAYERS:
        raise SizingError(f"{source}: {a}.block_count {n_all!r} is not a layer count llama.cpp loads (1..{MAX_LAYERS})")
    nextn = k("nextn_predict_layers", 0)
    if not isinstance(nextn, int) or not 0 <= nextn < n_all:
        raise SizingError(f"{source}: {a}.nextn_predict_layers {nextn!r} must be below block_count")
    n_layers = n_all - nextn  # multi-token-prediction blocks: loaded, never run, no KV
    head_default = meta.get(f"{a}.attention.head_count", 0)
    if isinstance(head_default, GGUFArray):  # per-layer head counts: KV defaults to each
        head_default = _int_value(head_default, f"{a}.attention.head_count", source)
    kv_arr = _per_layer(meta, f"{a}.attention.head_count_kv", n_all, head_default or 0, source)[:n_layers]
    ff_arr = _per_layer(meta, f"{a}.feed_forward_length", n_all, 0, source)[:n_layers]
    nh_arr = _per_layer(meta, f"{a}.attention.head_count", n_all, 0, source)[:n_layers]
    n_heads = _uniform(nh_arr, f"{a}.attention.head_count", source)
    hidden = k("embedding_length", 0)
    g4: dict[str, Any] = {}
    if a == "gemma4":  # windowed and full layers differ in KV heads and head width
        g4, kv_arr = _gemma4_layers(meta, kv_arr, n_layers, by_name, source)
    n_kv = _uniform(kv_arr, f"{a}.attention.head_count_kv", source) or n_heads
    ffn_size = _uniform(ff_arr, f"{a}.feed_forward_length", source)
    hd_k = k("attention.key_length", hidden // n_heads if n_heads else 0)
    hd_v = k("attention.value_length", hd_k)
    rope_dim = k("rope.dimension_count", 0)
    fields: dict[str, Any] = _layer_kinds(a, meta, n_layers, kv_arr, ff_arr, source)
    fields.update(g4)
    if nextn:
        fields["extra"] = {**fields.get("extra", {}), "nextn_predict_layers": nextn}
    kv_lora = k("attention.kv_lora_rank", 0)
    if kv_lora:  # MLA: the *_mla keys hold the real per-head sizes; one latent KV "head"
        hd_k = k("attention.key_length_mla", hd_k)
        hd_v = k("attention.value_length_mla", hd_v)
        n_kv = n_heads
        fields.update(
            kv_lora_rank=kv_lora,
            q_lora_rank=k("attention.q_lora_rank", 0),
            qk_rope_head_dim=rope_dim,
            qk_nope_head_dim=hd_k - rope_dim,
        )
    if a == "deepseek32":  # the lightning indexer (DSA): its heads size tensors and a key cache
        extra = {
            "indexer_n_head": k("attention.indexer.head_count", 0),
            "indexer_head_size": k("attention.indexer.key_length", 0),
            "indexer_top_k": k("attention.indexer.top_k", 0),
        }
        if not (extra["indexer_n_head"] and extra["indexer_head_size"]):
            raise SizingError(f"{source}: deepseek32 header lacks its attention.indexer head_count/key_length")
        fields["extra"] = {**fields.get("extra", {}), **extra}
    n_exp = k("expert_count", 0)
    if n_exp:
        lead = k("leading_dense_block_count", 0)
        gate = by_name.get("blk.%d.ffn_up_exps.weight" % lead) or next(
            (t for n, t in by_name.items() if n.endswith("ffn_up_exps.weight")), None
        )
        fields.update(
            n_experts=n_exp,
            n_experts_used=k("expert_used_count", 0),
            expert_ffn_size=k("expert_feed_forward_length", _dim(gate, 1, source) or 0),
            n_dense_leading_layers=lead,
            expert_bias=any(n.endswith("ffn_gate_exps.bias") for n in by_name),
            expert_score_bias=any(n.endswith("exp_probs_b.bias") for n in by_name),
        )
        if a in ("llama4", "ernie4_5-moe"):
            fields["moe_layer_step"] = k("interleave_moe_layer_step", 1) or 1
        n_sh = k("expert_shared_count", 0)
        sh = next((t for n, t in by_name.items() if n.endswith("ffn_up_shexp.weight")), None)
        if sh is not None:
            n_sh = n_sh or 1
            fields.update(n_shared_experts=n_sh, shared_expert_ffn_size=_dim(sh, 1, source) // n_sh)
    window = k("attention.sliding_window", 0)
    pat = meta.get(f"{a}.attention.sliding_window_pattern")
    if a == "llama4":
        if meta.get(f"{a}.attention.sliding_window") != 0:
            fields.update(sliding_window=LLAMA4_CHUNK, swa_pattern=LLAMA4_CHUNK_PATTERN)
    elif window and (a in _SWA_PATTERN or isinstance(pat, GGUFArray)):
        if isinstance(pat, GGUFArray) and pat.values:
            if len(pat.values) < n_layers:
                raise SizingError(f"{source}: {a}.attention.sliding_window_pattern does not cover every layer")
            fields.update(sliding_window=window, swa_layers=tuple(i for i, s in enumerate(pat.values[:n_layers]) if s))
        else:
            fields.update(sliding_window=window, swa_pattern=_SWA_PATTERN[a])
    elif window and a in ("lfm2", "lfm2moe"):  # every attention layer is windowed
        att = [i for i in range(n_layers) if i not in set(fields.get("recurrent_layers", ()))]
        fields.update(sliding_window=window, swa_layers=tuple(att))
    if a == "gemma3n":
        alt, lau, gate = (
            by_name.get("altup_proj.weight"),
            by_name.get("blk.0.laurel_l.weight"),
            by_name.get("blk.0.inp_gate.weight"),
        )
        if alt is None or lau is None or gate is None or len(alt.shape) < 3:
            raise SizingError(f"{source}: gemma3n header lacks its AltUp/LAuReL tensors")
        fields["n_kv_layers"] = min(GEMMA3N_KV_LAYERS, n_layers)
        fields["extra"] = {
            **fields.get("extra", {}),
            "n_altup": alt.shape[2] + 1,
            "laurel_rank": lau.shape[1],
            "n_embd_altup": gate.shape[1],
        }
    rope_t = tuple(n for n in ("rope_freqs", "rope_factors_long", "rope_factors_short") if has(f"{n}.weight"))
    if rope_t:
        fields["rope_factor_tensors"] = rope_t
        if 2 * by_name[f"{rope_t[0]}.weight"].shape[0] != hd_k:
            fields["rope_dim"] = 2 * by_name[f"{rope_t[0]}.weight"].shape[0]
    elif rope_dim and rope_dim != hd_k and not kv_lora:
        fields["rope_dim"] = rope_dim
    dense0 = next((i for i in range(n_layers) if has(f"blk.{i}.ffn_up.weight")), None)
    plain = dense0 is not None and not has(f"blk.{dense0}.ffn_gate.weight") and a != "phi3"
    att0 = next((i for i in range(n_layers) if kv_arr[i] and i not in set(fields.get("recurrent_layers", ()))), 0)
    name = meta.get("general.name")
    if isinstance(name, str):  # shown as a title: one printable line
        name = "".join(ch if ch.isprintable() else " " for ch in name[:200]).strip()
    try:
        return ModelArch(
            id=id,
            name=name if isinstance(name, str) and name else id,
            arch=a,
            source=source,
            n_layers=n_layers,
            hidden_size=hidden,
            n_heads=n_heads,
            n_kv_heads=n_kv,
            head_dim_k=hd_k,
            head_dim_v=hd_v,
            ffn_size=ffn_size,
            ffn_activation="plain" if plain else "gated",
            vocab_size=emb.shape[1] if emb is not None and len(emb.shape) > 1 else k("vocab_size", 0),
            tied_embeddings=not has("output.weight"),
            max_context=k("context_length", 0),
            attn_qkv_bias=has(f"blk.{att0}.attn_q.bias") or has(f"blk.{att0}.attn_qkv.bias"),
            attn_out_bias=has(f"blk.{att0}.attn_output.bias"),
            qk_norm=has(f"blk.{att0}.attn_q_norm.weight"),
            post_norms=has(f"blk.{att0}.post_ffw_norm.weight"),
            attn_sinks=has(f"blk.{att0}.attn_sinks.weight"),
            **fields,
        )
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "model"
        raise SizingError(
            f"{source}: architecture {a!r} in this GGUF does not fit the sizing schema ({loc}: {err['msg']})"
        ) from None


def _file_type(meta: dict[str, Any], tensors: list[TensorSpec], arch: ModelArch) -> str:
    """The file's quant, a name every page and command accepts: from ``general.file_type``,
    else guessed from the tensor types (converters and some tools leave the key out)."""
    ft = meta.get("general.file_type")
    if isinstance(ft, int):
        name = file_quant_from_ftype(ft & ~1024)  # 1024 = LLAMA_FTYPE_GUESSED
        if name:
            return name
    return guess_file_quant(arch, tensors) or "unknown"


_SPLIT_NAME = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


def _read_splits(
    p: Path,
    meta: dict[str, Any],
    tensors: list[TensorSpec],
    data_offset: int,
    size: int,
    allowed: Callable[[Path], bool] | None = None,
) -> tuple[dict[str, Any], list[TensorSpec], int, int]:
    """A model split by gguf-split: read every part's header and join the tensor tables.

    Parts are named ``<prefix>-00001-of-0000N.gguf``; the first holds the metadata.
    ``allowed`` vets every other part as the first was vetted (web mode: inside the
    model folders after resolving links), so a part cannot lead out of the folder.
    """
    count = meta.get("split.count")
    if not isinstance(count, int) or count <= 1:
        return meta, tensors, data_offset, size
    m = _SPLIT_NAME.match(p.name)
    if m is None or int(m.group("count")) != count:
        raise SizingError(
            f"{p}: part of a model split in {count} files, but its name does not follow "
            "<name>-00001-of-0000N.gguf, so the other parts cannot be found"
        )
    parts = [p.with_name(f"{m.group('prefix')}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
    missing = [q.name for q in parts if not q.is_file()]
    if missing:
        raise SizingError(f"{p}: split model is missing part(s) {', '.join(missing)} next to it")
    if allowed is not None:
        outside = [q.name for q in parts if q != p and not allowed(q)]
        if outside:
            raise SizingError(f"{p}: split model part(s) {', '.join(outside)} are outside the allowed model folders")
    all_tensors: list[TensorSpec] = []
    first_meta, first_offset, total = meta, data_offset, 0
    for i, q in enumerate(parts):
        qm, qt, qoff, qsize = (meta, tensors, data_offset, size) if q == p else read_gguf_header(q)
        if i == 0:
            first_meta, first_offset = qm, qoff
        all_tensors.extend(qt)
        total += qsize
    want = first_meta.get("split.tensors.count")
    if isinstance(want, int) and want != len(all_tensors):
        raise SizingError(f"{p}: split model declares {want} tensors, its parts hold {len(all_tensors)}")
    return first_meta, all_tensors, first_offset, total


def read_gguf(path: str | os.PathLike, *, allowed: Callable[[Path], bool] | None = None) -> GGUFModel:
    """Architecture, typed tensors (llama.cpp order), file quant and size of a GGUF file.

    A model split in parts (``…-00001-of-00003.gguf``) is read whole from any of its parts;
    ``file_size`` is then the sum of the parts. Any problem (missing, empty, a directory,
    not GGUF, truncated, corrupt counts or lengths, a missing part) raises one SizingError
    naming the file and what is wrong. ``allowed`` (web mode) must accept every other
    part of a split model too.
    """
    p = Path(path)
    meta, tensors, data_offset, size = read_gguf_header(p)
    meta, tensors, data_offset, size = _read_splits(p, meta, tensors, data_offset, size, allowed)
    arch = arch_from_header(meta, tensors, id=p.stem, source=f"GGUF header of {p}")
    return GGUFModel(
        path=str(p),
        arch=arch,
        tensors=tuple(llama_order(tensors)),
        file_type=_file_type(meta, tensors, arch),
        file_size=size,
        data_offset=data_offset,
        metadata=meta,
    )

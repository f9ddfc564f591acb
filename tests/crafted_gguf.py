"""Hand-made GGUF headers, byte by byte, for hostile-input tests and the fuzzer.

The gguf package's writer refuses most of what an attacker sends (wrong types for known
keys, counts that do not match the body), so the hostile headers are packed here with
``struct`` straight from the format (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).
"""

from __future__ import annotations

import struct
from typing import Any

# GGUF value types
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
_FMT = {
    U8: "<B",
    I8: "<b",
    U16: "<H",
    I16: "<h",
    U32: "<I",
    I32: "<i",
    F32: "<f",
    BOOL: "<?",
    U64: "<Q",
    I64: "<q",
    F64: "<d",
}
F32_TYPE = 0  # ggml type of a float32 tensor


def s(text: str | bytes) -> bytes:
    b = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(b)) + b


def value(vtype: int, v: Any, item_type: int | None = None) -> bytes:
    """A typed value (without its type tag). Arrays: ``v`` is a list, ``item_type`` its type
    (nested arrays: items are ``(item_type, list)`` pairs)."""
    if vtype == STRING:
        return s(v)
    if vtype == ARRAY:
        if item_type == ARRAY:  # items are (item type, items) pairs
            body = b"".join(value(ARRAY, items, it) for it, items in v)
        else:
            body = b"".join(value(item_type, x) for x in v)
        return struct.pack("<IQ", item_type, len(v)) + body
    return struct.pack(_FMT[vtype], v)


def kv(key: str, vtype: int, v: Any, item_type: int | None = None) -> bytes:
    return s(key) + struct.pack("<I", vtype) + value(vtype, v, item_type)


def tensor(name: str, shape: tuple[int, ...], ggml_type: int = F32_TYPE, offset: int = 0) -> bytes:
    """A tensor-info entry; ``shape`` in GGUF order (fastest dimension first)."""
    return (
        s(name)
        + struct.pack("<I", len(shape))
        + b"".join(struct.pack("<Q", d) for d in shape)
        + struct.pack("<IQ", ggml_type, offset)
    )


def header(
    kvs: list[bytes],
    tensors: list[bytes] = (),
    *,
    n_kv: int | None = None,
    n_tensors: int | None = None,
    version: int = 3,
) -> bytes:
    """A header; ``n_kv``/``n_tensors`` override the counts (a lying header)."""
    return (
        b"GGUF"
        + struct.pack(
            "<IQQ", version, len(tensors) if n_tensors is None else n_tensors, len(kvs) if n_kv is None else n_kv
        )
        + b"".join(kvs)
        + b"".join(tensors)
    )


def llama_kvs(**override: tuple[int, Any] | tuple[int, Any, int] | None) -> list[bytes]:
    """A tiny valid llama's metadata; ``override`` replaces a key (None removes it)."""
    fields: dict[str, tuple] = {
        "general.architecture": (STRING, "llama"),
        "llama.block_count": (U32, 2),
        "llama.embedding_length": (U32, 64),
        "llama.attention.head_count": (U32, 4),
        "llama.attention.head_count_kv": (U32, 2),
        "llama.feed_forward_length": (U32, 128),
        "llama.context_length": (U32, 256),
    }
    for k, v in override.items():
        key = k.replace("__", ".")
        key = key if key.startswith(("general.", "llama.")) else f"llama.{key}"
        if v is None:
            fields.pop(key, None)
        else:
            fields[key] = v
    return [kv(k, *v) for k, v in fields.items()]


def llama_tensors(n_layers: int = 2) -> list[bytes]:
    out = [tensor("token_embd.weight", (64, 100)), tensor("output_norm.weight", (64,))]
    for i in range(n_layers):
        out += [
            tensor(f"blk.{i}.attn_q.weight", (64, 64)),
            tensor(f"blk.{i}.ffn_up.weight", (64, 128)),
            tensor(f"blk.{i}.ffn_gate.weight", (64, 128)),
            tensor(f"blk.{i}.ffn_down.weight", (128, 64)),
        ]
    return out


def tiny_llama(**override) -> bytes:
    return header(llama_kvs(**override), llama_tensors())

"""Helpers for tests that read real GGUF headers with the gguf package directly.

They build the expected values from the file itself, independent of sizing's reader.
"""

from __future__ import annotations

from functools import lru_cache

import gguf

from sizing.core.arch import ModelArch


@lru_cache(maxsize=8)
def reader(path) -> gguf.GGUFReader:
    """gguf's own reader (slow on big vocabularies: ~10 s for Gemma-3), cached per file."""
    return gguf.GGUFReader(path)


def header_tensors(path) -> dict[str, tuple[int, ...]]:
    r = reader(path)
    return {t.name: tuple(int(x) for x in t.shape) for t in r.tensors}


def arch_from_header(path) -> ModelArch:
    """A ModelArch built by hand from the header's metadata values (independent of our reader)."""
    r = reader(path)
    kv = {k: f.contents() for k, f in r.fields.items() if not k.startswith("tokenizer.")}
    a = kv["general.architecture"]
    heads = kv[f"{a}.attention.head_count"]
    hidden = kv[f"{a}.embedding_length"]
    hd = kv.get(f"{a}.attention.key_length", hidden // heads)
    names = {t.name for t in r.tensors}
    return ModelArch(
        id=str(path),
        name="t",
        arch=a,
        source=str(path),
        n_layers=kv[f"{a}.block_count"],
        hidden_size=hidden,
        n_heads=heads,
        n_kv_heads=kv[f"{a}.attention.head_count_kv"],
        head_dim_k=hd,
        head_dim_v=kv.get(f"{a}.attention.value_length", hd),
        ffn_size=kv[f"{a}.feed_forward_length"],
        vocab_size=len(r.fields["tokenizer.ggml.tokens"].data),
        tied_embeddings="output.weight" not in names,
        max_context=kv[f"{a}.context_length"],
        qk_norm="blk.0.attn_q_norm.weight" in names,
        post_norms="blk.0.post_ffw_norm.weight" in names,
    )

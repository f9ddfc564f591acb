"""Read a multimodal projector (``mmproj`` GGUF) header into a :class:`Projector`.

The header is walked like a model's (bounded, header only: sizing.sources.gguf_reader)
and never run; see sizing.core.projector for what is sized and how.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sizing.core.projector import Projector
from sizing.errors import SizingError

#: clip.cpp's pooling per projector type when the header gives no merge factor
_DEFAULT_MERGE = {
    "gemma3": 4,
    "qwen2vl_merger": 2,
    "qwen25vl": 2,
    "qwen3vl_merger": 2,
    "pixtral": 1,
    "idefics3": 3,
    "lfm2": 2,
    "llama4": 2,
}


def _int(meta: dict[str, Any], key: str, default: int = 0) -> int:
    v = meta.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 1 << 20:
        return default
    return v


def projector_from_header(meta: dict[str, Any], tensors: list, *, path: str, source: str) -> Projector:
    """What an mmproj header's keys and tensor table say (one SizingError if it is not one)."""
    from sizing.core.quant import tensor_bytes

    arch = meta.get("general.architecture")
    if arch != "clip":
        raise SizingError(
            f"{source}: not a multimodal projector (general.architecture is {str(arch)[:64]!r}, "
            "expected 'clip'); give the language model with --model and its mmproj file with --mmproj"
        )
    modalities = tuple(
        m
        for m, key in (("vision", "clip.has_vision_encoder"), ("audio", "clip.has_audio_encoder"))
        if meta.get(key) is True
    )
    if not modalities:
        raise SizingError(f"{source}: this projector declares neither a vision nor an audio encoder")
    ptype = meta.get("clip.vision.projector_type") or meta.get("clip.projector_type") or "unknown"
    merge = (
        _int(meta, "clip.vision.projector.scale_factor")
        or _int(meta, "clip.vision.spatial_merge_size")
        or _DEFAULT_MERGE.get(str(ptype), 1)
    )
    return Projector(
        path=path,
        projector_type=str(ptype)[:64],
        modalities=modalities,
        weights_bytes=sum(tensor_bytes(t) for t in tensors),
        n_embd=_int(meta, "clip.vision.embedding_length"),
        n_layers=_int(meta, "clip.vision.block_count"),
        image_size=_int(meta, "clip.vision.image_size"),
        patch_size=_int(meta, "clip.vision.patch_size"),
        merge=merge,
    )


def read_mmproj(path: str | os.PathLike) -> Projector:
    """Read an mmproj GGUF file's header into a :class:`Projector`."""
    from sizing.sources.gguf_reader import read_gguf_header  # the bounded header walk

    p = Path(path)
    meta, tensors, _, _ = read_gguf_header(p)
    return projector_from_header(meta, tensors, path=str(p), source=str(p))


def read_mmproj_bytes(data: bytes, name: str) -> Projector:
    """An uploaded mmproj header (the first megabytes of the file), every length checked
    against the bytes received, as a model upload is (sizing.sources.gguf_reader)."""
    from sizing.sources.gguf_reader import MAX_UPLOAD_TENSOR_ELEMENTS, _parse

    label = Path(name).name or "upload"
    if not data:
        raise SizingError(f"{label}: empty file, not a GGUF file")
    _, meta, tensors, _ = _parse(Path(label), memoryview(data), len(data), max_elements=MAX_UPLOAD_TENSOR_ELEMENTS)
    return projector_from_header(meta, tensors, path=label, source=label)

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
_DEFAULT_MERGE = {"gemma3": 4, "qwen2vl_merger": 2, "qwen25vl": 2, "qwen3vl_merger": 2,
                  "pixtral": 1, "idefics3": 3, "lfm2": 2, "llama4": 2}


def _int(meta: dict[str, Any], key: str, default: int = 0) -> int:
    v = meta.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        return default
    return v


def read_mmproj(path: str | os.PathLike) -> Projector:
    """Read an mmproj GGUF's header into a :class:`Projector` (one SizingError if it is not one)."""
    from sizing.core.quant import tensor_bytes
    from sizing.sources.gguf_reader import read_gguf_header  # the bounded header walk

    p = Path(path)
    meta, tensors, _, _ = read_gguf_header(p)
    arch = meta.get("general.architecture")
    if arch != "clip":
        raise SizingError(
            f"{p}: not a multimodal projector (general.architecture is {arch!r}, expected 'clip'); "
            "give the language model with --model and its mmproj file with --mmproj")
    modalities = tuple(m for m, key in (("vision", "clip.has_vision_encoder"), ("audio", "clip.has_audio_encoder"))
                       if meta.get(key) is True)
    if not modalities:
        raise SizingError(f"{p}: this projector declares neither a vision nor an audio encoder")
    ptype = meta.get("clip.vision.projector_type") or meta.get("clip.projector_type") or "unknown"
    merge = (_int(meta, "clip.vision.projector.scale_factor") or _int(meta, "clip.vision.spatial_merge_size")
             or _DEFAULT_MERGE.get(str(ptype), 1))
    return Projector(
        path=str(p),
        projector_type=str(ptype),
        modalities=modalities,
        weights_bytes=sum(tensor_bytes(t) for t in tensors),
        n_embd=_int(meta, "clip.vision.embedding_length"),
        n_layers=_int(meta, "clip.vision.block_count"),
        image_size=_int(meta, "clip.vision.image_size"),
        patch_size=_int(meta, "clip.vision.patch_size"),
        merge=merge,
    )

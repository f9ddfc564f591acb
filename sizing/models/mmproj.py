"""A multimodal projector (``mmproj`` GGUF): its own weights, compute buffer and image tokens.

llama.cpp loads the vision (or audio) encoder from a separate GGUF through ``clip``
(tools/mtmd/clip.cpp): its tensors are a second weight buffer next to the model's, its
warm-up pass reserves a compute buffer for one image of the largest size, and every image
in a prompt takes context cells as text tokens do. The header tells all three, so the
file is read like a model's (bounded, header only) and never run.

* weights: every tensor's exact bytes (clip logs them as ``model size``);
* image tokens: ``(image_size / patch_size / merge)²`` at the encoder's native size, the
  merge being the projector's pooling (``clip.vision.projector.scale_factor``,
  ``spatial_merge_size``, or the per-projector default clip.cpp applies, e.g. 4 for Gemma-3);
* compute: fitted to clip's ``reserve_compute_meta`` buffer on synthetic projectors (see
  :func:`Projector.compute_bytes`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from sizing.errors import SizingError

#: clip.cpp's pooling per projector type when the header gives no merge factor
_DEFAULT_MERGE = {"gemma3": 4, "qwen2vl_merger": 2, "qwen25vl": 2, "qwen3vl_merger": 2,
                  "pixtral": 1, "idefics3": 3, "lfm2": 2, "llama4": 2}


class Projector(BaseModel):
    """What an mmproj header says about the memory it adds."""

    model_config = ConfigDict(frozen=True)

    path: str
    projector_type: str
    modalities: tuple[str, ...]  # 'vision', 'audio'
    weights_bytes: int
    n_embd: int
    n_layers: int
    image_size: int
    patch_size: int
    merge: int

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2 if self.patch_size else 0

    @property
    def image_tokens(self) -> int:
        """Context cells one image takes, at the encoder's native size."""
        side = self.image_size // max(self.patch_size, 1) // max(self.merge, 1)
        return side * side

    def compute_bytes(self) -> int:
        """clip's compute buffer for its warm-up image (flash attention on).

        Per patch about ``5·n_embd`` F32 activations alive in one ViT block, plus an F16
        patch-by-patch attention mask and the image and position embeddings (about
        ``1200·n_embd`` F32). Fitted to four synthetic SigLIP/Gemma-3 projectors
        (256-2304 patches, width 768-1152; xllamacpp 2026.10, CPU): within 2%.
        Other encoders (window attention, dynamic resolution) are sized with the same
        rule at their native image size.
        """
        p = self.n_patches
        return int(4 * self.n_embd * (5.04 * p + 1200) + 2.34 * p * p)


def _int(meta: dict[str, Any], key: str, default: int = 0) -> int:
    v = meta.get(key, default)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        return default
    return v


def read_mmproj(path: str | os.PathLike) -> Projector:
    """Read an mmproj GGUF's header into a :class:`Projector` (one SizingError if it is not one)."""
    from sizing.models.gguf_reader import read_gguf_header  # the bounded header walk
    from sizing.quant import tensor_bytes

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

"""A multimodal projector (``mmproj`` GGUF) as sizing sees it: weights, compute, image tokens.

llama.cpp loads the vision (or audio) encoder from a separate GGUF through ``clip``
(tools/mtmd/clip.cpp): its tensors are a second weight buffer next to the model's, its
warm-up pass reserves a compute buffer for one image of the largest size, and every image
in a prompt takes context cells as text tokens do. ``sizing.sources.mmproj`` reads one
from a header; this type is what the estimators use.

* weights: every tensor's exact bytes (clip logs them as ``model size``);
* image tokens: ``(image_size / patch_size / merge)²`` at the encoder's native size, the
  merge being the projector's pooling;
* compute: fitted to clip's ``reserve_compute_meta`` buffer (:meth:`Projector.compute_bytes`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


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
    def file_name(self) -> str:
        """The file's name without its folder (notes never show a path)."""
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]

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

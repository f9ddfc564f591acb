"""Tensors of a model as llama.cpp names and shapes them.

The tensor list is the single source of truth for parameter counts and weight bytes:
from a GGUF header it is read exactly; from an architecture it is generated here the
way llama.cpp's converter lays it out, and the quant recipe (sizing.quant) assigns each
tensor its ggml type.
"""

from __future__ import annotations

from math import prod

from pydantic import BaseModel, ConfigDict


class TensorSpec(BaseModel):
    """One weight tensor: llama.cpp name, ggml shape (ne0 first), and ggml type if known."""

    model_config = ConfigDict(frozen=True)

    name: str
    shape: tuple[int, ...]
    ggml_type: str | None = None  # e.g. "Q4_K", "F32"; None until a recipe assigns one

    @property
    def n_elements(self) -> int:
        return prod(self.shape)

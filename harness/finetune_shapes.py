"""The shrunk architectures the fine-tuning truth runs train (tests and bench share them).

Real shapes at a width and depth where a PyTorch training step on a CPU takes seconds:
the estimate is checked on each, so each keeps what makes its family's memory differ.
"""

from __future__ import annotations

from sizing.core.arch import ModelArch

# SmolLM2-135M's shape (HuggingFaceTB/SmolLM2-135M config.json: GQA 3:1 heads of 64,
# tied embeddings, vocab 49152), shrunk to 4 layers of width 256.
SMOLLM2_SHRUNK = ModelArch(
    id="harness/smollm2-shrunk",
    name="SmolLM2-style (shrunk)",
    arch="llama",
    source="harness",
    n_layers=4,
    hidden_size=256,
    n_heads=4,
    n_kv_heads=2,
    head_dim_k=64,
    head_dim_v=64,
    ffn_size=768,
    vocab_size=49152,
    tied_embeddings=True,
    max_context=8192,
)

# Qwen3's shape (Qwen/Qwen3-0.6B config.json: q/k RMSNorm, head_dim 128 decoupled from
# width, untied output), shrunk to 6 layers of width 256 and a 32k vocabulary.
QWEN3_SHRUNK = ModelArch(
    id="harness/qwen3-shrunk",
    name="Qwen3-style (shrunk)",
    arch="qwen3",
    source="harness",
    n_layers=6,
    hidden_size=256,
    n_heads=4,
    n_kv_heads=2,
    head_dim_k=128,
    head_dim_v=128,
    ffn_size=1024,
    vocab_size=32000,
    tied_embeddings=False,
    qk_norm=True,
    max_context=8192,
)

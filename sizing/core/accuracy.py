"""The accuracy the memory estimate claims against llama.cpp's own buffer logs.

Defined once: the truth tests assert it, the memory bench reports against it, and live
checks mark each measured part as within or outside it. Weights are exact byte sums and
the KV cache exact cell arithmetic (llama.cpp logs both with two decimals of MiB); the
compute buffer is a fitted model of ggml's graph allocator (sizing.core.memory.compute_buffer), whose
residuals stay within a few per cent with flash attention and within ~8% without it.
"""

from __future__ import annotations

from sizing.units import MIB

# Relative error each part is claimed to stay within.
MEMORY_TOLERANCE: dict[str, float] = {
    "weights_bytes": 0.005,
    "kv_cache_bytes": 0.005,
    "compute_bytes": 0.10,  # with flash attention
    "total_bytes": 0.02,
}
COMPUTE_TOLERANCE_NO_FLASH_ATTN = 0.25
# The total may instead be off by this many bytes, whichever is larger (small models).
TOTAL_TOLERANCE_ABS = 64 * MIB

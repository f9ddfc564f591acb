"""Memory of one llama.cpp run: weights, KV cache, compute buffers and backend overhead."""

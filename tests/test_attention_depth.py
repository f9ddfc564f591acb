"""Attention at depth: the cells and FLOPs a decoded token attends over, against llama.cpp's own caches.

The speed model charges a CPU token at depth for its attention FLOPs
(``DeviceWork.attention_flops``): per layer and query head, a dot product with each cached
K row and a weighted sum of the V rows. Which layers attend over the whole context and
which stop at a sliding window, and how wide a cell is, are llama.cpp's: it logs each KV
cache it allocates (cells, layers, K and V bytes). Here the FLOPs are rebuilt from those
caches and the GGUF's head counts and window, and must match the model's.
"""

from __future__ import annotations

import pytest

from sizing.core.speed.calibration import load_calibration
from sizing.core.speed.estimate import decode_step_seconds
from sizing.core.traffic import DeviceRate, model_traffic, single_device_work
from sizing.estimate import estimate
from sizing.live.probe import probe_memory
from sizing.sources.gguf_reader import read_gguf_header

pytestmark = pytest.mark.live

CTX = 2048
CPU = DeviceRate(name="test CPU", kind="cpu", backend="cpu", bandwidth_gbs=20.0, threads=2, clock_ghz=2.1)


def _work(path):
    sc = estimate(str(path), None, CTX, backend="cpu", offline=True).scenario
    return single_device_work(model_traffic(sc.model, sc.tensors, sc.kv_type_k, sc.kv_type_v), CPU)


def _flops_from_llama_cpp(path, depth: int) -> tuple[float, dict[str, int]]:
    """Attention FLOPs at ``depth`` from llama.cpp's caches (F16: two bytes an element) and the
    header's query heads per KV head and sliding window; and each cache's layer count."""
    meta, _, _, _ = read_gguf_header(path)
    arch = meta["general.architecture"]
    heads, kv_heads = meta[f"{arch}.attention.head_count"], meta[f"{arch}.attention.head_count_kv"]
    window = meta.get(f"{arch}.attention.sliding_window")
    mem = probe_memory(path, ctx=CTX, flash_attn=True)
    total, layers = 0.0, {}
    for c in mem.kv_caches:
        assert c.k_type == c.v_type == "f16"
        elements = (c.k_bytes + c.v_bytes) / 2 / c.cells / c.layers  # n_kv_heads × (d_k + d_v)
        cells = min(depth, window) if c.kind == "swa" else depth
        total += c.layers * 2.0 * (heads / kv_heads) * elements * cells
        layers[c.kind] = c.layers
    return total, layers


def test_smollm2_attends_over_every_cached_cell_in_every_layer(smollm2_gguf):
    work = _work(smollm2_gguf)
    for depth in (80, 576, 1500):
        truth, layers = _flops_from_llama_cpp(smollm2_gguf, depth)
        assert layers == {"kv": work.layers}
        assert work.attention_flops(depth) == pytest.approx(truth, rel=0.01)


def test_gemma3_sliding_window_layers_stop_at_the_window(gemma3_gguf):
    work = _work(gemma3_gguf)
    shallow, layers = _flops_from_llama_cpp(gemma3_gguf, 300)
    deep, _ = _flops_from_llama_cpp(gemma3_gguf, 1800)
    assert layers["non-swa"] + layers["swa"] == work.layers and layers["swa"] > layers["non-swa"]
    assert work.attention_flops(300) == pytest.approx(shallow, rel=0.01)
    assert work.attention_flops(1800) == pytest.approx(deep, rel=0.01)
    # past the window only the full-attention layers keep growing
    assert deep / shallow < 1800 / 300


def test_decode_time_lists_attention_as_its_own_part(smollm2_gguf):
    """On a CPU, attention at depth is a part of the step of its own, and grows with the depth."""
    work = _work(smollm2_gguf)
    calib = load_calibration()
    parts = {}
    for depth in (0, 576):
        step, per = decode_step_seconds([work], calib, depth=depth)
        (dev,) = per
        assert 0 < dev.seconds <= step  # the rest is the per-token overhead
        assert dev.attention_flops == pytest.approx(work.attention_flops(depth))
        assert dev.kv_read_bytes == pytest.approx(work.kv_read_bytes(depth))
        parts[depth] = dev
    assert parts[0].attention_seconds == 0.0
    # the difference between the two steps is attention alone
    grown = parts[576].seconds - parts[0].seconds
    assert parts[576].attention_seconds == pytest.approx(grown, rel=1e-9) and grown > 0

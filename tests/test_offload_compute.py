"""GPU compute buffers under partial/expert offload and over several GPUs: what llama.cpp's
scheduler adds (weight copies for batches of 32 or more, pipeline-parallel input copies),
checked through the one composition the CLI and the UI render, against figures that do not
come from our formula: gpt-oss-120b's expert shapes in MXFP4 blocks, and the ~0.4 GiB per
device at 128K that llama.cpp's four input copies cost."""

from __future__ import annotations

import pytest

from sizing import estimate
from sizing.core.machine import HostSpec, machine_from_gpu
from sizing.core.placement import PlacementOptions
from sizing.hardware.db import load_gpus
from sizing.units import GIB

HOST = HostSpec(name="test host", ram_bytes=128 * GIB, bandwidth_gbs=89.6, threads=8)


@pytest.fixture(scope="module")
def db():
    return load_gpus()


def _gpu_compute(ans) -> list[int]:
    return [d.compute_bytes for d in ans.devices if d.kind != "cpu"]


def test_expert_offload_copies_one_layer_of_experts_for_batches_of_32_or_more(db):
    """gpt-oss-120b: 128 experts × (gate, up, down) of 2880 × 2880, MXFP4 (17 bytes per 32
    weights); llama.cpp copies one RAM-resident layer of them into the GPU's compute buffer."""
    hw = machine_from_gpu(db.get("nvidia-rtx-4090"), host=HOST)
    opts = PlacementOptions(n_cpu_moe=20)
    big = estimate("openai/gpt-oss-120b", "Q4_K_M", 32768, hardware=hw, options=opts)
    one_layer = 128 * 3 * 2880 * 2880 * 17 // 32
    extra = _gpu_compute(big)[0] - big.compute_bytes
    assert extra == pytest.approx(one_layer, rel=0.02)
    assert any("PR #6083" in n for n in big.hardware_notes)
    # below 32 tokens a micro-batch runs where the weights are: no copy
    small = estimate("openai/gpt-oss-120b", "Q4_K_M", 32768, ubatch=16, hardware=hw, options=opts)
    assert _gpu_compute(small)[0] == small.compute_bytes
    # nothing on the CPU side, nothing copied
    full = estimate("openai/gpt-oss-20b", "Q4_K_M", 8192, hardware=hw, options=PlacementOptions())
    assert full.all_on_gpu and _gpu_compute(full)[0] == full.compute_bytes


def test_unified_memory_copies_nothing(db):
    hw = machine_from_gpu(db.get("nvidia-dgx-spark-128gb"))
    ans = estimate("openai/gpt-oss-120b", "Q4_K_M", 32768, hardware=hw, options=PlacementOptions(n_cpu_moe=20))
    assert _gpu_compute(ans)[0] == ans.compute_bytes


def test_pipeline_parallel_keeps_input_copies_on_every_gpu(db):
    """Two GPUs, every layer offloaded: about 0.4 GiB more per device at 128K context."""
    g = db.get("nvidia-rtx-3090")
    ctx = 131072
    two = estimate("meta-llama/Llama-3.1-8B-Instruct", "Q4_K_M", ctx, hardware=machine_from_gpu(g, 2, host=HOST))
    assert two.all_on_gpu
    for c in _gpu_compute(two):
        assert 0.35 * GIB < c - two.compute_bytes < 0.45 * GIB
    assert any("pipeline parallel" in n for n in two.hardware_notes)
    # one GPU, or layers left in RAM: llama.cpp runs no pipeline
    one = estimate("meta-llama/Llama-3.1-8B-Instruct", "Q4_K_M", ctx, hardware=machine_from_gpu(g, host=HOST))
    assert _gpu_compute(one) == [one.compute_bytes]
    part = estimate(
        "meta-llama/Llama-3.1-8B-Instruct",
        "Q4_K_M",
        ctx,
        hardware=machine_from_gpu(g, 2, host=HOST),
        options=PlacementOptions(n_gpu_layers=20),
    )
    assert not part.all_on_gpu and not any("pipeline parallel" in n for n in part.hardware_notes)

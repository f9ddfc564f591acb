"""Placement: layer split, offload, multi-GPU and unified memory, checked against real
GGUF tensors, llama.cpp's split rules and an independent layer-fit implementation."""

from __future__ import annotations

import math

import pytest

from sizing.errors import SizingError
from sizing.core.memory.estimate import estimate_memory
from sizing.sources.catalog import load_catalog
from sizing.sources.gguf_reader import read_gguf
from sizing.core.placement import PlacementOptions, place, place_many
from sizing.units import GIB, MIB
from sizing.core.machine import (
    Device,
    Hardware,
    HostSpec,
    apple_working_set_fraction,
    machine_from_gpu,
    unified_hardware,
)
from sizing.core.quant import tensor_bytes
from sizing.core.scenario import MemoryParts, Scenario
from sizing.core.solver import traffic_for
from sizing.core.traffic import model_traffic

HOST = HostSpec(name="test host", ram_bytes=64 * GIB, bandwidth_gbs=89.6, threads=8)


def _gpu(i=0, mem=24 * GIB, bw=1000.0, name=None):
    return Device(
        id=f"g{i}",
        name=name or f"GPU {i}",
        kind="gpu",
        backend="cuda",
        memory_bytes=mem,
        bandwidth_gbs=bw,
        matmul_tflops=100.0,
        link_gbs=31.5,
    )


def _host(ram=64 * GIB):
    return Device(id="host", name="host", kind="cpu", backend="cpu", memory_bytes=ram, bandwidth_gbs=89.6, threads=8)


def _mem(arch, quant, ctx, backend="cuda", **kw):
    return estimate_memory(Scenario(model=arch, quant=quant, ctx=ctx, backend=backend, **kw)).parts


@pytest.fixture(scope="module")
def llama8b():
    return load_catalog().get("meta-llama/Llama-3.1-8B-Instruct")


def test_real_gguf_weights_split_exactly_over_devices(smollm2_gguf):
    """Per-device weight bytes add up to the GGUF's own tensor bytes, whatever -ngl is."""
    g = read_gguf(smollm2_gguf)
    tr = model_traffic(g.arch, g.tensors)
    total = sum(tensor_bytes(t) for t in g.tensors)
    assert tr.total_bytes == total
    mem = MemoryParts(weights_bytes=total, kv_cache_bytes=30 * MIB, compute_bytes=50 * MIB, overhead_bytes=0)
    hw = Hardware(name="t", gpus=(_gpu(mem=1 * GIB),), host=_host(), margin_bytes=0)
    assert tr.output_tied  # SmolLM2 has no output.weight
    for ngl in (0, 1, 10, g.arch.n_layers, g.arch.n_layers + 1):
        p = place(tr, mem, hw, PlacementOptions(n_gpu_layers=ngl), ctx=2048)
        # llama.cpp loads the tied output matrix a second time on the output's device
        dup = tr.output_bytes if ngl >= 1 else 0
        assert sum(d.parts.weights_bytes for d in p.devices) == total + dup
        assert sum(d.parts.kv_cache_bytes for d in p.devices) == 30 * MIB
        gpu = p.devices[0]
        # llama.cpp: the last (ngl) layers, the output layer counting as one, go to the GPU
        assert gpu.layers == max(0, min(ngl, g.arch.n_layers + 1) - 1) or (ngl == 0 and gpu.layers == 0)
        assert gpu.holds_output == (ngl >= 1)
        if gpu.layers:
            assert gpu.last_layer == g.arch.n_layers - 1


@pytest.mark.live
def test_layer_fit_agrees_with_an_independent_fit(smollm2_gguf):
    """xllamacpp's estimate_gpu_layers (Ollama's fit, reading the same GGUF), given the
    same reserve and graph size. Ollama places the output layer last and reserves one
    spare layer; llama.cpp's -ngl counts the output layer first, so in the partial range
    we offload fewer repeating layers, by about the output layer's size in layers; both
    reach full offload at the same memory."""
    import xllamacpp

    g = read_gguf(smollm2_gguf)
    tr = model_traffic(g.arch, g.tensors)
    ctx = 2048
    kv = ctx * g.arch.n_layers * g.arch.n_kv_heads * (g.arch.head_dim_k + g.arch.head_dim_v) * 2
    per_layer = (tr.total_bytes - tr.embd_bytes) / g.arch.n_layers + kv / g.arch.n_layers
    offset = math.ceil(tr.output_bytes / per_layer)

    def ref(free_mib):
        return xllamacpp.estimate_gpu_layers(
            [{"name": "CUDA", "memory_free": free_mib * MIB}],
            str(smollm2_gguf),
            [],
            context_length=ctx,
            batch_size=512,
            num_parallel=1,
            kv_cache_type="f16",
        )

    def ours(free_mib, graph):
        mem = MemoryParts(weights_bytes=tr.total_bytes, kv_cache_bytes=kv, compute_bytes=graph)
        hw = Hardware(name="t", gpus=(_gpu(mem=free_mib * MIB),), host=_host(), margin_bytes=512 * MIB)
        return place(tr, mem, hw, ctx=ctx).gpu_layers

    full = g.arch.n_layers + 1
    for free_mib in (670, 700, 740, 760, 800):
        r = ref(free_mib)
        o = ours(free_mib, r.graph)
        if r.layers < full:
            assert o <= r.layers and r.layers - o <= offset + 1, (free_mib, o, r.layers, offset)
        else:
            assert o == full, (free_mib, o)
    assert ours(760, ref(760).graph) < full <= ours(800, ref(800).graph)


def test_offload_goes_down_as_gpu_memory_goes_down(llama8b):
    tr = traffic_for(llama8b, "Q8_0")
    mem = _mem(llama8b, "Q8_0", 8192)
    counts = []
    for gib in (16, 10, 8, 6, 4):
        p = place(tr, mem, Hardware(name="t", gpus=(_gpu(mem=gib * GIB),), host=_host()), ctx=8192)
        assert p.fits and all(d.fits for d in p.devices)
        counts.append(p.gpu_layers)
    assert counts == sorted(counts, reverse=True) and counts[0] == llama8b.n_layers + 1 and counts[-1] < 20


def test_moe_offloads_experts_before_layers():
    arch = load_catalog().get("Qwen/Qwen3-30B-A3B")
    tr = traffic_for(arch, "Q4_K_M")
    mem = _mem(arch, "Q4_K_M", 8192)
    p = place(tr, mem, Hardware(name="t", gpus=(_gpu(mem=12 * GIB),), host=_host()), ctx=8192)
    assert p.fits and p.gpu_layers == arch.n_layers + 1 and 0 < p.n_cpu_moe < arch.n_layers
    host = p.devices[-1]
    assert host.expert_layers == p.n_cpu_moe and host.layers == 0
    # fewer expert layers could not fit: one less must overflow the GPU
    tighter = place(
        tr,
        mem,
        Hardware(name="t", gpus=(_gpu(mem=12 * GIB),), host=_host()),
        PlacementOptions(n_gpu_layers=arch.n_layers + 1, n_cpu_moe=p.n_cpu_moe - 1),
        ctx=8192,
    )
    assert not tighter.devices[0].fits
    all_cpu = place(
        tr, mem, Hardware(name="t", gpus=(_gpu(mem=12 * GIB),), host=_host()), PlacementOptions(cpu_moe=True), ctx=8192
    )
    assert all_cpu.devices[-1].expert_layers == arch.n_layers and all_cpu.cpu_moe


def test_heterogeneous_gpus_split_by_memory_with_output_on_the_last(llama8b):
    tr = traffic_for(llama8b, "Q8_0")
    mem = _mem(llama8b, "Q8_0", 8192)
    hw = Hardware(name="t", gpus=(_gpu(0, mem=24 * GIB), _gpu(1, mem=12 * GIB)), host=_host())
    p = place(tr, mem, hw, ctx=8192)
    a, b = p.devices[0], p.devices[1]
    assert p.fits and a.layers + b.layers == llama8b.n_layers
    assert a.layers > b.layers and b.holds_output and not a.holds_output
    assert a.last_layer < b.first_layer  # contiguous blocks, in order
    assert sum(d.parts.kv_cache_bytes for d in p.devices) == mem.kv_cache_bytes
    forced = place(tr, mem, hw, PlacementOptions(tensor_split=(1, 1)), ctx=8192)
    # llama.cpp cuts the 33 units (32 layers + output) at 1/2: 17 | 15 + output
    assert (forced.devices[0].layers, forced.devices[1].layers + forced.devices[1].holds_output) == (17, 16)
    with pytest.raises(SizingError):
        place(tr, mem, hw, PlacementOptions(tensor_split=(1, 1, 1)), ctx=8192)


def test_unified_memory_is_counted_once_and_apple_working_set_applies(llama8b):
    tr = traffic_for(llama8b, "Q8_0")
    mem = _mem(llama8b, "Q8_0", 8192, backend="metal")
    mac = unified_hardware("Mac 16 GB", ram_bytes=16 * GIB, bandwidth_gbs=120, backend="metal", apple=True, threads=8)
    assert mac.gpus[0].memory_bytes == int(16 * GIB * apple_working_set_fraction(16))
    p = place(tr, mem, mac, ctx=8192)
    gpu, host = p.devices
    # the host's room is what the GPU leaves of the same 16 GiB
    assert host.capacity_bytes == 16 * GIB - mac.margin_bytes - gpu.used_bytes
    assert gpu.used_bytes + host.used_bytes <= 16 * GIB
    raised = unified_hardware(
        "Mac 16 GB",
        ram_bytes=16 * GIB,
        bandwidth_gbs=120,
        backend="metal",
        apple=True,
        threads=8,
        wired_limit_mb=14 * 1024,
    )
    assert raised.gpus[0].memory_bytes == 14 * GIB
    assert place(tr, mem, raised, ctx=8192).gpu_layers >= p.gpu_layers
    with pytest.raises(SizingError):
        unified_hardware(
            "Mac", ram_bytes=16 * GIB, bandwidth_gbs=120, backend="metal", apple=True, wired_limit_mb=20000
        )


def test_dgx_spark_and_multi_gpu_from_the_database(llama8b):
    from sizing.hardware.db import load_gpus

    db = load_gpus()
    spark = machine_from_gpu(db.get("nvidia-dgx-spark-128gb"), host=HOST)
    # as DGX OS sees it, not the nameplate (sizing.unified_limits)
    assert spark.unified and spark.gpus[0].memory_bytes == int(121.69 * GIB) == spark.host.memory_bytes
    two = machine_from_gpu(db.match("RTX 3090").gpu, 2, host=HOST)
    assert len(two.gpus) == 2 and two.gpus[0].link_gbs and not two.unified


def test_tensor_parallel_splits_every_layer(llama8b):
    arch = load_catalog().get("meta-llama/Llama-3.1-70B-Instruct")
    tr = traffic_for(arch, "Q4_K_M")
    mem = _mem(arch, "Q4_K_M", 8192)
    hw = Hardware(name="t", gpus=tuple(_gpu(i, mem=24 * GIB) for i in range(4)), host=_host())
    p = place(tr, mem, hw, PlacementOptions(split_mode="tensor"), ctx=8192)
    assert p.fits and p.split_mode == "tensor"
    per = [d.parts.weights_bytes for d in p.devices if d.kind == "gpu"]
    assert max(per) - min(per) == 0 and sum(per) <= tr.total_bytes


def test_vectorised_sweep_agrees_with_place():
    """place_many (the sweep) makes the same decisions as place, and the same speed."""
    from sizing.core.speed.calibration import load_calibration
    from sizing.core.speed.estimate import decode_step_seconds, decode_tokens_per_s_many

    calib = load_calibration()
    cat = load_catalog()
    caps = [4 * GIB, 8 * GIB, 12 * GIB, 16 * GIB, 24 * GIB, 48 * GIB, 96 * GIB]
    for mid, q, ctx in (
        ("meta-llama/Llama-3.1-8B-Instruct", "Q8_0", 8192),
        ("Qwen/Qwen3-30B-A3B", "Q4_K_M", 8192),
        ("google/gemma-3-27b-it", "Q4_K_M", 32768),
        ("HuggingFaceTB/SmolLM2-135M-Instruct", "Q8_0", 2048),
    ):
        arch = cat.get(mid)
        tr = traffic_for(arch, q)
        mem = _mem(arch, q, ctx)
        many = place_many(tr, mem, caps, host_capacity=64 * GIB, ctx=ctx)
        tps = decode_tokens_per_s_many(
            many.gpu_read_bytes,
            many.host_read_bytes,
            [1000.0] * len(caps),
            [89.6] * len(caps),
            ["cuda"] * len(caps),
            calib,
            host_threads=[_host().threads] * len(caps),
            gpu_moe_layers=many.gpu_moe_layers,
            gpu_layers=[max(0, min(g - 1, len(tr.layers))) for g in many.gpu_layers],
            host_expert_read_bytes=many.host_expert_read_bytes,
        )
        for i, c in enumerate(caps):
            one = place(tr, mem, Hardware(name="t", gpus=(_gpu(mem=c),), host=_host()), ctx=ctx)
            assert (many.fits[i], many.gpu_layers[i], many.n_cpu_moe[i]) == (one.fits, one.gpu_layers, one.n_cpu_moe), (
                mid,
                c,
            )
            s, _ = decode_step_seconds(one.works, calib)
            assert tps[i] == pytest.approx(1 / s, rel=1e-6), (mid, c)


def test_host_spec_states_what_is_assumed_and_ram_decides_offload():
    from sizing.core.speed.calibration import load_calibration
    from sizing.hardware.db import load_gpus
    from sizing.core.machine import DEFAULT_HOST, host_spec, machine_from_gpu
    from sizing.core.solver import solve

    assert host_spec() is DEFAULT_HOST and host_spec(64) is DEFAULT_HOST
    small = host_spec(16)
    assert small.assumed and small.ram_bytes == 16 * 1024**3 and small.bandwidth_gbs == DEFAULT_HOST.bandwidth_gbs
    assert small.name.startswith("assumed host (16 GiB RAM")
    stated = host_spec(96, 120.0, 16)
    assert not stated.assumed and stated.threads == 16 and stated.name.startswith("host CPU")
    with pytest.raises(SizingError, match="RAM bandwidth must be > 0"):
        host_spec(32, -1.0)
    # a 70B Q4_K_M on one 24 GB card spills ~20 GiB of layers into host RAM
    model, gpu = load_catalog().get("llama-3.1-70b"), load_gpus().match("RTX 4090").gpu
    tight = solve(model, "Q4_K_M", 8192, machine_from_gpu(gpu, host=small), load_calibration(), with_speed=False)
    roomy = solve(
        model, "Q4_K_M", 8192, machine_from_gpu(gpu, host=host_spec(128)), load_calibration(), with_speed=False
    )
    assert not tight.placement.fits and "assumed host (16 GiB" in tight.placement.how
    assert roomy.placement.fits and not roomy.placement.all_on_gpu


def test_mi250_is_two_devices_with_half_the_bandwidth_each():
    from sizing.hardware.db import load_gpus

    g = load_gpus().get("amd-mi250x")
    hw = machine_from_gpu(g, 2, host=HOST)
    assert len(hw.gpus) == 4
    assert all(d.memory_bytes == 64 * GIB and d.bandwidth_gbs == g.memory_bandwidth_gbs / 2 for d in hw.gpus)
    assert any("2 devices per board" in n for n in hw.notes)

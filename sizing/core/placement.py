"""Placement: which layers and buffers land on which device, the way llama.cpp does it.

llama.cpp splits a model by whole layers. With ``-ngl N`` it treats the output projection
as layer ``n_layer`` and puts layers ``i ≥ n_layer + 1 − N`` on GPUs; the token
embeddings stay in host memory. Across several GPUs the offloaded layers are cut by
cumulative ``--tensor-split`` fractions (default: each card's free memory). Each layer's
KV cache lives with the layer. ``--n-cpu-moe K`` keeps the routed experts of the first
K layers in host memory (``-ot exps=CPU`` / ``--cpu-moe``: all of them). Every GPU keeps
``--fit-target`` (1 GiB by default) free.

Unified memory (Apple, Strix Halo, DGX Spark) has one pool: what the GPU holds is taken
from the same RAM as what the host holds, so the two are checked together and never
counted twice. On Apple the GPU may also not exceed macOS's working-set limit
(``recommendedMaxWorkingSetSize``), which ``iogpu.wired_limit_mb`` overrides.

Serving engines (vLLM) split every layer across cards instead (tensor parallelism);
that mode is modelled too, for plans bigger than one card.

The result carries each device's memory parts and the work a decoded token puts on it,
which ``sizing.core.speed.estimate`` turns into tokens/s. Pure: no I/O.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from itertools import accumulate
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from sizing.errors import SizingError
from sizing.core.fastmodel import build
from sizing.core.scenario import MemoryParts
from sizing.core.machine import FIT_MARGIN_BYTES, Hardware
from sizing.core.offload_compute import (
    OP_OFFLOAD_MIN_BATCH,
    SCHED_MAX_COPIES,
    pipeline_copy_bytes,
    pipeline_parallel,
    copies_weights,
)
from sizing.core.traffic import DeviceKind, DeviceRate, DeviceWork, LayerTraffic, ModelTraffic, work_for_layers
from sizing.units import gib


SplitMode = Literal["layer", "tensor"]


class PlacementOptions(BaseModel):
    """The llama.cpp knobs that move things between devices."""

    model_config = ConfigDict(frozen=True)

    n_gpu_layers: int | None = Field(None, ge=0, description="None: as many as fit")
    tensor_split: tuple[float, ...] | None = None
    n_cpu_moe: int | None = Field(None, ge=0, description="None: choose (MoE only)")
    cpu_moe: bool = Field(False, description="-ot exps=CPU: every routed expert on the host")
    split_mode: SplitMode = "layer"
    n_ubatch: int = 512
    repack: bool = Field(True, description="CPU_REPACK on (llama.cpp's default; --no-repack turns it off)")


class DevicePlacement(BaseModel):
    """What one device holds."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    kind: DeviceKind
    backend: str
    layers: int = 0
    first_layer: int | None = None
    last_layer: int | None = None
    holds_output: bool = False
    expert_layers: int = Field(0, description="layers whose routed experts live here")
    parts: MemoryParts
    capacity_bytes: int = Field(description="usable: memory minus llama.cpp's free margin")

    @property
    def used_bytes(self) -> int:
        """What must stay in memory here (reclaimable file pages left out)."""
        return self.parts.resident_bytes

    @property
    def fits(self) -> bool:
        return self.used_bytes <= self.capacity_bytes

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "backend": self.backend,
            "layers": self.layers,
            "holds_output": self.holds_output,
            "expert_layers": self.expert_layers,
            "weights_bytes": self.parts.weights_bytes,
            "kv_cache_bytes": self.parts.kv_cache_bytes,
            "compute_bytes": self.parts.compute_bytes,
            "overhead_bytes": self.parts.overhead_bytes,
            "reclaimable_bytes": self.parts.reclaimable_bytes,
            "total_bytes": self.used_bytes,
            "capacity_bytes": self.capacity_bytes,
            "fits": self.fits,
        }


class Placement(BaseModel):
    """A complete plan: per-device memory, whether it fits, and how."""

    model_config = ConfigDict(frozen=True)

    fits: bool
    how: str
    n_layers: int
    gpu_layers: int = Field(description="as llama.cpp's -ngl counts them (output = one layer)")
    n_cpu_moe: int = 0
    cpu_moe: bool = False
    tensor_split: tuple[float, ...] = ()
    split_mode: SplitMode = "layer"
    devices: tuple[DevicePlacement, ...]
    works: tuple[DeviceWork, ...]
    notes: tuple[str, ...] = ()

    @property
    def all_on_gpu(self) -> bool:
        return self.gpu_layers >= self.n_layers + 1 and not self.n_cpu_moe and not self.cpu_moe

    @property
    def shortfall_bytes(self) -> int:
        return sum(max(0, d.used_bytes - d.capacity_bytes) for d in self.devices)


# --------------------------------------------------------------------------------------
# the layer split


def kv_per_layer(traffic: ModelTraffic, kv_total: int, ctx: int, n_ubatch: int = 512) -> list[int]:
    """Split the KV total (from the memory estimate) over layers by their cache size."""
    weights = []
    for layer in traffic.layers:
        cells = ctx if layer.window is None else min(ctx, layer.window + n_ubatch)
        weights.append(layer.kv_bytes_per_cell * cells)
    s = sum(weights)
    if s <= 0 or kv_total <= 0:
        return [0] * len(weights)
    out = [int(kv_total * w / s) for w in weights]
    out[-1] += kv_total - sum(out)
    return out


def _layer_gpu(il: int, i_gpu_start: int, act_gpu_layers: int, splits: list[float]) -> int:
    """llama.cpp: upper_bound(splits, (il - i_gpu_start) / act_gpu_layers)."""
    return min(bisect.bisect_right(splits, (il - i_gpu_start) / act_gpu_layers), len(splits) - 1)


def _cumulative(split: Sequence[float]) -> list[float]:
    total = sum(split)
    if total <= 0:
        raise SizingError("tensor split must have a positive sum")
    acc, out = 0.0, []
    for s in split:
        acc += s / total
        out.append(acc)
    return out


def place(
    traffic: ModelTraffic,
    memory: MemoryParts,
    hardware: Hardware,
    options: PlacementOptions | None = None,
    *,
    ctx: int,
    is_moe: bool | None = None,
) -> Placement:
    """Place a model on a machine; with ``n_gpu_layers=None`` find the most that fits.

    ``memory`` is the whole-model estimate (weights, KV, compute, overhead) from
    ``sizing.core.memory.estimate``; weights are split per tensor, KV per layer, and every GPU that
    runs layers gets the compute buffer and the backend overhead.
    """
    found = _search(traffic, memory, hardware, options, ctx=ctx, is_moe=is_moe)
    return found if isinstance(found, Placement) else _build(found)


class Verdict(NamedTuple):
    """What a search over quants or contexts asks of each trial placement."""

    fits: bool
    all_on_gpu: bool


def verdict(
    traffic: ModelTraffic,
    memory: MemoryParts,
    hardware: Hardware,
    options: PlacementOptions | None = None,
    *,
    ctx: int,
    is_moe: bool | None = None,
) -> Verdict:
    """``place(...).fits`` and ``.all_on_gpu``, from the same search, without building the
    Placement (its devices, per-token work and wording cost more than the search itself,
    and a fit map or a bisection reads only these two)."""
    found = _search(traffic, memory, hardware, options, ctx=ctx, is_moe=is_moe)
    if isinstance(found, Placement):
        return Verdict(found.fits, found.all_on_gpu)
    n = len(found.traffic.layers)
    gpu_layers = found.act if found.hw.gpus else 0
    fits = all(found.parts[s].resident_bytes <= found.caps[s] for s in range(found.k + 1))
    on_gpu = gpu_layers >= n + 1 and not found.n_cpu_moe and not found.opts.cpu_moe
    return Verdict(fits, on_gpu)


def _search(
    traffic: ModelTraffic,
    memory: MemoryParts,
    hardware: Hardware,
    options: PlacementOptions | None,
    *,
    ctx: int,
    is_moe: bool | None,
) -> _Layout | Placement:
    """The layout ``place`` chooses (a tensor-parallel split is built at once)."""
    opts = options or PlacementOptions()
    n = len(traffic.layers)
    moe = is_moe if is_moe is not None else any(layer.expert_bytes for layer in traffic.layers)
    check_expert_options(opts, moe=moe, n_layers=n)
    if opts.split_mode == "tensor":
        return _place_tensor_parallel(traffic, memory, hardware, ctx=ctx, opts=opts)
    # the search compares memory layouts; only the chosen one is built into a Placement
    sums = _Sums(traffic, kv_per_layer(traffic, memory.kv_cache_bytes, ctx, opts.n_ubatch))

    def lay(ngl: int, n_cpu_moe: int) -> _Layout:
        return _layout(traffic, memory, hardware, opts, sums, ngl=ngl, n_cpu_moe=n_cpu_moe, ctx=ctx)

    if not hardware.gpus:
        return lay(0, 0)
    if opts.n_gpu_layers is not None:
        ngl = min(opts.n_gpu_layers, n + 1)
        ncm = opts.n_cpu_moe or 0
        if moe and opts.n_cpu_moe is None and not opts.cpu_moe:
            return _best_moe(lay, n, ngl)
        return lay(ngl, ncm)

    full = lay(n + 1, opts.n_cpu_moe or 0)
    if full.fits:
        return full
    if moe and opts.n_cpu_moe is None and not opts.cpu_moe:
        p = _best_moe(lay, n, n + 1)
        if p.fits:
            return p
    # the most layers the GPUs hold (GPU use grows with -ngl, host use shrinks with it)
    ncm = opts.n_cpu_moe or 0
    lo, hi = 0, n  # ngl = n + 1 does not fit the GPUs
    best = lay(0, ncm)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        p = lay(mid, ncm)
        if p.gpus_fit:
            lo, best = mid, p
        else:
            hi = mid - 1
    return best if best.fits or not full.fits else full


def check_expert_options(opts: PlacementOptions, *, moe: bool, n_layers: int) -> None:
    """--n-cpu-moe / --cpu-moe only mean something for an MoE model, and N counts layers."""
    asked = opts.n_cpu_moe is not None and opts.n_cpu_moe > 0
    if asked and opts.cpu_moe:
        raise SizingError(
            f"--cpu-moe and --n-cpu-moe {opts.n_cpu_moe} contradict each other: give one "
            "(--cpu-moe is every layer's experts)"
        )
    if (asked or opts.cpu_moe) and not moe:
        flag = "--cpu-moe" if opts.cpu_moe else f"--n-cpu-moe {opts.n_cpu_moe}"
        raise SizingError(f"{flag}: this is a dense model; it has no routed experts to keep in RAM")
    if opts.n_cpu_moe is not None and opts.n_cpu_moe > n_layers:
        raise SizingError(f"--n-cpu-moe {opts.n_cpu_moe}: the model has only {n_layers} layers")


def _best_moe(lay, n: int, ngl: int) -> _Layout:
    """Keep attention and shared weights on the GPU; move the fewest expert layers to RAM."""
    first = lay(ngl, 0)
    if first.fits:
        return first
    last = lay(ngl, n)
    if not last.gpus_fit:
        return last
    lo, hi, best = 1, n, last  # fewest expert layers on the host that lets the GPUs fit
    while lo < hi:
        mid = (lo + hi) // 2
        p = lay(ngl, mid)
        if p.gpus_fit:
            hi, best = mid, p
        else:
            lo = mid + 1
    return best if best.n_cpu_moe == lo else lay(ngl, lo)


class _Layout:
    """One candidate split: what each device holds and whether it fits, before the
    per-device work and wording a Placement adds (the search tries many, keeps one)."""

    __slots__ = (
        "traffic",
        "memory",
        "hw",
        "opts",
        "ctx",
        "k",
        "n_cpu_moe",
        "act",
        "split",
        "out_slot",
        "layers_on",
        "experts_on",
        "parts",
        "caps",
        "notes",
        "fits",
        "gpus_fit",
    )

    traffic: ModelTraffic
    memory: MemoryParts
    hw: Hardware
    opts: PlacementOptions
    ctx: int
    k: int
    n_cpu_moe: int
    act: int
    split: tuple[float, ...] | None
    out_slot: int
    layers_on: list[list[LayerTraffic]]
    experts_on: list[list[LayerTraffic]]
    parts: list[MemoryParts]
    caps: list[int]
    notes: tuple[str, ...]
    fits: bool
    gpus_fit: bool

    def __init__(self, **kw: Any) -> None:
        for name, value in kw.items():
            setattr(self, name, value)


class _Sums:
    """Running totals over a model's layers (dense and expert weights, and the KV cache per
    layer at one context), so that a candidate split sums each device's contiguous run of
    layers in one subtraction: the search tries several splits of the same layers."""

    __slots__ = ("layers", "dense", "expert", "kv", "expert_idx", "layer_bytes", "expert_bytes")

    def __init__(self, traffic: ModelTraffic, kv: Sequence[int]) -> None:
        self.layers = traffic.layers
        self.expert_bytes = [layer.expert_bytes for layer in self.layers]
        self.layer_bytes = [layer.dense_bytes + layer.expert_bytes for layer in self.layers]
        self.dense = list(accumulate((layer.dense_bytes for layer in self.layers), initial=0))
        self.expert = list(accumulate((layer.expert_bytes for layer in self.layers), initial=0))
        self.kv = list(accumulate(kv, initial=0))
        self.expert_idx = [i for i, layer in enumerate(self.layers) if layer.expert_bytes]

    def experts(self, a: int, b: int) -> list[LayerTraffic]:
        """The layers in ``[a, b)`` that have routed experts."""
        idx = self.expert_idx
        return [self.layers[i] for i in idx[bisect.bisect_left(idx, a) : bisect.bisect_left(idx, b)]]


def _layout(
    traffic: ModelTraffic,
    memory: MemoryParts,
    hw: Hardware,
    opts: PlacementOptions,
    sums: _Sums,
    *,
    ngl: int,
    n_cpu_moe: int,
    ctx: int,
) -> _Layout:
    """Layers, buffers and memory per device for ``-ngl ngl`` and ``--n-cpu-moe n_cpu_moe``;
    ``sums`` holds the layers' running totals, the KV cache per layer among them."""
    n = len(traffic.layers)
    gpus = hw.gpus
    n_cpu_moe = n if opts.cpu_moe else min(n_cpu_moe, n)
    i_gpu_start = max(n + 1 - ngl, 0) if gpus else n + 1
    act = (n + 1) - i_gpu_start  # offloaded layers, output included
    split = opts.tensor_split
    if split is not None and len(split) != len(gpus):
        raise SizingError(f"tensor split has {len(split)} values for {len(gpus)} GPUs")
    if split is None and gpus:
        split = tuple(float(max(g.memory_bytes - hw.margin_bytes, 1)) for g in gpus)
    splits = _cumulative(split) if split is not None and gpus else []

    def owner(il: int) -> int:
        """-1 = host, else the GPU's index; il = n is the output layer."""
        if il < i_gpu_start:
            return -1
        return 0 if len(gpus) == 1 else _layer_gpu(il, i_gpu_start, act, splits)

    k = len(gpus)
    w = [0] * (k + 1)  # last slot: host
    kvb = [0] * (k + 1)
    layers_on: list[list[LayerTraffic]] = [[] for _ in range(k + 1)]
    experts_on: list[list[LayerTraffic]] = [[] for _ in range(k + 1)]
    # owner never decreases along the layers (host first, then the GPUs in split order), so
    # each device holds one contiguous run of them; a routed expert stays on the host when
    # its layer does or is among the first n_cpu_moe
    dense, expert, kvs = sums.dense, sums.expert, sums.kv
    layer_ids = range(n)
    if k == 1:  # one GPU: everything from i_gpu_start on
        starts = [min(i_gpu_start, n), n]
    else:  # GPU s: starts[s] .. starts[s+1]
        starts = [bisect.bisect_left(layer_ids, s, key=owner) for s in range(k)] + [n]
    host_end = starts[0]
    for s in range(k + 1):
        a, b = (0, host_end) if s == k else (starts[s], starts[s + 1])
        if a < b:
            layers_on[s] = list(sums.layers[a:b])
            w[s] += dense[b] - dense[a]
            kvb[s] += kvs[b] - kvs[a]
        ea, eb = (0, max(host_end, n_cpu_moe)) if s == k else (max(a, n_cpu_moe), b)
        if ea < eb:
            experts_on[s] = sums.experts(ea, eb)
            w[s] += expert[eb] - expert[ea]
    out_slot = k if owner(n) < 0 else owner(n)
    w[k] += traffic.embd_bytes + traffic.idle_bytes  # token embeddings stay in host memory
    w[out_slot] += traffic.other_bytes
    if not traffic.output_tied:
        w[out_slot] += traffic.output_bytes
    elif out_slot != k:
        w[out_slot] += traffic.output_bytes  # tied output: a second copy where it runs
    if not gpus:
        # CPU only: the estimate's weights include the CPU backend's repacked copies
        w[k] = max(w[k], memory.weights_bytes)

    # what llama.cpp's scheduler adds to GPU compute buffers (sizing.offload_compute)
    extra = [0] * k
    sched_notes: list[str] = []
    if gpus:
        # weight_copy_bytes(layers_on[k], experts_on[k], ...) from the running totals: the
        # largest host layer (dense and experts) or expert-only host layer
        copy = 0
        if copies_weights(backend=gpus[0].backend, n_ubatch=opts.n_ubatch, unified=hw.unified):
            copy = max(
                max(sums.layer_bytes[:host_end], default=0),
                max(sums.expert_bytes[host_end : max(host_end, n_cpu_moe)], default=0),
            )
        if copy:
            extra[0] += copy
            sched_notes.append(
                f"{gpus[0].name}'s compute buffer holds a copy of the largest RAM-resident layer's "
                f"weights ({gib(copy)}): llama.cpp runs batches of ≥{OP_OFFLOAD_MIN_BATCH} tokens on the "
                "GPU (PR #6083); -ub below 32 avoids it at a prompt-speed cost"
            )
        if pipeline_parallel(
            k,
            all_layers_on_gpu=i_gpu_start == 0,
            split_mode="layer",
            tensor_overrides=bool(n_cpu_moe),
            unified=hw.unified,
        ):
            for s in range(k):
                if layers_on[s]:
                    extra[s] += pipeline_copy_bytes(
                        layers_on[s], hidden_size=traffic.hidden_size, ctx=ctx, n_ubatch=opts.n_ubatch
                    )
            sched_notes.append(
                f"pipeline parallel over {k} GPUs: each keeps {SCHED_MAX_COPIES} copies of its graph "
                "inputs (GGML_SCHED_MAX_COPIES)"
            )

    parts: list[MemoryParts] = []
    for s in range(k + 1):
        used = bool(layers_on[s] or experts_on[s]) or s == out_slot
        if s < k:
            parts.append(
                build(
                    MemoryParts,
                    weights_bytes=w[s],
                    kv_cache_bytes=kvb[s],
                    compute_bytes=(memory.compute_bytes + extra[s]) if used else 0,
                    overhead_bytes=memory.overhead_bytes if used else 0,
                    reclaimable_bytes=0,
                )
            )
        else:
            host_compute = memory.compute_bytes if layers_on[s] else 0
            parts.append(
                build(
                    MemoryParts,
                    weights_bytes=w[s],
                    kv_cache_bytes=kvb[s],
                    compute_bytes=host_compute,
                    overhead_bytes=0,
                    reclaimable_bytes=0 if gpus else memory.reclaimable_bytes,
                )
            )

    caps = [max(0, g.memory_bytes - hw.margin_bytes) for g in gpus]
    host_cap = hw.host.memory_bytes - hw.margin_bytes
    if hw.unified:
        host_cap -= sum(parts[s].total_bytes for s in range(k))  # one pool: what the GPU holds the host cannot
    caps.append(max(0, host_cap))
    # a device fits when what must stay resident (DevicePlacement.used_bytes) is within its capacity
    gpus_fit = all(parts[s].resident_bytes <= caps[s] for s in range(k) if gpus[s].kind != "cpu")
    return _Layout(
        traffic=traffic,
        memory=memory,
        hw=hw,
        opts=opts,
        ctx=ctx,
        k=k,
        n_cpu_moe=n_cpu_moe,
        act=act,
        split=split,
        out_slot=out_slot,
        layers_on=layers_on,
        experts_on=experts_on,
        parts=parts,
        caps=caps,
        notes=tuple(sched_notes),
        fits=gpus_fit and parts[k].resident_bytes <= caps[k],
        gpus_fit=gpus_fit,
    )


def _build(lay: _Layout) -> Placement:
    """The Placement of a layout: devices, the work a decoded token puts on each, and how."""
    traffic, hw, opts, k = lay.traffic, lay.hw, lay.opts, lay.k
    gpus, layers_on, experts_on, parts, out_slot = hw.gpus, lay.layers_on, lay.experts_on, lay.parts, lay.out_slot
    placements: list[DevicePlacement] = []
    for s, g in enumerate(gpus):
        idx = [layer.index for layer in layers_on[s]]
        placements.append(
            DevicePlacement(
                id=g.id,
                name=g.name,
                kind=g.kind,
                backend=g.backend,
                layers=len(idx),
                first_layer=min(idx) if idx else None,
                last_layer=max(idx) if idx else None,
                holds_output=out_slot == s,
                expert_layers=len(experts_on[s]),
                parts=parts[s],
                capacity_bytes=lay.caps[s],
            )
        )
    host = hw.host
    idx = [layer.index for layer in layers_on[k]]
    placements.append(
        DevicePlacement(
            id=host.id,
            name=host.name,
            kind="cpu",
            backend="cpu",
            layers=len(idx),
            first_layer=min(idx) if idx else None,
            last_layer=max(idx) if idx else None,
            holds_output=out_slot == k,
            expert_layers=len(experts_on[k]),
            parts=parts[k],
            capacity_bytes=lay.caps[k],
        )
    )

    works: list[DeviceWork] = []
    host_rate = host.rate()
    # pipeline order: host layers come first (layers 0..), then GPUs in split order
    if layers_on[k] or experts_on[k] or out_slot == k:
        dense_host = work_for_layers(traffic, host_rate, layers_on[k], with_output=out_slot == k, experts=False)
        exp_host = work_for_layers(traffic, host_rate, experts_on[k], experts=True, dense=False)
        merged = _merge(dense_host, exp_host)
        links = [g.link_gbs for g in gpus if g.link_gbs and g.kind == "gpu"]
        if links:
            merged = merged.model_copy(update={"offload_link_gbs": links[0]})
        if not host_repacks(opts.repack, [g.backend for g in gpus]):
            merged = merged.model_copy(update={"repacked": False})
        works.append(merged)
    for s, g in enumerate(gpus):
        if not (layers_on[s] or out_slot == s):
            continue
        rate = g.rate()
        dense = work_for_layers(traffic, rate, layers_on[s], with_output=out_slot == s, experts=False)
        exp = work_for_layers(traffic, rate, experts_on[s], experts=True, dense=False)
        works.append(_merge(dense, exp))

    fits = all(p.fits for p in placements)
    gpu_layers = lay.act if gpus else 0
    how = _describe(traffic, hw, placements, gpu_layers, lay.n_cpu_moe, opts.cpu_moe, fits)
    n = len(traffic.layers)
    return Placement(
        fits=fits,
        how=how,
        n_layers=n,
        gpu_layers=gpu_layers,
        n_cpu_moe=lay.n_cpu_moe if not opts.cpu_moe else n,
        cpu_moe=opts.cpu_moe,
        tensor_split=tuple(round(x, 4) for x in (lay.split or ())),
        split_mode="layer",
        devices=tuple(placements),
        works=tuple(works),
        notes=hw.notes + lay.notes,
    )


# GPU backends without a pinned host buffer type: llama.cpp's Metal device returns none
# (ggml-metal's get_host_buffer_type is NULL; its memory is shared with the CPU anyway).
NO_HOST_BUFFER = frozenset({"metal"})


def host_repacks(repack: bool, gpu_backends: Sequence[str]) -> bool:
    """Whether weights kept in RAM run through CPU_REPACK's interleaved kernels.

    llama.cpp lists a CPU weight's buffer types as: accelerators, then the first GPU's pinned
    host buffer, then the CPU's extra types (CPU_REPACK), then plain CPU memory (llama-model.cpp
    ``make_cpu_buft_list``). So beside a CUDA, ROCm, SYCL or Vulkan GPU a host layer's weights
    sit verbatim in pinned memory, for faster copies when a prompt batch is offloaded, and the
    CPU multiplies them with the plain per-type dot products. ``--no-repack`` turns the extra
    types off everywhere."""
    return repack and all(b in NO_HOST_BUFFER for b in gpu_backends)


def _merge(a: DeviceWork, b: DeviceWork) -> DeviceWork:
    return DeviceWork(
        device=a.device,
        layers=a.layers,
        dense_bytes=a.dense_bytes + b.dense_bytes,
        expert_bytes=a.expert_bytes + b.expert_bytes,
        expert_fraction=max(a.expert_fraction, b.expert_fraction),
        kv_full_per_cell=a.kv_full_per_cell,
        kv_windowed=a.kv_windowed,
        flops_per_token=a.flops_per_token + b.flops_per_token,
        attn_flops_per_cell=a.attn_flops_per_cell,
        attn_heads_per_cell=a.attn_heads_per_cell,
        attn_windowed=a.attn_windowed,
        matrix_types=a.matrix_types or b.matrix_types,
        read_types=a.read_types or b.read_types,
        output_flops_per_token=a.output_flops_per_token + b.output_flops_per_token,
        expert_flops_per_token=a.expert_flops_per_token + b.expert_flops_per_token,
        moe_layers=a.moe_layers + b.moe_layers,
        experts_float=a.experts_float or b.experts_float,
        expert_type=a.expert_type or b.expert_type,
        kv_quantized=a.kv_quantized or b.kv_quantized,
    )


def _describe(traffic, hw, placements, gpu_layers, n_cpu_moe, cpu_moe, fits) -> str:
    n = len(traffic.layers)
    gpus = [p for p in placements if p.kind != "cpu"]
    host = placements[-1]
    if not fits:
        over = [f"{p.name} needs {gib(p.used_bytes)} of {gib(p.capacity_bytes)}" for p in placements if not p.fits]
        return "does not fit: " + "; ".join(over)
    if not gpus:
        spare = host.parts.reclaimable_bytes
        return f"all {n} layers on the CPU ({gib(host.used_bytes)} of RAM" + (
            f", plus {gib(spare)} of reclaimable file pages)" if spare else ")"
        )
    names = ", ".join(f"{p.layers} on {p.name}" for p in gpus if p.layers or p.holds_output)
    if gpu_layers >= n + 1 and not n_cpu_moe:
        where = f"all {n} layers on {gpus[0].name}" if len(gpus) == 1 else f"all {n} layers split {names}"
        return f"{where} ({gib(sum(p.used_bytes for p in gpus))} of {gib(sum(p.capacity_bytes for p in gpus))})"
    parts = []
    if gpu_layers < n + 1:
        on_gpu = sum(p.layers for p in gpus)
        out = " + output" if any(p.holds_output for p in gpus) else ""
        parts.append(f"{on_gpu}/{n} layers{out} on GPU ({names}), {host.layers} in system RAM")
    else:
        parts.append(f"all {n} layers on GPU ({names})")
    if cpu_moe:
        parts.append("all routed experts in system RAM (-ot exps=CPU)")
    elif n_cpu_moe:
        parts.append(f"experts of the first {n_cpu_moe} layers in system RAM (--n-cpu-moe {n_cpu_moe})")
    return "; ".join(parts)


def _place_tensor_parallel(traffic, memory, hw: Hardware, *, ctx: int, opts: PlacementOptions) -> Placement:
    """vLLM-style: every layer split across all cards; per-card share 1/N."""
    gpus = hw.gpus
    if not gpus:
        raise SizingError("tensor parallelism needs GPUs")
    k = len(gpus)
    per_w = (traffic.total_bytes - traffic.embd_bytes) // k + traffic.embd_bytes // k
    per_kv = memory.kv_cache_bytes // k
    placements = []
    for g in gpus:
        parts = MemoryParts(
            weights_bytes=per_w,
            kv_cache_bytes=per_kv,
            compute_bytes=memory.compute_bytes,
            overhead_bytes=memory.overhead_bytes,
        )
        placements.append(
            DevicePlacement(
                id=g.id,
                name=g.name,
                kind=g.kind,
                backend=g.backend,
                layers=len(traffic.layers),
                first_layer=0,
                last_layer=len(traffic.layers) - 1,
                holds_output=True,
                expert_layers=sum(1 for layer in traffic.layers if layer.expert_bytes),
                parts=parts,
                capacity_bytes=max(0, g.memory_bytes - hw.margin_bytes),
            )
        )
    host = hw.host
    placements.append(
        DevicePlacement(
            id=host.id,
            name=host.name,
            kind="cpu",
            backend="cpu",
            parts=MemoryParts(),
            capacity_bytes=max(0, host.memory_bytes - hw.margin_bytes),
        )
    )
    slowest = min(gpus, key=lambda g: g.bandwidth_gbs)
    combined = DeviceRate(
        name=f"{k}× {slowest.name} (tensor parallel)",
        kind=slowest.kind,
        backend=slowest.backend,
        bandwidth_gbs=slowest.bandwidth_gbs * k,
        matmul_tflops=(slowest.matmul_tflops * k) if slowest.matmul_tflops else None,
        hbm=slowest.hbm,
    )
    work = work_for_layers(traffic, combined, traffic.layers, with_output=True)
    fits = all(p.fits for p in placements)
    how = (
        f"tensor parallel over {k} GPUs, {gib(placements[0].used_bytes)} per card"
        if fits
        else "does not fit: "
        + "; ".join(f"{p.name} needs {gib(p.used_bytes)} of {gib(p.capacity_bytes)}" for p in placements if not p.fits)
    )
    return Placement(
        fits=fits,
        how=how,
        n_layers=len(traffic.layers),
        gpu_layers=len(traffic.layers) + 1,
        tensor_split=tuple(1.0 for _ in gpus),
        split_mode="tensor",
        devices=tuple(placements),
        works=(work,),
        notes=hw.notes + ("tensor-parallel speed scales the llama.cpp calibration; not fitted to vLLM",),
    )


# --------------------------------------------------------------------------------------
# many single-GPU machines at once (the sweep; same rules as `place`, vectorised)


class ManyPlacements(BaseModel):
    """Results of `place_many`, one entry per GPU (numpy arrays as tuples)."""

    model_config = ConfigDict(frozen=True)

    fits: tuple[bool, ...]
    gpu_layers: tuple[int, ...]
    n_cpu_moe: tuple[int, ...]
    gpu_read_bytes: tuple[float, ...] = Field(description="weights + KV(depth 0) one token reads on the GPU")
    host_read_bytes: tuple[float, ...]
    host_expert_read_bytes: tuple[float, ...] = Field(
        (), description="the routed-expert share of host_read_bytes (read at the CPU's offload share beside a GPU)"
    )
    gpu_moe_layers: tuple[int, ...] = Field((), description="layers whose routed experts run on the GPU")


def place_many(
    traffic: ModelTraffic,
    memory: MemoryParts,
    capacities: Sequence[int],
    *,
    host_capacity: int | Sequence[int],
    unified: Sequence[bool] | None = None,
    ctx: int,
    n_ubatch: int = 512,
    margin_bytes: int = FIT_MARGIN_BYTES,
    op_offload: bool = True,
) -> ManyPlacements:
    """`place` for one GPU + host, evaluated for many machines at once.

    Same rules: all layers if they fit; else (MoE) the fewest expert layers in RAM; else
    the most ``-ngl`` units (output first, then the last layers) that fit. ``op_offload``:
    the GPU backend copies RAM-resident weights for large batches (CUDA, ROCm, Vulkan,
    SYCL; see sizing.offload_compute), which discrete GPUs pay in compute buffer.
    """
    import numpy as np

    n = len(traffic.layers)
    kv = np.array(kv_per_layer(traffic, memory.kv_cache_bytes, ctx, n_ubatch), dtype=float)
    dense = np.array([layer.dense_bytes for layer in traffic.layers], dtype=float)
    expert = np.array([layer.expert_bytes for layer in traffic.layers], dtype=float)
    frac = max((layer.expert_fraction for layer in traffic.layers), default=0.0)
    cap = np.asarray(capacities, dtype=float) - margin_bytes
    fixed = memory.compute_bytes + memory.overhead_bytes
    out_bytes = traffic.output_bytes + traffic.other_bytes
    host_base = traffic.embd_bytes + traffic.idle_bytes

    # units from the end: output, then layer n-1, n-2, ...
    unit = np.concatenate([[out_bytes], (dense + expert + kv)[::-1]])
    cum = fixed + np.cumsum(unit)  # GPU use with j+1 units (compute/overhead once a unit is there)
    full_use = cum[-1]
    copies = op_offload and n_ubatch >= OP_OFFLOAD_MIN_BATCH
    discrete = np.ones_like(cap, dtype=bool) if unified is None else ~np.asarray(unified, dtype=bool)
    # with j+1 units on the GPU, layers 0..n-j-1 stay in RAM: the largest is copied per batch
    whole_max = np.maximum.accumulate(dense + expert)  # largest of layers 0..m
    host_max = np.concatenate([[whole_max[n - 1 - j] if n - 1 - j >= 0 else 0.0 for j in range(n)], [0.0]])
    use_j = cum + (host_max if copies else 0.0)
    ngl_copy = np.searchsorted(np.maximum.accumulate(use_j), cap, side="right")
    ngl = np.where(discrete, ngl_copy, np.searchsorted(cum, cap, side="right"))  # units that fit
    ncm = np.zeros_like(ngl)
    all_fit = full_use <= cap
    ngl = np.where(all_fit, n + 1, ngl)
    if expert.any():
        saved = np.cumsum(expert)  # experts of the first k layers moved to RAM
        moved_max = np.maximum.accumulate(expert) if copies else np.zeros(n)
        need_k = np.minimum.accumulate(full_use - saved + moved_max)  # GPU use with k = 1..n
        need_plain = full_use - saved
        k_copy = np.searchsorted(-need_k, -cap, side="left") + 1
        k_plain = np.searchsorted(saved, full_use - cap, side="left") + 1
        k = np.where(discrete, k_copy, k_plain)
        moe_ok = (~all_fit) & np.where(discrete, need_k[-1] <= cap, need_plain[-1] <= cap)
        ncm = np.where(moe_ok, np.minimum(k, n), 0)
        ngl = np.where(moe_ok, n + 1, ngl)
    # memory on each side
    whole = dense + expert + kv
    n_gpu = np.clip(ngl - 1, 0, n)  # repeating layers on the GPU (the last ones)
    tail = np.concatenate([[0.0], np.cumsum(whole[::-1])])
    moved = np.concatenate([[0.0], np.cumsum(expert)])[ncm]  # experts of the first ncm layers
    gpu_use = np.where(ngl >= 1, fixed + out_bytes + tail[n_gpu], 0.0) - moved
    if copies:  # the compute buffer's copy of the largest RAM-resident layer (or its experts)
        host_whole = np.where(n_gpu < n, whole_max[np.clip(n - 1 - n_gpu, 0, n - 1)], 0.0)
        host_exp = np.where(ncm > 0, np.maximum.accumulate(expert)[np.clip(ncm - 1, 0, n - 1)], 0.0)
        gpu_use = gpu_use + np.where(discrete & (ngl >= 1), np.maximum(host_whole, host_exp), 0.0)
    host_out = 0.0 if traffic.output_tied else traffic.output_bytes
    host_use = (
        host_base
        + whole.sum()
        - tail[n_gpu]
        + moved
        + np.where(ngl >= 1, 0.0, traffic.other_bytes + host_out)
        + np.where(n_gpu < n, memory.compute_bytes, 0.0)
    )
    host_cap = np.asarray(host_capacity, dtype=float) - margin_bytes
    if unified is not None:  # one RAM pool: what the GPU holds the host cannot
        host_cap = np.where(np.asarray(unified, dtype=bool), host_cap - gpu_use, host_cap)
    fits = (gpu_use <= cap) & (host_use <= host_cap)
    # bytes one token reads on each side (depth 0)
    read = dense + expert * frac
    rtail = np.concatenate([[0.0], np.cumsum(read[::-1])])
    rmoved = np.concatenate([[0.0], np.cumsum(expert * frac)])[ncm]
    gpu_read = np.where(ngl >= 1, out_bytes, 0.0) + rtail[n_gpu] - rmoved
    host_read = out_bytes + read.sum() - gpu_read
    etail = np.concatenate([[0.0], np.cumsum((expert * frac)[::-1])])
    host_expert_read = (expert * frac).sum() - np.where(ngl >= 1, etail[n_gpu] - rmoved, 0.0)
    # MoE layers on the GPU: those among the last n_gpu layers, less the first ncm whose
    # experts went to RAM (ncm > 0 only when every layer is on the GPU)
    is_moe = (expert > 0).astype(int)
    gpu_moe = np.concatenate([[0], np.cumsum(is_moe[::-1])])[n_gpu] - np.concatenate([[0], np.cumsum(is_moe)])[ncm]
    return ManyPlacements(
        fits=tuple(bool(x) for x in fits),
        gpu_layers=tuple(int(x) for x in ngl),
        n_cpu_moe=tuple(int(x) for x in ncm),
        gpu_read_bytes=tuple(float(x) for x in gpu_read),
        host_read_bytes=tuple(float(x) for x in host_read),
        host_expert_read_bytes=tuple(float(x) for x in host_expert_read),
        gpu_moe_layers=tuple(int(x) for x in gpu_moe),
    )

"""Speed: decode tokens/s, prefill tokens/s and time to first token, as ranges.

Decoding one token streams every weight that token touches, plus the KV cache at the
current depth, through each device's memory once. So the time per token is, per device,
bytes read ÷ effective bandwidth, summed over the devices a layer-split pipeline visits,
plus a fixed per-token cost (kernel launches, synchronisation, sampling) that dominates
small models on fast GPUs. A mixture-of-experts model reads only its active experts.

Prefill runs a micro-batch of tokens through each weight at once, so it is set by
arithmetic: FLOPs ÷ effective compute, never faster than reading the weights once per
micro-batch (the memory floor).

The efficiencies and the fixed cost are not guessed: they come from a fit to public
llama-bench results (``sizing.calibration``), per backend. Every answer is a range whose
ends are that fit's residual spread, and it names the calibration it used.

Everything here is pure: numbers and pydantic models in, pydantic models out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from math import prod
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sizing.errors import SizingError
from sizing.models.arch import ModelArch
from sizing.fastmodel import build
from sizing.models.tensors import TensorSpec, layer_of
from sizing.scenario import Basis

DeviceKind = Literal["gpu", "cpu", "unified"]

DEFAULT_DEPTHS: tuple[int, ...] = (0, 4096, 16384, 32768, 65536, 131072)
OFFLOAD_MIN_BATCH = 32  # llama.cpp's CUDA backend offloads host matmuls from this batch size


# --------------------------------------------------------------------------------------
# inputs


class DeviceRate(BaseModel):
    """What a device can stream and compute, as its datasheet states it."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: DeviceKind
    backend: str = Field(description="llama.cpp backend driving it: cuda, metal, rocm, …")
    bandwidth_gbs: float = Field(gt=0)
    matmul_tflops: float | None = Field(None, gt=0, description="dense FP16 matrix peak")
    threads: int | None = Field(None, gt=0, description="CPU threads used (CPU devices)")


class LayerTraffic(BaseModel):
    """One transformer block: what it holds, what a token reads, what a token costs."""

    model_config = ConfigDict(frozen=True)

    index: int
    dense_bytes: int = Field(description="attention, dense/shared FFN, norms: read every token")
    expert_bytes: int = Field(0, description="all routed experts (resident)")
    expert_fraction: float = Field(0.0, description="n_experts_used / n_experts")
    kv_bytes_per_cell: float = Field(0.0, description="K+V bytes per cached token, one sequence")
    window: int | None = Field(None, description="sliding window: cells read are capped here")
    active_params: float = Field(description="parameters one token multiplies by")
    attn_flops_per_cell: float = Field(0.0, description="attention FLOPs per cached token")

    @property
    def total_bytes(self) -> int:
        return self.dense_bytes + self.expert_bytes

    def expert_read_bytes(self, n_tokens: int = 1) -> float:
        """Expert bytes a step of ``n_tokens`` touches: distinct experts hit by the batch."""
        if not self.expert_bytes:
            return 0.0
        touched = 1.0 - (1.0 - self.expert_fraction) ** max(1, n_tokens)
        return self.expert_bytes * touched


class ModelTraffic(BaseModel):
    """A model as per-layer traffic, which placement splits across devices."""

    model_config = ConfigDict(frozen=True)

    layers: tuple[LayerTraffic, ...]
    embd_bytes: int = Field(0, description="token embeddings: resident, one row read per token")
    output_bytes: int = Field(0, description="output projection (or tied embeddings): read every token")
    output_params: int = 0
    other_bytes: int = Field(0, description="final norm and other model-level tensors")
    idle_bytes: int = Field(0, description="resident but not run while decoding (e.g. MTP blocks)")
    output_tied: bool = Field(
        False,
        description=(
            "the output projection is the embedding matrix: llama.cpp loads it a second time "
            "(TENSOR_DUPLICATED) where the output layer runs"
        ),
    )

    @property
    def total_bytes(self) -> int:
        """Bytes of the file's tensors (the tied output counted once)."""
        out = 0 if self.output_tied else self.output_bytes
        return self.embd_bytes + out + self.other_bytes + self.idle_bytes + sum(
            layer.total_bytes for layer in self.layers
        )

    @property
    def active_params(self) -> float:
        return self.output_params + sum(layer.active_params for layer in self.layers)

    @property
    def read_bytes_per_token(self) -> float:
        """Weight bytes one decoded token reads (embedding: one row, neglected)."""
        return self.output_bytes + self.other_bytes + sum(
            layer.dense_bytes + layer.expert_read_bytes(1) for layer in self.layers
        )


class DeviceWork(BaseModel):
    """The share of one token's work that lands on one device."""

    model_config = ConfigDict(frozen=True)

    device: DeviceRate
    layers: int = 0
    dense_bytes: float = Field(0.0, description="weights read every token")
    expert_bytes: float = Field(0.0, description="routed-expert weights resident here")
    expert_fraction: float = 0.0
    kv_full_per_cell: float = Field(0.0, description="KV bytes per cached token (full-attention layers)")
    kv_windowed: tuple[tuple[float, int], ...] = Field(
        (), description="(KV bytes per cell, window) for sliding-window layers"
    )
    flops_per_token: float = 0.0
    attn_flops_per_cell: float = 0.0
    offload_link_gbs: float | None = Field(
        None,
        description=(
            "host layers next to a GPU: llama.cpp copies their weights over this link to run "
            "large prompt batches on the GPU, so prefill here is never slower than that copy"
        ),
    )

    def weight_read_bytes(self, n_tokens: int = 1) -> float:
        touched = 0.0
        if self.expert_bytes:
            touched = self.expert_bytes * (1.0 - (1.0 - self.expert_fraction) ** max(1, n_tokens))
        return self.dense_bytes + touched

    def kv_read_bytes(self, depth: int) -> float:
        """KV bytes one sequence reads to attend over ``depth`` cached tokens."""
        total = self.kv_full_per_cell * depth
        for per_cell, window in self.kv_windowed:
            total += per_cell * min(depth, window)
        return total


def model_traffic(
    arch: ModelArch, tensors: Sequence[TensorSpec], kv_type_k: str = "f16", kv_type_v: str = "f16"
) -> ModelTraffic:
    """Per-layer traffic from typed tensors (from a GGUF header or the quant recipe)."""
    from sizing.quant import kv_bytes_per_element, tensor_bytes

    if any(t.ggml_type is None for t in tensors):
        raise SizingError("model_traffic needs typed tensors (apply the quant recipe first)")
    n = arch.n_layers
    dense = [0] * n
    expert = [0] * n
    params = [0.0] * n
    frac = arch.n_experts_used / arch.n_experts if arch.is_moe else 0.0
    embd = output = other = idle = 0
    output_params = 0
    tied_params = 0
    for t in tensors:
        b = tensor_bytes(t)
        i = layer_of(t.name)
        if 0 <= i < n:
            if t.is_expert:
                expert[i] += b
                params[i] += prod(t.shape) * frac if t.name.endswith(".weight") else 0
            else:
                dense[i] += b
                params[i] += prod(t.shape) if t.name.endswith(".weight") else 0
        elif t.name.startswith("token_embd"):
            embd += b
            tied_params = t.n_elements
        elif t.name.startswith("output.weight"):
            output += b
            output_params = t.n_elements
        elif i >= n:  # e.g. multi-token-prediction blocks: resident, not run while decoding
            idle += b
        else:
            other += b
    tied = False
    if not output:  # no output.weight: llama.cpp reuses token_embd as the output projection
        output_params = tied_params
        output = embd  # read in full each token, from its own copy where the output runs
        tied = True

    bk, bv = kv_bytes_per_element(kv_type_k), kv_bytes_per_element(kv_type_v)
    swa = arch.swa_flags
    att = arch.attention_flags  # recurrent and FFN-only blocks read no KV
    layers = []
    for i in range(n):
        if not att[i]:
            kv_cell, attn = 0.0, 0.0
        elif arch.is_mla:
            width = arch.kv_lora_rank + arch.qk_rope_head_dim
            kv_cell = width * bk
            attn = 2.0 * arch.n_heads * (width + arch.kv_lora_rank)
        else:
            kv_cell = arch.n_kv_heads * (arch.head_dim_k * bk + arch.head_dim_v * bv)
            attn = 2.0 * arch.n_heads * (arch.head_dim_k + arch.head_dim_v)
        layers.append(  # every field given, each already of its type: no validation needed
            build(
                LayerTraffic,
                index=i,
                dense_bytes=dense[i],
                expert_bytes=expert[i],
                expert_fraction=frac if expert[i] else 0.0,
                kv_bytes_per_cell=kv_cell,
                window=arch.sliding_window if swa[i] else None,
                active_params=params[i],
                attn_flops_per_cell=attn,
            )
        )
    return ModelTraffic(
        layers=tuple(layers),
        embd_bytes=embd,
        output_bytes=output,
        output_params=output_params,
        other_bytes=other,
        idle_bytes=idle,
        output_tied=tied,
    )


def single_device_work(traffic: ModelTraffic, device: DeviceRate) -> DeviceWork:
    """Everything on one device (a GPU that holds the whole model, a Mac, a CPU)."""
    return work_for_layers(traffic, device, traffic.layers, with_output=True)


def work_for_layers(
    traffic: ModelTraffic,
    device: DeviceRate,
    layers: Iterable[LayerTraffic],
    *,
    with_output: bool = False,
    experts: bool = True,
    dense: bool = True,
) -> DeviceWork:
    """The work of some layers (optionally only their dense or only their expert part)."""
    d = e = kv_full = flops = attn = 0.0
    frac = 0.0
    windowed: dict[int, float] = {}
    count = 0
    for layer in layers:
        count += 1
        if dense:
            d += layer.dense_bytes
            dense_params = layer.active_params - _expert_active_params(layer)
            flops += 2.0 * dense_params
            attn += layer.attn_flops_per_cell
            if layer.window is None:
                kv_full += layer.kv_bytes_per_cell
            else:
                windowed[layer.window] = windowed.get(layer.window, 0.0) + layer.kv_bytes_per_cell
        if experts and layer.expert_bytes:
            e += layer.expert_bytes
            frac = layer.expert_fraction
            flops += 2.0 * _expert_active_params(layer)
    if with_output:
        d += traffic.output_bytes + traffic.other_bytes
        flops += 2.0 * traffic.output_params
    return DeviceWork(
        device=device,
        layers=count,
        dense_bytes=d,
        expert_bytes=e,
        expert_fraction=frac,
        kv_full_per_cell=kv_full,
        kv_windowed=tuple((v, w) for w, v in sorted(windowed.items())),
        flops_per_token=flops,
        attn_flops_per_cell=attn,
    )


def _expert_active_params(layer: LayerTraffic) -> float:
    """Active expert parameters of a layer, from its share of bytes (same quant per layer)."""
    if not layer.expert_bytes:
        return 0.0
    total = layer.dense_bytes + layer.expert_read_bytes(1)
    return layer.active_params * layer.expert_read_bytes(1) / total if total else 0.0


# --------------------------------------------------------------------------------------
# calibration values (fitted in sizing.calibration, stored in data/speed_calibration.yaml)


class BackendCalibration(BaseModel):
    """Effective factors for one backend, fitted to llama-bench rows."""

    model_config = ConfigDict(frozen=True)

    backend: str
    decode_efficiency: float = Field(gt=0, le=1, description="fraction of datasheet bandwidth")
    decode_overhead_ms: float = Field(ge=0, description="fixed cost per decoded token")
    prefill_efficiency: float | None = Field(None, gt=0, description="fraction of matmul_tflops")
    prefill_gflops_per_gbs: float | None = Field(
        None, gt=0, description="effective GFLOP/s per GB/s, for devices without a compute figure"
    )
    prefill_gflops_per_thread: float | None = Field(None, gt=0, description="CPU: per thread")
    decode_spread: tuple[float, float] = Field((0.8, 1.2), description="low/high ratio")
    prefill_spread: tuple[float, float] = (0.7, 1.3)
    n_decode: int = 0
    n_prefill: int = 0
    pooled: bool = Field(False, description="too few rows: borrowed from all backends")


class CalibrationSet(BaseModel):
    """All backends' factors plus where they came from."""

    model_config = ConfigDict(frozen=True)

    name: str
    data_file: str
    data_sha256: str
    method: str
    holdout: str
    backends: dict[str, BackendCalibration]
    pooled: BackendCalibration
    holdout_ids: tuple[str, ...] = ()
    machine: str | None = Field(None, description="set when refitted to this machine's own runs: what they are")

    def get(self, backend: str, kind: str | None = None) -> BackendCalibration:
        """Factors for a backend, refined by device class ("cuda/gpu", "vulkan/unified")
        where the data had enough rows of that class."""
        if kind is not None and f"{backend}/{kind}" in self.backends:
            return self.backends[f"{backend}/{kind}"]
        return self.backends.get(backend, self.pooled)

    def label(self, backend: str, kind: str | None = None) -> str:
        key = f"{backend}/{kind}" if kind is not None and f"{backend}/{kind}" in self.backends else backend
        c = self.get(backend, kind)
        how = "pooled over all backends" if c.pooled or backend not in self.backends else (
            f"{c.n_decode} decode / {c.n_prefill} prefill rows"
        )
        return f"{self.name}: {key} ({how})"


# --------------------------------------------------------------------------------------
# outputs


class Range(BaseModel):
    """A low / expected / high triple; low ≤ expected ≤ high."""

    model_config = ConfigDict(frozen=True)

    low: float
    expected: float
    high: float

    @classmethod
    def around(cls, expected: float, spread: tuple[float, float]) -> Range:
        lo, hi = spread
        return cls(low=expected * min(lo, 1.0), expected=expected, high=expected * max(hi, 1.0))

    def inverse(self) -> Range:
        """For times from rates: the fast end becomes the short time."""
        return Range(low=1.0 / self.high, expected=1.0 / self.expected, high=1.0 / self.low)

    def rounded(self, digits: int = 2) -> dict[str, float]:
        return {k: round(getattr(self, k), digits) for k in ("low", "expected", "high")}


class DeviceTime(BaseModel):
    """One device's share of a decoded token."""

    model_config = ConfigDict(frozen=True)

    name: str
    backend: str
    layers: int
    read_bytes: float
    seconds: float


class SpeedEstimate(BaseModel):
    """Tokens/s and time to first token, each a range, with the calibration named."""

    model_config = ConfigDict(frozen=True)

    decode_tokens_per_s: Range
    prefill_tokens_per_s: Range
    ttft_s: Range
    prompt_tokens: int
    decode_at_depth: dict[int, Range]
    n_parallel: int = 1
    aggregate_tokens_per_s: Range | None = Field(
        None, description="all parallel sequences together (n_parallel > 1)"
    )
    per_device: tuple[DeviceTime, ...] = ()
    calibration: str
    basis: Basis


# --------------------------------------------------------------------------------------
# the model


def _bandwidth(work: DeviceWork, calib: CalibrationSet) -> float:
    c = calib.get(work.device.backend, work.device.kind)
    return work.device.bandwidth_gbs * 1e9 * c.decode_efficiency


def effective_compute(device: DeviceRate, calib: CalibrationSet) -> float:
    """FLOP/s llama.cpp reaches on this device's matrix multiplications (fitted)."""
    c = calib.get(device.backend, device.kind)
    p = calib.pooled
    if device.kind == "cpu":
        per_thread = c.prefill_gflops_per_thread or calib.get("cpu").prefill_gflops_per_thread
        if not (per_thread and device.threads):
            raise SizingError(f"CPU prefill needs a thread count and a per-thread factor ({device.name})")
        return device.threads * per_thread * 1e9
    if device.matmul_tflops:
        eff = c.prefill_efficiency or p.prefill_efficiency
        if eff:
            return device.matmul_tflops * 1e12 * eff
    ratio = c.prefill_gflops_per_gbs or p.prefill_gflops_per_gbs
    if not ratio:
        raise SizingError(f"calibration {calib.name} has no prefill factor for {device.backend}")
    return device.bandwidth_gbs * ratio * 1e9


def _main_device(works: Sequence[DeviceWork]) -> tuple[str, str | None]:
    """(backend, device class) of the device that drives the run: the first accelerator."""
    for w in works:
        if w.device.kind != "cpu" and w.layers:
            return w.device.backend, w.device.kind
    return (works[0].device.backend, works[0].device.kind) if works else ("cpu", "cpu")


def decode_step_seconds(
    works: Sequence[DeviceWork], calib: CalibrationSet, depth: int = 0, n_seq: int = 1
) -> tuple[float, list[DeviceTime]]:
    """Expected seconds for one decode step of ``n_seq`` sequences at ``depth``.

    Devices run one after another (llama.cpp's layer split), so their times add up. With
    several sequences the weights are read once per step, the KV once per sequence, and
    a device turns compute-bound once the batch outgrows its bandwidth.
    """
    if not works:
        raise SizingError("nothing placed on any device")
    total = 0.0
    per: list[DeviceTime] = []
    for w in works:
        if not (w.dense_bytes or w.expert_bytes or w.layers):
            continue
        read = w.weight_read_bytes(n_seq) + n_seq * w.kv_read_bytes(depth)
        t_mem = read / _bandwidth(w, calib)
        t_cmp = 0.0
        if n_seq > 1:
            flops = n_seq * (w.flops_per_token + w.attn_flops_per_cell * depth)
            t_cmp = flops / effective_compute(w.device, calib)
        t = max(t_mem, t_cmp)
        total += t
        per.append(
            DeviceTime(name=w.device.name, backend=w.device.backend, layers=w.layers, read_bytes=read, seconds=t)
        )
    total += calib.get(*_main_device(works)).decode_overhead_ms / 1000.0
    return total, per


def prefill_seconds(
    works: Sequence[DeviceWork], calib: CalibrationSet, n_tokens: int, n_ubatch: int = 512, depth: int = 0
) -> float:
    """Expected seconds to process a prompt of ``n_tokens`` after ``depth`` cached tokens.

    Per micro-batch each device either computes (FLOPs ÷ effective compute) or, for small
    batches, streams its weights once (the memory floor), whichever is slower.
    """
    if n_tokens <= 0:
        return 0.0
    total = 0.0
    done = 0
    while done < n_tokens:
        u = min(n_ubatch, n_tokens - done)
        mid_depth = depth + done + u / 2.0
        for w in works:
            if not (w.dense_bytes or w.expert_bytes or w.layers):
                continue
            flops = u * (w.flops_per_token + w.attn_flops_per_cell * mid_depth)
            t_cmp = flops / effective_compute(w.device, calib)
            t_mem = (w.weight_read_bytes(u) + u * w.kv_read_bytes(int(mid_depth))) / _bandwidth(w, calib)
            t = max(t_cmp, t_mem)
            if w.offload_link_gbs and u >= OFFLOAD_MIN_BATCH:
                t = min(t, w.weight_read_bytes(u) / (w.offload_link_gbs * 1e9))
            total += t
        done += u
    return total


def estimate_speed(
    works: Sequence[DeviceWork],
    calib: CalibrationSet,
    *,
    ctx: int,
    prompt_tokens: int | None = None,
    n_ubatch: int = 512,
    n_parallel: int = 1,
    depths: Iterable[int] = DEFAULT_DEPTHS,
) -> SpeedEstimate:
    """Decode and prefill speed for work already placed on devices.

    ``prompt_tokens`` (default: min(ctx, 512), like llama-bench's pp512) sets the prompt
    for prefill speed and time to first token; ``depths`` beyond ``ctx`` are dropped.
    """
    if ctx <= 0:
        raise SizingError(f"context must be positive, got {ctx}")
    if prompt_tokens is not None and prompt_tokens <= 0:
        raise SizingError(f"prompt tokens must be positive, got {prompt_tokens}")
    works = [w for w in works if w.layers or w.dense_bytes or w.expert_bytes]
    if not works:
        raise SizingError("nothing placed on any device")
    for w in works:
        if w.device.bandwidth_gbs <= 0:
            raise SizingError(f"bandwidth of {w.device.name} must be > 0")
    backend, kind = _main_device(works)
    c = calib.get(backend, kind)
    p = prompt_tokens if prompt_tokens is not None else min(ctx, 512)
    p = max(1, min(p, ctx))

    step, per = decode_step_seconds(works, calib, depth=0)
    decode = Range.around(1.0 / step, c.decode_spread)
    at_depth: dict[int, Range] = {}
    for d in sorted(set(depths)):
        if 0 <= d < ctx:
            s, _ = decode_step_seconds(works, calib, depth=d)
            at_depth[d] = Range.around(1.0 / s, c.decode_spread)

    t_pp = prefill_seconds(works, calib, p, n_ubatch=n_ubatch)
    prefill = Range.around(p / t_pp, c.prefill_spread)
    first, _ = decode_step_seconds(works, calib, depth=p)
    ttft_expected = t_pp + first
    lo, hi = c.prefill_spread
    ttft = Range(low=ttft_expected / max(hi, 1.0), expected=ttft_expected, high=ttft_expected / min(lo, 1.0))

    aggregate = None
    if n_parallel > 1:
        s, _ = decode_step_seconds(works, calib, depth=0, n_seq=n_parallel)
        aggregate = Range.around(n_parallel / s, c.decode_spread)

    name = calib.label(backend, kind)
    return SpeedEstimate(
        decode_tokens_per_s=decode,
        prefill_tokens_per_s=prefill,
        ttft_s=ttft,
        prompt_tokens=p,
        decode_at_depth=at_depth,
        n_parallel=n_parallel,
        aggregate_tokens_per_s=aggregate,
        per_device=tuple(per),
        calibration=name,
        basis=Basis(
            source=f"fit to public llama-bench results ({calib.data_file})"
            + (f", refitted to {calib.machine}" if calib.machine else ""),
            method=(
                "decode: bytes read per token ÷ (bandwidth × fitted efficiency) summed over "
                "devices + fitted per-token overhead; prefill: FLOPs ÷ fitted effective "
                "compute, floored by one weight read per micro-batch"
            ),
            calibration=name,
            measured=calib.machine is not None,
        ),
    )


def per_user_tokens_per_s(
    works: Sequence[DeviceWork], calib: CalibrationSet, n_seq: int, depth: int = 0
) -> float:
    """Expected tokens/s each of ``n_seq`` concurrent sequences sees."""
    s, _ = decode_step_seconds(works, calib, depth=depth, n_seq=n_seq)
    return 1.0 / s


def rule_of_thumb_tokens_per_s(model_bytes: float, bandwidth_gbs: float, factor: float = 0.55) -> float:
    """The popular calculators' rule: factor × bandwidth ÷ model size (for comparison)."""
    if model_bytes <= 0 or bandwidth_gbs <= 0:
        raise SizingError("model size and bandwidth must be > 0")
    return factor * bandwidth_gbs * 1e9 / model_bytes


# A sweep times the same machines thousands of times: look their factors up once.
_FACTORS: dict[tuple, tuple[CalibrationSet, object, object]] = {}


def _decode_factors(calib: CalibrationSet, backends: tuple[str, ...], kinds: tuple[str, ...]):
    """Per-machine decode efficiency and fixed cost (s) arrays (memoised; the calibration
    is kept with them, so its id is not reused while cached)."""
    import numpy as np

    key = (id(calib), backends, kinds)
    hit = _FACTORS.get(key)
    if hit is not None and hit[0] is calib:
        return hit[1], hit[2]
    cs = [calib.get(b, k) for b, k in zip(backends, kinds)]
    eff = np.array([c.decode_efficiency for c in cs])
    over = np.array([c.decode_overhead_ms for c in cs]) / 1000.0
    eff.flags.writeable = over.flags.writeable = False  # shared between calls
    if len(_FACTORS) > 256:
        _FACTORS.clear()
    _FACTORS[key] = (calib, eff, over)
    return eff, over


def decode_tokens_per_s_many(
    gpu_read_bytes,
    host_read_bytes,
    gpu_bandwidth_gbs,
    host_bandwidth_gbs,
    gpu_backends: Sequence[str],
    calib: CalibrationSet,
    gpu_kinds: Sequence[str] | None = None,
):
    """Vectorised `decode_step_seconds` at depth 0 for one GPU + host per machine."""
    import numpy as np

    kinds = tuple(gpu_kinds) if gpu_kinds is not None else ("gpu",) * len(gpu_backends)
    eff, over = _decode_factors(calib, tuple(gpu_backends), kinds)
    cpu = calib.get("cpu")
    host_bw = np.asarray(host_bandwidth_gbs, dtype=float)
    gpu_read = np.asarray(gpu_read_bytes, dtype=float)
    host_read = np.asarray(host_read_bytes, dtype=float)
    t = gpu_read / (np.asarray(gpu_bandwidth_gbs, dtype=float) * 1e9 * eff)
    t = t + host_read / (host_bw * 1e9 * cpu.decode_efficiency)
    # the fixed cost is the main backend's; a CPU-only run pays the CPU's
    t = t + np.where(gpu_read > 0, over, cpu.decode_overhead_ms / 1000.0)
    return 1.0 / t

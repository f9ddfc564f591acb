"""Speed: decode tokens/s, prefill tokens/s and time to first token, as ranges.

Decoding one token streams every weight that token touches, plus the KV cache at the
current depth, through each device's memory once. So the time per token is, per device,
bytes read ÷ effective bandwidth, summed over the devices a layer-split pipeline visits,
plus a fixed cost per layer on a GPU (each layer dispatches the same dozen-odd kernels,
and each takes a minimum time however few bytes it reads: launch or command-buffer
submission, synchronisation), plus a fixed per-token cost (sampling, host work; the
whole of it on a CPU). The per-layer cost dominates small models on fast GPUs, and it
grows with the number of layers, not with the bytes: a 16-layer 1B model pays half what
a 32-layer 8B one does. A fixed cost per token fitted instead is pinned by whichever
small model the backend's rows happen to hold, and the fit swings between folds. On CUDA,
which replays a decode step as one CUDA graph, nothing is launched from the host: a layer's
fixed cost is its small kernels' run time, which is shorter on a faster GPU (an RTX 5090
pays about half what an RTX 3090 does per layer of a 1B model), so it is fitted as bytes
streamed at the device's effective bandwidth; the other backends dispatch each kernel from
the host, a fixed time. A mixture-of-experts model reads only its active experts, but
each of its MoE layers also runs a router, a top-k selection and gathered expert products
that a dense layer does not. Those small kernels take longer on a slower GPU, so the fit
expresses their cost per MoE layer as bytes streamed at the device's effective bandwidth
(one size per backend): a fixed time per layer fitted on fast cards would under-predict an
old one, such as a Tesla P40, several times over. A GPU with stacked HBM memory (A100,
H100) streams a smaller share of its datasheet bandwidth and pays a larger cost per layer
than that bandwidth implies (:func:`effective_bandwidth`): its decode does not scale with
its 2-5 TB/s.

On a CPU, attention over the cached cells is arithmetic-bound, not bandwidth-bound:
llama.cpp's CPU flash-attention kernel walks the cache one cell and head at a time (a dot
product, an online-softmax step with an exp, a scaled add), a few FLOPs per cycle where
the matrix kernels reach tens. So a CPU token at depth pays, per thread and clock cycle,
its attention FLOPs at a vector rate plus a fixed number of cycles per query head and
cell, where that outlasts the KV read it overlaps; on a small model at a few hundred cells
this is a third of the step.

Prefill runs a micro-batch of tokens through each weight at once, so it is set by
arithmetic: FLOPs ÷ effective compute, never faster than reading the weights once per
micro-batch (the memory floor). Effective compute is a share of the matrix peak where
llama.cpp uses matrix units (its FP16-accumulate rate: a GeForce board's stated FP32-accumulate
figure is half of what llama.cpp's kernels can reach, a workstation board's is not); a GPU without them (an old GCN or RDNA 2 card) multiplies on
its shader ALUs, so its share is of its FP32 vector peak: a figure scaled from bandwidth
would make a 512-bit GDDR5 card of 2013 prefill like a modern one. F16/BF16 weights reach a
larger share than quantized ones (no dequantization: the vendor GEMM takes them as they are).

The efficiencies and the fixed cost are not guessed: they come from a fit to public
llama-bench results (``sizing.core.speed.calibration``), per backend. Every answer is a range whose
ends are that fit's residual spread, and it names the calibration it used.

Everything here is pure: numbers and pydantic models in, pydantic models out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field

from sizing.errors import SizingError
from sizing.core.scenario import Basis
from sizing.core.speed.cpu import PLAIN, decode_kernel_factor, prefill_kernel_factor, repacked_share
from sizing.core.traffic import DeviceRate, DeviceWork


DEFAULT_DEPTHS: tuple[int, ...] = (0, 4096, 16384, 32768, 65536, 131072)
OFFLOAD_MIN_BATCH = 32  # llama.cpp's CUDA backend offloads host matmuls from this batch size


# --------------------------------------------------------------------------------------
# calibration values (fitted offline by harness/speed_fit.py, stored in data/speed_calibration.yaml)


class BackendCalibration(BaseModel):
    """Effective factors for one backend, fitted to llama-bench rows."""

    model_config = ConfigDict(frozen=True)

    backend: str
    decode_efficiency: float = Field(gt=0, le=1, description="fraction of datasheet bandwidth")
    decode_overhead_ms: float = Field(ge=0, description="fixed cost per decoded token")
    decode_layer_ms: float = Field(
        0.0,
        ge=0,
        description=(
            "GPU decode: fixed time per layer and token on the device that runs the layer (the "
            "layer's dozen-odd kernel dispatches and their synchronisation, which take about the same "
            "time however few bytes the layer reads); fitted with the efficiency on dense rows"
        ),
    )
    decode_layer_mb: float = Field(
        0.0,
        ge=0,
        description=(
            "GPU decode: each layer costs as much time as streaming this many MB at the device's "
            "effective bandwidth (the layer's dozen-odd small kernels: norms, RoPE, attention at a "
            "shallow depth, the dispatches between them; they run at the GPU's speed, so a slower "
            "card pays more per layer); fitted with the efficiency on dense rows"
        ),
    )
    prefill_efficiency: float | None = Field(None, gt=0, description="fraction of matmul_tflops")
    prefill_gflops_per_watt: float | None = Field(
        None,
        gt=0,
        description=(
            "matrix GFLOP/s per watt of board power the architecture's most power-efficient "
            "prompt run reached: a card with little power for its peak (an RTX 6000 Ada or L40 at "
            "300 W beside a 450 W RTX 4090 on the same chip, an A30 at 165 W) prompts at this "
            "times its board power, below its matrix share"
        ),
    )
    prefill_gflops_per_gbs: float | None = Field(
        None, gt=0, description="effective GFLOP/s per GB/s, for devices without a compute figure"
    )
    prefill_vector_efficiency: float | None = Field(
        None,
        gt=0,
        description=(
            "fraction of the FP32 vector peak reached by GPUs without matrix units llama.cpp "
            "uses (GCN, RDNA 1/2): their prompt products run on the shader ALUs"
        ),
    )
    prefill_f16_speed: float | None = Field(
        None,
        gt=0,
        description=(
            "GPU prompt speed of F16/BF16 weights relative to quantized ones at the same matrix "
            "peak: llama.cpp hands unquantized weights to the vendor GEMM (cuBLAS, Metal simdgroup "
            "matrices) as they are, while quantized ones are dequantized or multiplied by its own "
            "kernels; fitted from F16 and quantized rows of one device and build (None: no such "
            "pair, the pooled value or 1 applies)"
        ),
    )
    prefill_gflops_per_thread: float | None = Field(None, gt=0, description="CPU: per thread")
    prefill_gflop_per_ghz: float | None = Field(
        None,
        gt=0,
        description=(
            "CPU: prompt GFLOP/s one thread reaches per GHz of its clock (FLOPs per cycle); used where "
            "the CPU's clock is known, in place of prefill_gflops_per_thread: a core's matrix kernels "
            "retire a fixed number of FLOPs per cycle for one vector ISA, so two AVX2 laptops on two "
            "threads prompt in the ratio of their clocks (i5-4278U at 3.1 GHz, i3-1315U at 4.5)"
        ),
    )
    prefill_gflops_per_core: float | None = Field(
        None,
        gt=0,
        description=(
            "Apple GPUs without a stated compute figure (M3, M4; the M1, M2 and M5 have one in "
            "data/gpus.yaml): effective GFLOP/s per GPU core"
        ),
    )
    decode_gbs_per_thread: float | None = Field(
        None,
        gt=0,
        description=(
            "CPU: bytes one thread dequantises and multiplies per second while decoding; a CPU "
            "with few threads is limited by this, not by its RAM bandwidth"
        ),
    )
    decode_gb_per_ghz: float | None = Field(
        None,
        gt=0,
        description=(
            "CPU: GB one thread dequantises and multiplies per second per GHz of its clock (bytes per "
            "cycle); used where the CPU's clock is known, in place of decode_gbs_per_thread"
        ),
    )
    moe_layer_mb: float = Field(
        0.0,
        ge=0,
        description=(
            "decode: each layer whose routed experts run on the device costs as much time as "
            "streaming this many MB at its effective bandwidth (router product, top-k, gathered "
            "expert matrix-vector products, weighting: small kernels a dense layer does not run, "
            "whose time scales with the GPU's speed); fitted on MoE rows"
        ),
    )
    moe_prefill_tokens: float = Field(
        0.0,
        ge=0,
        description=(
            "prefill: each routed expert's product costs as if it had this many more tokens "
            "(tiles padded, the expert's weights loaded for the few tokens routed to it): with "
            "t tokens per expert per micro-batch the experts run at t/(t + this) of the dense "
            "rate; fitted on MoE prompt rows"
        ),
    )
    moe_prefill_tokens_slope: float = Field(
        0.0,
        ge=0,
        le=5.0,
        description=(
            "prefill on a discrete card: moe_prefill_tokens grows by this many for each token an "
            "expert's product carries beyond moe_prefill_tokens_at (the gathered expert kernel keeps "
            "its own share of the dense rate however many tokens it gets); fitted where a backend's "
            "discrete MoE prompt rows span micro-batches 4x apart, else 0"
        ),
    )
    moe_prefill_tokens_at: float = Field(
        0.0, ge=0, description="the tokens per expert product at which moe_prefill_tokens holds (its rows' median)"
    )
    moe_prefill_tokens_float: float | None = Field(
        None,
        ge=0,
        description=(
            "moe_prefill_tokens for routed experts stored as F16/BF16 (a slower path than the "
            "quantized experts' gathered kernel); None: no such rows, the quantized figure"
        ),
    )
    moe_layer_launch_ms: float = Field(
        0.0,
        ge=0,
        description=(
            "decode, GPUs whose kernels are launched from the CPU one by one (CUDA without graphs, "
            "Pascal: measured with graphs off and on, on top of moe_layer_mb; ROCm, Vulkan, Metal, "
            "SYCL: fitted on their MoE rows, in place of moe_layer_mb): a fixed time per MoE layer"
        ),
    )
    moe_layer_launch_ms_by_type: tuple[tuple[str, float], ...] = Field(
        (),
        description=(
            "moe_layer_launch_ms for routed experts of one ggml type, where this entry's rows show "
            "that type costing a time of its own (an Arc on SYCL runs MXFP4 experts far slower per "
            "layer than Q4_K ones); other types take moe_layer_launch_ms"
        ),
    )
    hbm_decode_share: float = Field(
        1.0,
        gt=0,
        le=1.5,
        description=(
            "decode on a GPU with stacked HBM memory: the share of this entry's bandwidth efficiency "
            "it reaches (effective_bandwidth); fitted on HBM rows against the GDDR rows' line"
        ),
    )
    hbm_layer_scale: float = Field(
        1.0,
        gt=0,
        le=10.0,
        description=(
            "decode on a GPU with stacked HBM memory: its fixed cost per layer relative to this "
            "entry's (at its reduced effective bandwidth); fitted with hbm_decode_share"
        ),
    )
    decode_kv_time_scale: float = Field(
        1.0,
        gt=0,
        le=5.0,
        description=(
            "GPU decode at depth: attention over the cached cells takes this many times as long as "
            "streaming its K and V bytes at the device's effective bandwidth (the flash-attention "
            "kernel reads K and V in short rows, with a softmax between them; the weights' "
            "matrix-vector kernels stream long ones); fitted on llama-bench runs of one model at "
            "several depths (tg @ dN); 1 on a CPU, whose attention has its own term"
        ),
    )
    decode_kv_quant_scale: float = Field(
        1.0,
        gt=0,
        le=10.0,
        description=(
            "GPU decode at depth over a quantized cache (q8_0, q4_0...): its attention takes this "
            "many times decode_kv_time_scale per byte (the kernel dequantizes every row it reads); "
            "fitted on depth runs with a quantized cache"
        ),
    )
    prefill_attn_flop_scale: float = Field(
        1.0,
        gt=0,
        le=10.0,
        description=(
            "GPU prompt at depth: attention's FLOPs over the cached cells cost this many times the "
            "weights' matrix FLOPs at the device's effective compute (flash attention's tiles, "
            "softmax and masking run at a rate of their own); fitted on llama-bench runs of one "
            "model at several depths (pp @ dN); 1 on a CPU"
        ),
    )
    offload_copy_gbs: float | None = Field(
        None,
        gt=0,
        description=(
            "GB/s this GPU backend copies weights from RAM at where below the PCIe link's (SYCL "
            "copies from pageable memory: llama.cpp issue #26752); a prompt batch of layers kept in "
            "RAM is copied to the GPU first, so it bounds their prompt speed; None: the link's"
        ),
    )
    offload_expert_efficiency: float = Field(
        1.0,
        gt=0,
        le=1.5,
        description=(
            "CPU decode of routed experts kept in RAM for a GPU beside it (--n-cpu-moe, -ot "
            "exps=CPU): those experts stream at this share of the CPU's dense decode bandwidth (a "
            "layer's few small expert matrices, and the CPU threads waking for each layer the GPU "
            "hands over); fitted on public --n-cpu-moe llama-bench runs; 1 elsewhere"
        ),
    )
    prefill_attn_flop_scale_unified: float | None = Field(
        None,
        gt=0,
        le=10.0,
        description=(
            "prefill_attn_flop_scale on an integrated GPU: there attention's FLOPs run 2-3 times "
            "dearer than on a discrete card of the same backend (Strix Halo against an RX 7900 XTX "
            "and an R9700 on ROCm); None: prefill_attn_flop_scale"
        ),
    )
    decode_spread: tuple[float, float] = Field((0.8, 1.2), description="low/high ratio")
    prefill_spread: tuple[float, float] = (0.7, 1.3)
    n_decode: int = 0
    n_prefill: int = 0
    pooled: bool = Field(False, description="too few rows: borrowed from all backends")
    decode_kernel_speed: tuple[tuple[str, float], ...] = Field(
        (),
        description=(
            "CPU: bytes per second one thread's matrix-vector kernel streams for each weight type "
            "(or kernel class) relative to repacked weights; the thread-limited decode rate is the "
            "repacked one (sizing.core.speed.cpu.decode_kernel_factor)"
        ),
    )
    decode_kernel_speed_by_vendor: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = Field(
        (),
        description=(
            "CPU: decode_kernel_speed measured on one maker's cores, by CPUID vendor: the same "
            "build's kernels rank the types differently on an Intel core than on a Zen 4 one "
            "(bench/cpu_kernels.py); a CPU of another or unknown vendor takes decode_kernel_speed"
        ),
    )

    def decode_speeds_for(self, vendor: str | None) -> tuple[tuple[str, float], ...]:
        """The decode kernel table for a CPU of this CPUID vendor (the default table without one)."""
        return dict(self.decode_kernel_speed_by_vendor).get(vendor or "", self.decode_kernel_speed)

    def decode_table_name(self, vendor: str | None) -> str:
        """Which table :meth:`decode_speeds_for` gives: the vendor's, or 'default', and a digest
        of its speeds ('GenuineIntel#1a2b3c'), so a run stored under a table since re-measured
        is told apart from one weighed by today's."""
        base = vendor if vendor and vendor in dict(self.decode_kernel_speed_by_vendor) else "default"
        return f"{base}#{kernel_table_digest(self.decode_speeds_for(vendor))}"

    prefill_kernel_speed: tuple[tuple[str, float], ...] = Field(
        (),
        description=(
            "CPU: prompt speed of each matrix-multiplication path relative to repacked weights "
            "(sizing.core.speed.cpu.kernel_class); the per-thread rate is the repacked one"
        ),
    )
    decode_attn_flop_per_cycle: float | None = Field(
        None,
        gt=0,
        description=(
            "CPU decode attention, its vector part: FLOPs (Q·K and the weighted sum of V over the "
            "cached cells) one thread does per clock cycle"
        ),
    )
    decode_attn_cycles_per_head_cell: float | None = Field(
        None,
        ge=0,
        description=(
            "CPU decode attention, its fixed part: clock cycles per query head and cached cell "
            "beyond the FLOPs (llama.cpp's CPU flash-attention kernel takes the cells one at a "
            "time: an online-softmax step with an exp, a rescale, the loop around them); it "
            "dominates at small head dimensions"
        ),
    )

    def moe_launch_ms(self, expert_type: str) -> float:
        """The fixed time per MoE layer for experts of ``expert_type``."""
        return dict(self.moe_layer_launch_ms_by_type).get(expert_type.upper(), self.moe_layer_launch_ms)

    def attn_flop_scale(self, kind: str) -> float:
        """prefill_attn_flop_scale for a device of memory ``kind`` ("unified", "gpu"...)."""
        own = self.prefill_attn_flop_scale_unified if kind == "unified" else None
        return self.prefill_attn_flop_scale if own is None else own


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

    def __hash__(self) -> int:
        """By value (``backends`` is a dict, hashed by its sorted items), so caches key on it."""
        d = self.__dict__
        return hash(tuple(tuple(sorted(d[n].items())) if n == "backends" else d[n] for n in type(self).model_fields))

    def key(self, backend: str, kind: str | None = None, family: str | None = None, chip: str | None = None) -> str:
        """The most specific entry the data has: the chip's own where its prompt runs are in
        the data ("rocm/chip/amd-ryzen-ai-max-plus-395-128gb"), an architecture's memory kind
        where it is sold both ways ("cuda/blackwell-2.0/unified": the DGX Spark's GB10 beside
        the RTX 50 cards), the architecture ("sycl/xe-hpg"), then device class
        ("vulkan/unified"), then the backend."""
        candidates = (
            f"{backend}/chip/{chip}" if chip else None,
            f"{backend}/{family}/{kind}" if family and kind else None,
            f"{backend}/{family}" if family else None,
            f"{backend}/{kind}" if kind else None,
        )
        for k in candidates:
            if k is not None and k in self.backends:
                return k
        return backend

    def get(
        self, backend: str, kind: str | None = None, family: str | None = None, chip: str | None = None
    ) -> BackendCalibration:
        """Factors for a backend, refined by chip, GPU architecture or device class where the
        data had rows of its own for it."""
        return self.backends.get(self.key(backend, kind, family, chip), self.pooled)

    def for_device(self, device: DeviceRate) -> BackendCalibration:
        return self.get(device.backend, device.kind, device.family, device.chip)

    def label(self, backend: str, kind: str | None = None, family: str | None = None, chip: str | None = None) -> str:
        key = self.key(backend, kind, family, chip)
        c = self.get(backend, kind, family, chip)
        if key.startswith(f"{backend}/chip/"):  # its own prompt rows; decode as its architecture
            return (
                f"{self.name}: {key} (prompt: {c.n_prefill} row{'' if c.n_prefill == 1 else 's'} of this chip; "
                f"decode: {self.key(backend, kind, family)}, {c.n_decode} rows)"
            )
        how = (
            "pooled over all backends"
            if c.pooled or backend not in self.backends
            else (f"{c.n_decode} decode / {c.n_prefill} prefill rows")
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
    attention_seconds: float = Field(
        0.0,
        description=(
            "the part of ``seconds`` spent attending over the cached cells: reading the KV at the "
            "effective bandwidth, or on a CPU its attention FLOPs at the CPU's attention rate, "
            "whichever takes longer (the two overlap)"
        ),
    )
    attention_flops: float = Field(0.0, description="attention FLOPs over the cached cells (all sequences)")
    kv_read_bytes: float = Field(0.0, description="the KV-cache share of ``read_bytes``")
    read_gbs: float = Field(0.0, description="GB/s this device streams the model's weights at (:func:`work_bandwidth`)")
    read_basis: str = Field(
        "", description="what sets that rate: the memory and its fitted efficiency, or a CPU's threads"
    )


class SpeedEstimate(BaseModel):
    """Tokens/s and time to first token, each a range, with the calibration named."""

    model_config = ConfigDict(frozen=True)

    decode_tokens_per_s: Range
    prefill_tokens_per_s: Range
    ttft_s: Range
    prompt_tokens: int
    decode_at_depth: dict[int, Range]
    n_parallel: int = 1
    aggregate_tokens_per_s: Range | None = Field(None, description="all parallel sequences together (n_parallel > 1)")
    per_device: tuple[DeviceTime, ...] = ()
    calibration: str
    basis: Basis


# --------------------------------------------------------------------------------------
# the model


def effective_bandwidth(device: DeviceRate, calib: CalibrationSet, kernel_factor: float = 1.0) -> float:
    """Bytes/s a decode step streams on this device (fitted).

    On a GPU: datasheet bandwidth × the backend's efficiency. On a CPU, also never more
    than its threads can dequantise and multiply: a few cores of a server CPU cannot
    drain its memory channels (llama.cpp's matrix-vector kernels run about as fast per
    thread as a core can load), so a 2-thread run is thread-bound, not RAM-bound. That
    per-thread rate is the repacked Q4 weights' of the public rows; ``kernel_factor``
    (:func:`sizing.core.speed.cpu.decode_kernel_factor`) scales it to the model's types.

    A GPU with stacked HBM memory reaches a smaller share of its datasheet figure
    (``hbm_decode_share``). HBM is a very wide, slowly clocked interface (an A100's 5120
    bits at about 3 Gbit/s a pin against a 4090's 384 at 21) with a latency no shorter than
    GDDR's; by Little's law a stream reaches bandwidth = bytes in flight ÷ latency, and a
    decode step's matrix-vector kernels keep only a few KB in flight per SM (one weight row
    block per warp), about as many on a 108-SM A100 as on a 128-SM RTX 4090. So the 2 TB/s
    cards stream about what the 1 TB/s GDDR6X ones do: with one llama.cpp build and day
    (XiongjieDai's May 2024 notebooks, data/llama_bench.yaml) Llama-3-70B Q4_K_M decodes at
    about half of an A100's or H100 PCIe's datasheet bandwidth and at about 0.8 of an RTX
    6000 Ada's or RTX A6000's; the 8B F16 likewise (0.42-0.55 against 0.8-0.87). Their
    fixed cost per layer does not shrink with that bandwidth either (``hbm_layer_scale``,
    applied in :func:`decode_step_seconds`): a layer's small kernels are latency-bound, and the
    datacenter parts run low SM clocks (A100 1.41 GHz, H100 PCIe 1.755, against an RTX
    4090's 2.52), so the same notebooks' 8B-to-70B steps put an A100's or H100's layer at
    about 85-120 us and an RTX 6000 Ada's or L40S's at about 50.
    """
    bw = memory_read_rate(device, calib)
    threads = thread_read_rate(device, calib, kernel_factor)
    return bw if threads is None else min(bw, threads)


def memory_read_rate(device: DeviceRate, calib: CalibrationSet) -> float:
    """Bytes/s the device's memory yields a decode step: datasheet × fitted efficiency (× the
    HBM share on a GPU with stacked memory)."""
    c = calib.for_device(device)
    bw = device.bandwidth_gbs * 1e9 * c.decode_efficiency
    if device.hbm and device.kind != "cpu":
        bw *= c.hbm_decode_share
    return bw


def thread_read_rate(device: DeviceRate, calib: CalibrationSet, kernel_factor: float = 1.0) -> float | None:
    """Bytes/s a CPU's threads dequantise and multiply (threads × the per-thread rate × the
    weight types' ``kernel_factor``); None on a GPU or without a per-thread rate."""
    if device.kind != "cpu" or not device.threads:
        return None
    per_thread = thread_decode_gbs(device, calib)
    return device.threads * per_thread * 1e9 * kernel_factor if per_thread else None


def thread_decode_gbs(device: DeviceRate, calib: CalibrationSet) -> float | None:
    """GB/s one CPU thread dequantises and multiplies while decoding.

    A core's matrix-vector kernel retires a roughly fixed number of weight bytes per
    cycle for a given vector ISA, so with the clock known the rate is bytes per cycle ×
    clock; without it, the per-thread rate fitted at the public rows' own clocks. An ISA
    whose rows never ran thread-bound borrows the CPU backend's figures."""
    c = calib.for_device(device)
    cpu = calib.get("cpu")
    per_ghz = c.decode_gb_per_ghz or cpu.decode_gb_per_ghz
    if device.clock_ghz and per_ghz:
        return per_ghz * device.clock_ghz
    return c.decode_gbs_per_thread or cpu.decode_gbs_per_thread


def kernel_table_digest(speeds: Iterable[tuple[str, float]]) -> str:
    """Six hex digits naming a kernel table's contents (the same speeds, the same digits).

    The plain kernels' entries ("Q4_K/plain") are left out: a live check runs on the CPU
    alone with repacking on, so they never weighed a stored run, and measuring one must not
    cost stored runs their decode."""
    text = ",".join(f"{k}={v:g}" for k, v in sorted(speeds) if not k.endswith(PLAIN))
    return hashlib.sha256(text.encode()).hexdigest()[:6]


def kernel_table_base(name: str) -> str:
    """A table name without its digest: 'GenuineIntel#1a2b3c' -> 'GenuineIntel' (a run stored
    before names carried one has the bare name)."""
    return name.split("#", 1)[0]


# The tables as they stood while stored runs recorded bare names (to 2026-12-04): Zen 4's
# default one, and the Intel one before its repacked Q4_K entry. A bare name means that table.
LEGACY_TABLE_DIGESTS = {"default": "d6e540", "GenuineIntel": "411a25"}


def kernel_table_full_name(name: str) -> str:
    """A stored table name with its digest: a bare one (stored before names carried one) gets
    the digest its table had then; an unknown bare name stays as it is."""
    if "#" in name or name not in LEGACY_TABLE_DIGESTS:
        return name
    return f"{name}#{LEGACY_TABLE_DIGESTS[name]}"


def decode_kernel_table(device: DeviceRate, calib: CalibrationSet) -> tuple[str, tuple[tuple[str, float], ...]]:
    """(name, speeds) of the decode kernel table a CPU device reads its weight types by: its
    entry's (else the CPU backend's) table for its CPUID vendor, 'default' where the vendor has
    none of its own. Live runs record the name, so a calibration knows what weighed their bytes."""
    c = calib.for_device(device)
    if not c.decode_kernel_speed:
        c = calib.get("cpu")
    return c.decode_table_name(device.cpu_vendor), c.decode_speeds_for(device.cpu_vendor)


def cpu_decode_table_name(vendor: str | None, isa: str | None, calib: CalibrationSet) -> str:
    """The name :func:`decode_kernel_table` gives a CPU known only by its CPUID vendor and
    kernel ISA (a machine record, a detected CPU)."""
    cpu = DeviceRate(name="CPU", kind="cpu", backend="cpu", bandwidth_gbs=1.0, family=isa, cpu_vendor=vendor)
    return decode_kernel_table(cpu, calib)[0]


def decode_table_label(vendor: str | None, calib: CalibrationSet) -> str:
    """Which decode kernel table a CPU of this CPUID vendor takes, in words (detect, the UI)."""
    name = kernel_table_base(cpu_decode_table_name(vendor, None, calib))
    return f"the table measured on {name} cores" if name != "default" else "the default table (a Zen 4 core's)"


def read_rate_basis(work: DeviceWork, calib: CalibrationSet, offload_share: float | None = None) -> str:
    """What sets :func:`work_bandwidth` for this work, in words: the memory at its fitted
    efficiency, or on a CPU whose threads cannot drain its RAM, threads × the per-thread
    rate × the model's weight types at the kernel table of the CPU's maker; with
    ``offload_share``, the share routed experts read beside a GPU stream at."""
    d = work.device
    c = calib.for_device(d)
    basis = f"memory binds: {d.bandwidth_gbs:g} GB/s × {c.decode_efficiency:.2f} fitted efficiency"
    if d.hbm and d.kind != "cpu":
        basis += f" × {c.hbm_decode_share:.2f} (HBM)"
    if d.kind == "cpu":
        name, factor = work_kernel_factor(work, calib)
        # only where the model has types the build would repack does staying plain matter
        plain = not work.repacked and repacked_share(dict(work.read_types), d.family) > 0
        plain_note = "; not repacked: plain dot products" if plain else ""
        threads = thread_read_rate(d, calib, factor)
        if threads is not None and threads < memory_read_rate(d, calib):
            basis = (
                f"threads bind: {d.threads} × {thread_decode_gbs(d, calib):.2f} GB/s a thread (repacked Q4_0) × "
                f"{factor:.2f} for this model's weight types ({kernel_table_base(name)} kernel table"
                f"{plain_note})"
            )
    if offload_share is not None:
        basis += (
            f"; routed experts for the GPU beside it at {offload_share:.2f} of that (fitted on public --n-cpu-moe runs)"
        )
    return basis


def work_kernel_factor(work: DeviceWork, calib: CalibrationSet) -> tuple[str, float]:
    """(kernel table name, factor) a CPU work's weight types read at against repacked Q4_0
    (:func:`sizing.core.speed.cpu.decode_kernel_factor`); 1 without types."""
    name, speeds = decode_kernel_table(work.device, calib)
    if not work.read_types:
        return name, 1.0
    return name, decode_kernel_factor(work.read_types, work.device.family, speeds, work.repacked)


def work_bandwidth(work: DeviceWork, calib: CalibrationSet) -> float:
    """Bytes/s this work's decode streams: the device's effective bandwidth, on a CPU at the
    speed its threads read the model's weight types (:func:`effective_bandwidth`)."""
    if work.device.kind != "cpu" or not work.read_types:
        return effective_bandwidth(work.device, calib)
    return effective_bandwidth(work.device, calib, work_kernel_factor(work, calib)[1])


def cpu_attention_seconds(work: DeviceWork, calib: CalibrationSet, depth: float, n_seq: int = 1) -> float | None:
    """Seconds a CPU's threads spend on decode attention over ``depth`` cached cells (None:
    not a CPU, or no figures).

    Clock cycles: the attention FLOPs at the vector rate (FLOPs per cycle per thread) plus a
    fixed number per (query head, cell) pair; divided by threads × clock. A CPU whose clock
    is unknown is taken at the clock its ISA's public rows imply (decode GB/s per thread ÷
    GB per GHz). An ISA without figures of its own borrows the CPU backend's."""
    d = work.device
    if d.kind != "cpu" or not d.threads:
        return None
    c = calib.for_device(d)
    cpu = calib.get("cpu")
    per_cycle = c.decode_attn_flop_per_cycle or cpu.decode_attn_flop_per_cycle
    per_cell = c.decode_attn_cycles_per_head_cell
    if per_cell is None:
        per_cell = cpu.decode_attn_cycles_per_head_cell
    if not per_cycle or per_cell is None:
        return None
    clock = d.clock_ghz
    if not clock:
        per_thread = c.decode_gbs_per_thread or cpu.decode_gbs_per_thread
        per_ghz = c.decode_gb_per_ghz or cpu.decode_gb_per_ghz
        clock = per_thread / per_ghz if per_thread and per_ghz else None
    if not clock:
        return None
    cycles = work.attention_flops(depth) / per_cycle + work.attention_head_cells(depth) * per_cell
    return n_seq * cycles / (d.threads * clock * 1e9)


def effective_compute(device: DeviceRate, calib: CalibrationSet) -> float:
    """FLOP/s llama.cpp reaches on this device's matrix multiplications (fitted)."""
    c = calib.for_device(device)
    p = calib.pooled
    if device.kind == "cpu":
        per_thread = c.prefill_gflops_per_thread or calib.get("cpu").prefill_gflops_per_thread
        per_ghz = c.prefill_gflop_per_ghz or calib.get("cpu").prefill_gflop_per_ghz
        if device.clock_ghz and per_ghz:
            per_thread = per_ghz * device.clock_ghz
        if not (per_thread and device.threads):
            raise SizingError(f"CPU prefill needs a thread count and a per-thread factor ({device.name})")
        return device.threads * per_thread * 1e9
    if device.matmul_tflops:
        eff = c.prefill_efficiency or p.prefill_efficiency
        if eff:
            rate = device.matmul_tflops * 1e12 * eff
            if device.board_power_w and c.prefill_gflops_per_watt:
                rate = min(rate, device.board_power_w * c.prefill_gflops_per_watt * 1e9)
            return rate
    if device.vector_tflops:
        veff = c.prefill_vector_efficiency or p.prefill_vector_efficiency
        if veff:
            return device.vector_tflops * 1e12 * veff
    if device.gpu_cores and c.prefill_gflops_per_core:
        return device.gpu_cores * c.prefill_gflops_per_core * 1e9
    ratio = c.prefill_gflops_per_gbs or p.prefill_gflops_per_gbs
    if not ratio:
        raise SizingError(f"calibration {calib.name} has no prefill factor for {device.backend}")
    return device.bandwidth_gbs * ratio * 1e9


UNQUANTIZED_TYPES = frozenset({"F16", "BF16"})


def f16_speed(device: DeviceRate, calib: CalibrationSet) -> float:
    """The device's prompt speed of F16/BF16 weights relative to quantized ones: its
    calibration entry's, else its backend's, else the pooled fit's (every backend skips the
    dequantization for such weights; how much that gains is best known per backend), else 1."""
    for c in (calib.for_device(device), calib.get(device.backend), calib.pooled):
        if c.prefill_f16_speed:
            return c.prefill_f16_speed
    return 1.0


def bf16_rate_share(device: DeviceRate) -> float:
    """The share of the device's matrix peak BF16 weights can reach: BF16 tensor products
    accumulate in FP32 only (NVIDIA's mma has no FP16-accumulate BF16 form, and llama.cpp's
    cuBLAS path for BF16 asks for FP32 compute where its F16 path asks for FP16), and GeForce
    boards run FP32 accumulate at half the FP16-accumulate rate ``matmul_tflops`` holds; 1
    where the two rates are equal or either is unknown."""
    if device.bf16_tflops and device.matmul_tflops:
        return min(1.0, device.bf16_tflops / device.matmul_tflops)
    return 1.0


def gpu_weight_factor(matrix_types: Iterable[tuple[str, float]], speed: float, bf16_share: float = 1.0) -> float:
    """Prompt speed of a model's matrix mix on a GPU relative to all-quantized weights:
    F16/BF16 shares run ``speed`` times as fast (BF16 ones also at ``bf16_share`` of the
    peak, :func:`bf16_rate_share`), each share takes share ÷ its speed of the time."""
    mix = list(matrix_types)
    if not mix:
        return 1.0

    def rate(typ: str) -> float:
        t = typ.upper()
        if t not in UNQUANTIZED_TYPES:
            return 1.0
        return speed * (bf16_share if t == "BF16" else 1.0)

    t = sum(share / rate(typ) for typ, share in mix)
    return 1.0 / t if t > 0 else 1.0


def work_compute(work: DeviceWork, calib: CalibrationSet) -> float:
    """FLOP/s a device reaches on this work's matrices: on a CPU, the per-thread rate (as
    for repacked weights) × threads, scaled by how fast the model's weight types multiply
    on the ISA that runs (sizing.core.speed.cpu); on a GPU, the fitted share of its peak
    (as for quantized weights), faster for the F16/BF16 share of the weights."""
    rate = effective_compute(work.device, calib)
    if work.device.kind == "cpu":
        c = calib.for_device(work.device)
        speeds = dict(c.prefill_kernel_speed or calib.get("cpu").prefill_kernel_speed)
        rate *= prefill_kernel_factor(work.matrix_types, work.device.family, speeds, work.repacked)
    else:
        rate *= gpu_weight_factor(work.matrix_types, f16_speed(work.device, calib), bf16_rate_share(work.device))
    return rate


def _main_device(works: Sequence[DeviceWork]) -> tuple[str, str | None, str | None, str | None]:
    """(backend, device class, architecture, chip) of the device that drives the run: the
    first accelerator."""
    for w in works:
        if w.device.kind != "cpu" and w.layers:
            return w.device.backend, w.device.kind, w.device.family, w.device.chip
    if not works:
        return "cpu", "cpu", None, None
    d = works[0].device
    return d.backend, d.kind, d.family, d.chip


def decode_step_seconds(
    works: Sequence[DeviceWork], calib: CalibrationSet, depth: int = 0, n_seq: int = 1, *, explain: bool = False
) -> tuple[float, list[DeviceTime]]:
    """Expected seconds for one decode step of ``n_seq`` sequences at ``depth``.

    Devices run one after another (llama.cpp's layer split), so their times add up. With
    several sequences the weights are read once per step, the KV once per sequence, and
    a device turns compute-bound once the batch outgrows its bandwidth. ``explain``: each
    device's part also says what sets its read rate (:func:`read_rate_basis`).
    """
    if not works:
        raise SizingError("nothing placed on any device")
    total = 0.0
    per: list[DeviceTime] = []
    # a CPU reading routed experts for a GPU beside it reads them at its own offload share
    beside_gpu = any(w.device.kind != "cpu" for w in works)
    for w in works:
        if not (w.dense_bytes or w.expert_bytes or w.layers):
            continue
        bw = work_bandwidth(w, calib)
        c = calib.for_device(w.device)
        kv = n_seq * w.kv_read_bytes(depth)
        read = w.weight_read_bytes(n_seq) + kv
        offload = 0.0
        if beside_gpu and w.device.kind == "cpu" and w.expert_bytes:
            offload = w.expert_read_bytes(n_seq) / bw * (1.0 / c.offload_expert_efficiency - 1.0)
        attn_flops = n_seq * w.attention_flops(depth)
        # attention over the cache: its KV read (on a GPU at the fitted cost of attention's
        # reads), or on a CPU its arithmetic, whichever is slower
        attention = kv / bw
        if w.device.kind != "cpu":
            attention *= c.decode_kv_time_scale * (c.decode_kv_quant_scale if w.kv_quantized else 1.0)
        if attn_flops:
            attention = max(attention, cpu_attention_seconds(w, calib, depth, n_seq) or 0.0)
        t_mem = w.weight_read_bytes(n_seq) / bw + offload + attention
        t_cmp = 0.0
        if n_seq > 1:
            flops = n_seq * w.flops_per_token + attn_flops
            t_cmp = flops / work_compute(w, calib)
        moe = w.moe_layers * (c.moe_layer_mb * 1e6 / bw + c.moe_launch_ms(w.expert_type) / 1000.0)
        layer = c.decode_layer_ms / 1000.0 + c.decode_layer_mb * 1e6 / bw
        if w.device.hbm and w.device.kind != "cpu":
            layer *= c.hbm_layer_scale
        t = max(t_mem, t_cmp) + moe + w.layers * layer
        total += t
        per.append(
            DeviceTime(
                name=w.device.name,
                backend=w.device.backend,
                layers=w.layers,
                read_bytes=read,
                seconds=t,
                attention_seconds=attention if t_mem >= t_cmp else 0.0,
                attention_flops=attn_flops,
                kv_read_bytes=kv,
                read_gbs=bw / 1e9,
                read_basis=read_rate_basis(w, calib, offload_share=c.offload_expert_efficiency if offload else None)
                if explain
                else "",
            )
        )
    total += calib.get(*_main_device(works)).decode_overhead_ms / 1000.0
    return total, per


def _expert_slowdown(w: DeviceWork, c: BackendCalibration, u: int, kind: str) -> float:
    """Extra FLOP-equivalents a micro-batch of ``u`` tokens spends on ``w``'s routed experts
    on a device of memory ``kind`` with calibration ``c``: each expert's product carries
    u·fraction tokens and costs as if it had t0 more (0 without routed experts)."""
    if not (w.expert_flops_per_token and w.expert_fraction):
        return 0.0
    t = u * w.expert_fraction  # tokens each expert's product carries
    t0 = c.moe_prefill_tokens
    if w.experts_float and c.moe_prefill_tokens_float is not None:
        t0 = c.moe_prefill_tokens_float
    elif kind == "gpu" and c.moe_prefill_tokens_slope:
        t0 = max(0.0, t0 + c.moe_prefill_tokens_slope * (t - c.moe_prefill_tokens_at))
    return u * w.expert_flops_per_token * t0 / t


def prefill_seconds(
    works: Sequence[DeviceWork], calib: CalibrationSet, n_tokens: int, n_ubatch: int = 512, depth: int = 0
) -> float:
    """Expected seconds to process a prompt of ``n_tokens`` after ``depth`` cached tokens.

    Per micro-batch each device either computes (FLOPs ÷ effective compute) or, for small
    batches, streams its weights once (the memory floor), whichever is slower. Host layers
    beside a GPU run on the GPU from a batch of ``OFFLOAD_MIN_BATCH`` tokens: llama.cpp's
    scheduler hands a product whose weights sit in RAM to the GPU whenever the GPU backend
    accepts it (``ggml_backend_sched`` with ``op_offload``, on unless ``--no-op-offload``),
    whether or not the CPU would be faster, so that path costs the copy over the link and
    then the GPU's own time on them (an expert's product as slow as on the GPU). Smaller
    batches stay on the CPU.
    """
    if n_tokens <= 0:
        return 0.0
    total = 0.0
    done = 0
    works = [w for w in works if w.dense_bytes or w.expert_bytes or w.layers]
    # per device, the same for every micro-batch: bandwidth, compute, its calibration entry
    rates = [(work_bandwidth(w, calib), work_compute(w, calib), calib.for_device(w.device)) for w in works]
    # the GPU a host layer's products are offloaded to: the first (llama.cpp's main device)
    helper = next(((w, r) for w, r in zip(works, rates) if w.device.kind != "cpu"), None)
    while done < n_tokens:
        u = min(n_ubatch, n_tokens - done)
        mid_depth = depth + done + u / 2.0
        for w, (bw, compute, c) in zip(works, rates):
            per_token = w.flops_per_token
            attn_scale = 1.0
            if w.device.kind == "cpu":
                # only the prompt's last token needs logits: the output projection runs once
                per_token -= w.output_flops_per_token * (1.0 - 1.0 / max(1, n_tokens))
            else:
                attn_scale = c.attn_flop_scale(w.device.kind)
            flops = u * (per_token + attn_scale * w.attention_flops(mid_depth))
            # routed experts: u·fraction tokens each, at t/(t + t0) of the dense rate
            t_cmp = (flops + _expert_slowdown(w, c, u, w.device.kind)) / compute
            # a micro-batch reads the weights once and the cached K/V once (attention runs
            # over the whole batch of queries per tile), not once per token
            t_mem = (w.weight_read_bytes(u) + w.kv_read_bytes(int(mid_depth))) / bw
            t = max(t_cmp, t_mem)
            if w.offload_link_gbs and u >= OFFLOAD_MIN_BATCH:
                # attention is no weight's product: over a host layer's cache (in RAM) the CPU runs it
                t = u * w.attention_flops(mid_depth) / compute
                link = w.offload_link_gbs
                if helper is not None:  # the GPU's products, after a copy at its backend's rate
                    gw, (_, g_compute, gc) = helper
                    link = min(link, gc.offload_copy_gbs or link)
                    t += (u * per_token + _expert_slowdown(w, gc, u, gw.device.kind)) / g_compute
                t += w.weight_read_bytes(u) / (link * 1e9)
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
    backend, kind, family, chip = _main_device(works)
    c = calib.get(backend, kind, family, chip)
    p = prompt_tokens if prompt_tokens is not None else min(ctx, 512)
    p = max(1, min(p, ctx))

    step, per = decode_step_seconds(works, calib, depth=0, explain=True)
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

    name = calib.label(backend, kind, family, chip)
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
                "decode: bytes read per token ÷ (bandwidth × fitted efficiency) summed over devices "
                "(on a GPU the cache's K/V at attention's fitted cost per byte) "
                "(on a CPU, attention over the cached cells in clock cycles, FLOPs at a vector rate + a "
                "fixed cost per head and cell, where that outlasts the KV read; where its threads bind, each "
                "weight type at its kernel's speed measured on that maker's cores: an Intel core's table "
                "for an Intel CPU, a Zen 4 core's otherwise) "
                "(routed experts a CPU reads for a GPU beside it at the fitted share of its bandwidth "
                "public --n-cpu-moe runs reach) "
                "+ fitted fixed cost per GPU layer (on CUDA bytes-equivalent at the effective bandwidth) + fitted per-token overhead + fitted cost per MoE layer (bytes-equivalent); prefill: FLOPs ÷ fitted "
                "effective compute (routed experts slowed by their few tokens each; F16/BF16 weights at the fitted "
                "speed-up over quantized ones on a GPU), floored by one weight read per "
                "micro-batch"
            ),
            calibration=name,
            measured=calib.machine is not None,
        ),
    )


def per_user_tokens_per_s(works: Sequence[DeviceWork], calib: CalibrationSet, n_seq: int, depth: int = 0) -> float:
    """Expected tokens/s each of ``n_seq`` concurrent sequences sees."""
    s, _ = decode_step_seconds(works, calib, depth=depth, n_seq=n_seq)
    return 1.0 / s


def rule_of_thumb_tokens_per_s(model_bytes: float, bandwidth_gbs: float, factor: float = 0.55) -> float:
    """The popular calculators' rule: factor × bandwidth ÷ model size (for comparison)."""
    if model_bytes <= 0 or bandwidth_gbs <= 0:
        raise SizingError("model size and bandwidth must be > 0")
    return factor * bandwidth_gbs * 1e9 / model_bytes


# A sweep times the same machines thousands of times: look their factors up once.
@lru_cache(maxsize=256)
def _decode_factors(calib: CalibrationSet, backends: tuple[str, ...], kinds: tuple[str, ...], expert_type: str = ""):
    """Per-machine decode efficiency, fixed cost (s), MoE layer cost (bytes), MoE launch
    cost (s), fixed cost per layer (s) and bytes-equivalent per layer arrays (memoised, bounded)."""
    import numpy as np

    cs = [calib.get(b, k) for b, k in zip(backends, kinds)]
    eff = np.array([c.decode_efficiency for c in cs])
    hbm_share = np.array([c.hbm_decode_share for c in cs])
    hbm_layer = np.array([c.hbm_layer_scale for c in cs])
    over = np.array([c.decode_overhead_ms for c in cs]) / 1000.0
    moe = np.array([c.moe_layer_mb for c in cs]) * 1e6
    launch = np.array([c.moe_launch_ms(expert_type) for c in cs]) / 1000.0
    layer = np.array([c.decode_layer_ms for c in cs]) / 1000.0
    layer_b = np.array([c.decode_layer_mb for c in cs]) * 1e6
    for a in (eff, over, moe, launch, layer, layer_b, hbm_share, hbm_layer):
        a.flags.writeable = False  # shared between calls
    return eff, over, moe, launch, layer, layer_b, hbm_share, hbm_layer


def decode_tokens_per_s_many(
    gpu_read_bytes,
    host_read_bytes,
    gpu_bandwidth_gbs,
    host_bandwidth_gbs,
    gpu_backends: Sequence[str],
    calib: CalibrationSet,
    gpu_kinds: Sequence[str] | None = None,
    host_threads=None,
    gpu_moe_layers=None,
    gpu_layers=None,
    gpu_hbm=None,
    expert_type: str = "",
    host_expert_read_bytes=None,
):
    """Vectorised `decode_step_seconds` at depth 0 for one GPU + host per machine
    (``host_threads``: the host's CPU threads, which cap its decode rate as in
    :func:`effective_bandwidth`; ``gpu_moe_layers``: MoE layers whose experts run on the
    GPU, each paying the backend's MoE layer cost; ``gpu_layers``: transformer layers on the
    GPU, each paying the backend's fixed cost per layer; llama.cpp's -ngl counts the output
    as a unit that goes first, so pass clip(ngl - 1, 0, n_layers); ``gpu_hbm``: the GPU has
    stacked HBM memory, which reaches the backend's HBM share of its efficiency and pays its
    HBM layer scale, as in :func:`effective_bandwidth`; ``expert_type``: the model's routed-expert
    type, for backends whose MoE layer cost depends on it; ``host_expert_read_bytes``: the
    routed-expert share of ``host_read_bytes``, read at the CPU's offload share beside a GPU)."""
    import numpy as np

    kinds = tuple(gpu_kinds) if gpu_kinds is not None else ("gpu",) * len(gpu_backends)
    eff, over, moe, launch, layer, layer_b, hbm_share, hbm_layer = _decode_factors(
        calib, tuple(gpu_backends), kinds, expert_type
    )
    hbm = np.asarray(gpu_hbm if gpu_hbm is not None else False, dtype=bool)
    eff = eff * np.where(hbm, hbm_share, 1.0)
    layer_scale = np.where(hbm, hbm_layer, 1.0)
    cpu = calib.get("cpu")
    host_bw = np.asarray(host_bandwidth_gbs, dtype=float)
    gpu_read = np.asarray(gpu_read_bytes, dtype=float)
    host_read = np.asarray(host_read_bytes, dtype=float)
    n_moe = np.asarray(gpu_moe_layers if gpu_moe_layers is not None else 0, dtype=float)
    n_layers = np.asarray(gpu_layers if gpu_layers is not None else 0, dtype=float)
    gpu_rate = np.asarray(gpu_bandwidth_gbs, dtype=float) * 1e9 * eff
    t = (gpu_read + n_moe * moe + n_layers * layer_b * layer_scale) / gpu_rate + n_moe * launch
    t = t + n_layers * layer * layer_scale
    host_rate = host_bw * 1e9 * cpu.decode_efficiency
    if host_threads is not None and cpu.decode_gbs_per_thread:
        host_rate = np.minimum(host_rate, np.asarray(host_threads, dtype=float) * cpu.decode_gbs_per_thread * 1e9)
    t = t + host_read / host_rate
    if host_expert_read_bytes is not None:  # experts in RAM for a GPU beside them
        host_exp = np.asarray(host_expert_read_bytes, dtype=float)
        beside = np.asarray(gpu_read_bytes, dtype=float) > 0
        t = t + np.where(beside, host_exp / host_rate * (1.0 / cpu.offload_expert_efficiency - 1.0), 0.0)
    # the fixed cost is the main backend's; a CPU-only run pays the CPU's
    t = t + np.where(np.asarray(gpu_read_bytes, dtype=float) > 0, over, cpu.decode_overhead_ms / 1000.0)
    return 1.0 / t

"""The offline fit of the speed model to public llama-bench results (not shipped).

``data/llama_bench.yaml`` holds cited llama-bench rows (tg128 and pp512) and the
datasheet figures of the devices they ran on. This module validates that file, splits it
reproducibly into fit rows and held-out rows (within each backend, sorted by id, every
third row is held out), fits per-backend factors on the fit rows only, and writes them to
``data/speed_calibration.yaml`` with their provenance (the data file's SHA-256, the
method, the held-out ids). The speed model (``sizing.core.speed.estimate``) reads that file; nothing
fits at run time.

Decode fit, per backend: 1/tg = (bytes ÷ bandwidth) / efficiency + overhead, a linear
least-squares problem in (1/efficiency, overhead) weighted so that it minimises
*relative* error. Prefill fit: the median ratio of achieved FLOP/s to the device's matrix
peak, over dense rows where there are any (a MoE's experts have their own term), or, where
no official peak exists, to its bandwidth; per thread on CPUs. Ranges
are the 10th and 90th percentiles of measured ÷ predicted on the fit rows.

Regenerate with ``python -m harness.speed_fit`` (from the repository root).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import statistics
import sys
from functools import cache
from pathlib import Path
from collections.abc import Callable, Collection
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sizing.core.offload_compute import OP_OFFLOAD_BACKENDS
from sizing.core.speed.calibration import CALIBRATION_FILE
from sizing.core.speed.coverage import OWN_MOE_FAMILIES
from sizing.core.speed.cpu import vendor_from_name
from sizing.core.speed.estimate import decode_step_seconds, effective_bandwidth, prefill_seconds, work_compute
from sizing.core.speed.estimate import UNQUANTIZED_TYPES, BackendCalibration, CalibrationSet, bf16_rate_share
from sizing.core.gpu import is_hbm, matrix_peak_tflops
from sizing.core.traffic import FLOAT_MATRIX_TYPES, DeviceRate, DeviceWork
from sizing.core.tables import data_file, read_yaml, validate
from sizing.errors import SizingError
from sizing.units import GIB

BENCH_FILE = data_file("llama_bench.yaml")
ATTENTION_FILE = data_file("cpu_attention.yaml")
MIN_ROWS = 3  # fewer fit rows than this for a backend: use the pooled fit
MIN_SPREAD = (0.85, 1.15)  # never claim a tighter range than ±15 %
RECENT_YEAR = 2026.0  # rows from here on count fully in the decode fit (see row_weight)


class BenchDevice(BaseModel):
    """Datasheet figures of a device a llama-bench row ran on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    db_id: str | None = Field(None, description="the same device in data/gpus.yaml")
    kind: Literal["gpu", "cpu", "unified"]
    bandwidth_gbs: float = Field(gt=0)
    matmul_tflops: float | None = Field(None, gt=0)
    bf16_tflops: float | None = Field(
        None, gt=0, description="filled by with_db_compute: the FP32-accumulate peak BF16 weights run at"
    )
    family: str | None = Field(
        None,
        description=(
            "GPU architecture (filled from data/gpus.yaml by db_id), or a CPU's vector ISA as the "
            "row's llama.cpp build used it (sizing.core.speed.cpu: avx2, avx512, amx, neon-i8mm, ...)"
        ),
    )
    gpu_cores: int | None = Field(None, gt=0, description="Apple GPU cores; filled from data/gpus.yaml by db_id")
    vendor: str | None = Field(None, description="filled from data/gpus.yaml by db_id")
    hbm: bool = Field(False, description="stacked HBM memory: filled from data/gpus.yaml's memory_type by db_id")
    tdp_w: float | None = Field(None, gt=0, description="board power: filled from data/gpus.yaml's tdp_w by db_id")
    vector_tflops: float | None = Field(
        None, gt=0, description="FP32 vector peak of a GPU without matrix units llama.cpp uses (cited)"
    )
    vector_source: str | None = Field(None, min_length=8, description="where vector_tflops comes from")
    clock_ghz: float | None = Field(
        None,
        gt=0,
        description=(
            "CPU: the clock the detection would read for it (the datasheet's max turbo, or the clock "
            "the source says the cores were fixed at)"
        ),
    )
    clock_source: str | None = Field(None, min_length=8, description="where clock_ghz comes from")
    source: str = Field(min_length=8)

    @model_validator(mode="after")
    def _clock_is_cited(self) -> BenchDevice:
        if self.clock_ghz is not None and not self.clock_source:
            raise ValueError("clock_ghz needs a clock_source (the datasheet, or the source that fixed the clock)")
        return self


class BenchRow(BaseModel):
    """One model on one device with one backend: llama-bench's pp512 and/or tg128."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    device: str
    backend: Literal["cuda", "metal", "rocm", "vulkan", "sycl", "cpu"]
    model: str
    quant: str
    size_gib: float | None = Field(
        None, gt=0, description="llama-bench's size column; computed from the layout where the source prints none"
    )
    params_b: float = Field(gt=0)
    active_params_b: float | None = Field(None, gt=0)
    pp512: float | None = Field(None, gt=0)
    tg128: float | None = Field(None, gt=0)
    decode_test: str = "tg128"
    prefill_test: str = "pp512"  # the llama-bench test `pp512` holds, when the source ran another length
    threads: int | None = Field(None, gt=0)
    host_limited: bool = False
    # MoE: the file's layout, so the bytes a token reads can be computed from the
    # architecture (catalog id) typed as the file is; checked against size_gib
    arch_id: str | None = None
    expert_type: str | None = None
    rest_type: str | None = None
    output_type: str | None = Field(
        None, description="output.weight's type where it differs from rest_type (llama-quantize keeps it at Q6_K)"
    )
    read_fraction: float | None = Field(None, gt=0, le=1, description="computed, not read from the file")
    routed_fraction: float | None = Field(
        None, ge=0, le=1, description="computed: share of the file in the routed experts one token reads"
    )
    moe_layers: int | None = Field(None, ge=0, description="computed: layers with routed experts")
    n_layers: int | None = Field(
        None,
        gt=0,
        description="computed: the model's layers (catalog architecture, else data/llama_bench.yaml model_layers)",
    )
    expert_total_fraction: float | None = Field(
        None, ge=0, le=1, description="computed: share of the file in all routed experts"
    )
    experts_used_share: float | None = Field(None, ge=0, le=1, description="computed: n_experts_used / n_experts")
    output_fraction: float | None = Field(
        None, ge=0, le=1, description="computed: share of the file in the output projection"
    )
    # when and with what llama.cpp the figure was measured, as the source states it: speed
    # changes a lot between builds, so an old row can be told from a recent one
    build: str | None = Field(
        None,
        pattern=r"^([0-9a-f]{7,40}( \(\d+\))?|b\d+|PR #\d+( [\w./-]+( [\w./-]+)*)?|([0-9a-f]{7,40}, )?discussion #\d+)$",
        description=(
            "llama-bench's 'build: <commit> (<number>)', a release tag bNNNN, 'PR #N <branch>', or a "
            "scoreboard entry '<commit>, discussion #N'"
        ),
    )
    date: dt.date | None = Field(None, description="the day the source posted the figure")
    source: str = Field(min_length=8)

    @field_validator("date")
    @classmethod
    def _date_in_llama_cpp_era(cls, v: dt.date | None) -> dt.date | None:
        # llama.cpp's first commit is 2023-03-10; a later day than today is a typo
        if v is not None and not dt.date(2023, 3, 10) <= v <= dt.date.today():
            raise ValueError(f"{v} is outside llama.cpp's lifetime (2023-03-10 to today)")
        return v

    @property
    def file_gib(self) -> float:
        """The file's size: llama-bench's, or computed from the layout (``load_bench_with_db``)."""
        if self.size_gib is None:
            raise SizingError(f"row {self.id!r}: size not computed yet (load with load_bench_with_db)")
        return self.size_gib

    @property
    def routed_type(self) -> str:
        """The ggml type of the routed experts: the row's ``expert_type``, else its quant's name."""
        return (self.expert_type or self.quant).upper()

    @property
    def active_fraction(self) -> float:
        """Share of the file one token reads: computed from the layout, else by parameters."""
        if self.read_fraction is not None:
            return self.read_fraction
        return (self.active_params_b / self.params_b) if self.active_params_b else 1.0

    @property
    def active_params(self) -> float:
        return (self.active_params_b or self.params_b) * 1e9


def _relative_to_repacked(v: dict[str, float], what: str, top: float) -> dict[str, float]:
    """A kernel speed table: relative to repacked weights (= 1.0), each speed in (0, top]."""
    if v.get("repacked") != 1.0 or not all(0 < x <= top for x in v.values()):
        raise ValueError(f"{what} are relative to repacked = 1.0, each in (0, {top:g}]")
    return v


class KernelMeasurement(BaseModel):
    """Where a CPU kernel speed table comes from: the ISA its kernels ran, the build, the day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    isa: str = Field(description="the ISA the kernels ran on")
    build: str = Field(min_length=3)
    date: dt.date
    source: str = Field(min_length=8)


class VendorDecodeSpeeds(KernelMeasurement):
    """Decode speeds per weight type measured on one maker's cores (``CpuKernelSpeeds``'
    ``decode_speeds`` are one machine's: the kernels rank the types differently elsewhere)."""

    decode_speeds: dict[str, float] = Field(description="ggml type or kernel class -> speed relative to repacked")
    machine: str = Field(min_length=3, description="the CPU the speeds were measured on")

    @field_validator("decode_speeds")
    @classmethod
    def _decode_relative(cls, v: dict[str, float]) -> dict[str, float]:
        return _relative_to_repacked(v, "decode speeds", 3.0)


class CpuKernelSpeeds(KernelMeasurement):
    """Prompt speed of llama.cpp's CPU matrix paths relative to repacked weights
    (sizing.core.speed.cpu.kernel_class), measured with one llama.cpp build."""

    speeds: dict[str, float] = Field(description="kernel class (repacked, sgemm, kquant, legacy) or ggml type -> speed")
    decode_speeds: dict[str, float] = Field(
        default_factory=dict,
        description="decode: ggml type or kernel class -> bytes/s one thread streams relative to repacked",
    )
    decode_by_vendor: dict[Literal["GenuineIntel", "AuthenticAMD"], VendorDecodeSpeeds] = Field(
        default_factory=dict,
        description="CPUID vendor -> decode speeds measured on that maker's cores (others: decode_speeds)",
    )

    @field_validator("speeds")
    @classmethod
    def _relative(cls, v: dict[str, float]) -> dict[str, float]:
        return _relative_to_repacked(v, "speeds", 1.5)

    @field_validator("decode_speeds")
    @classmethod
    def _decode_relative(cls, v: dict[str, float]) -> dict[str, float]:
        return _relative_to_repacked(v, "decode speeds", 3.0) if v else v


class CpuAttentionRate(BaseModel):
    """The CPU decode attention rate (FLOPs per cycle per thread over an F16 KV cache with
    flash attention), measured with one llama.cpp build: no public table states it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    flop_per_cycle: float = Field(gt=0, le=64, description="vector part: attention FLOPs per thread per clock cycle")
    cycles_per_head_cell: float = Field(ge=0, le=10_000, description="fixed part: cycles per query head and cell")
    isa: str = Field(description="the ISA the kernels ran on")
    clock_ghz: float = Field(gt=0, description="the clock the per-cycle figure is taken at")
    threads: int = Field(gt=0)
    flash_attn: bool = Field(description="llama.cpp's flash-attention path (what live checks run)")
    kv_type: str = Field(description="the KV cache type")
    build: str = Field(min_length=3)
    date: dt.date
    source: str = Field(min_length=8)


class OffloadRun(BaseModel):
    """One public decode run of a MoE model with its routed experts in system RAM beside a GPU
    (llama.cpp --n-cpu-moe): the GPU, the host's RAM and threads, and the tokens/s measured."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    model: str = Field(description="catalog id")
    quant: str
    gpu: str = Field(description="a name data/gpus.yaml matches")
    gpus: int = Field(1, ge=1, le=8)
    n_cpu_moe: int = Field(ge=1, description="layers whose routed experts stay in RAM")
    ram_gb: float = Field(gt=0)
    ram_gbs: float = Field(gt=0, description="the host RAM's peak bandwidth")
    threads: int = Field(16, ge=1)
    host: str = Field(min_length=3, description="the host as the source states it, or what is assumed")
    tg: float = Field(gt=0, description="decode tokens/s measured")
    pp: dict[int, float] = Field(
        default_factory=dict, description="-ub -> prompt tokens/s measured (a prompt of prompt_tokens)"
    )
    prompt_tokens: int = Field(512, ge=1)
    test: str = Field(min_length=3)
    date: dt.date | None = None
    source: str = Field(min_length=8)
    excluded: str | None = Field(
        None, description="why the run says nothing about the offload rate (shown, not fitted)"
    )


class GraphPair(BaseModel):
    """One model decoded on one GPU with llama.cpp's CUDA graphs off and on (same build):
    what launching every kernel from the CPU costs a layer on a GPU that runs without them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    gpu: str
    family: str = Field(description="GPU architecture, as data/gpus.yaml spells it after family_of")
    model: str
    layers: int = Field(gt=0)
    moe: bool
    tg_graphs_off: float = Field(gt=0)
    tg_graphs_on: float = Field(gt=0)
    build: str | None = None
    date: dt.date | None = None
    source: str = Field(min_length=8)

    @property
    def layer_seconds(self) -> float:
        """Seconds per layer and token the graphs save."""
        return (1.0 / self.tg_graphs_off - 1.0 / self.tg_graphs_on) / self.layers


class DepthRun(BaseModel):
    """One model decoded on one device at several depths (llama-bench ``-d``: tg after N cached
    tokens): how much each cached cell slows a token, which the tg128 rows (depth 0) cannot show."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    device: str
    backend: Literal["cuda", "metal", "rocm", "vulkan", "sycl"]
    model: str
    arch_id: str = Field(description="catalog architecture: its KV layout gives the bytes a cached cell adds")
    quant: str = Field(description="the file's quant, as the catalog's recipes name it (MXFP4: the experts as shipped)")
    kv_type: str = "f16"
    decode_test: str = Field(
        "tg128",
        pattern=r"^(tg\d+|pp\d+ -ub 1)$",
        description="tgN, or ppN at a micro-batch of 1 (N single-token steps, as a decode: no sampling in either)",
    )
    tg: dict[int, float] = Field(description="depth -> tokens/s; depth 0 is the run's own base")
    build: str | None = None
    date: dt.date | None = None
    source: str = Field(min_length=8)
    pp: dict[int, float] = Field(
        default_factory=dict, description="depth -> prompt tokens/s (prefill_test), where the run measured them"
    )
    prefill_test: str = Field("pp512", pattern=r"^pp\d+( -ub \d+)?$")
    work: DeviceWork | None = Field(
        None, description="computed: the model typed by its quant, whole on the device (load_bench_with_db)"
    )

    @field_validator("tg", "pp")
    @classmethod
    def _depths(cls, v: dict[int, float], info) -> dict[int, float]:
        if info.field_name == "pp" and not v:
            return v
        if 0 not in v or len(v) < 2:
            raise ValueError("needs depth 0 and at least one deeper run")
        if any(d < 0 or t <= 0 for d, t in v.items()):
            raise ValueError("depths are >= 0 and speeds > 0")
        return v

    @property
    def tokens(self) -> int:
        """Tokens the test steps through one at a time: a run at depth d decodes over d .. d + tokens."""
        return int(self.decode_test.split()[0][2:])

    @property
    def prompt_tokens(self) -> int:
        return int(self.prefill_test.split()[0][2:])

    @property
    def ubatch(self) -> int:
        m = re.search(r"-ub (\d+)", self.prefill_test)
        return int(m.group(1)) if m else 512

    @property
    def model_work(self) -> DeviceWork:
        if self.work is None:
            raise SizingError(f"depth run {self.id!r}: its work is not computed yet (load with load_bench_with_db)")
        return self.work

    def kv_bytes(self, depth: float) -> float:
        """K and V bytes one token's attention reads at ``depth``."""
        return self.model_work.kv_read_bytes(int(depth))


class ModelLayers(BaseModel):
    """Layer counts of the models the rows name by llama-bench's label only (no arch_id):
    a GPU's fixed decode cost is per layer, so the fit needs them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    layers: dict[str, int] = Field(description="a row's model label, or its first two words ('llama 7B'), -> n_layers")
    source: str = Field(min_length=8)

    @field_validator("layers")
    @classmethod
    def _positive(cls, v: dict[str, int]) -> dict[str, int]:
        if not all(0 < n <= 512 for n in v.values()):
            raise ValueError("layer counts are in 1..512")
        return v

    def of(self, label: str) -> int | None:
        return self.layers.get(label) or self.layers.get(" ".join(label.split()[:2]))


class HostCopyRate(BaseModel):
    """How fast one backend copies weights from RAM to the GPU where that falls short of the
    PCIe link: the prompt batches of layers kept in RAM (--n-cpu-moe) are copied to the GPU
    first (op offload), so this rate, not the link's, bounds their prompt speed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gbs: float = Field(gt=0, le=128, description="GB/s a host-to-device weight copy reaches")
    measured: str = Field(min_length=3, description="what the source measured, with its range")
    date: dt.date
    source: str = Field(min_length=8)


class BenchData(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    devices: dict[str, BenchDevice]
    rows: tuple[BenchRow, ...]
    model_layers: ModelLayers | None = None
    cpu_kernels: CpuKernelSpeeds | None = None
    graph_pairs: tuple[GraphPair, ...] = ()
    depth_runs: tuple[DepthRun, ...] = ()
    offload_runs: tuple[OffloadRun, ...] = ()
    host_copy: dict[str, HostCopyRate] = Field(
        default_factory=dict, description="backend -> its host-to-device copy rate, where below the link's"
    )
    db_families: dict[str, dict[str, tuple[str, ...]]] = Field(
        default_factory=dict,
        description=(
            "filled from data/gpus.yaml (load_bench_with_db): vendor -> backend -> the architectures "
            "of its discrete cards that run on that backend"
        ),
    )
    db_same_chip: dict[str, tuple[str, ...]] = Field(
        default_factory=dict,
        description=(
            "filled from data/gpus.yaml (load_bench_with_db): a device's id -> the ids of the same "
            "chip sold with other memory sizes (same vendor, architecture, bandwidth, peaks, cores)"
        ),
    )


def _named_entries(raw: dict, key: str, model: type[BaseModel], label: str, path: Path | str) -> list:
    """The list under ``key``, each entry validated and named in errors by its id (else its index)."""
    entries = raw.get(key) or []
    if not isinstance(entries, list):
        raise SizingError(f"{path}: '{key}' must be a list")
    out = []
    for i, e in enumerate(entries):
        rid = e.get("id", f"#{i}") if isinstance(e, dict) else f"#{i}"
        out.append(validate(model, e, f"{path}: {label} {rid!r},"))
    return out


def parse_bench(raw: object, path: Path | str = BENCH_FILE) -> BenchData:
    """Validate the parsed YAML; errors name the file, the entry and the field."""
    if not isinstance(raw, dict) or not isinstance(raw.get("rows"), list) or not isinstance(raw.get("devices"), dict):
        raise SizingError(f"{path}: expected a mapping with 'devices' and 'rows'")
    devices: dict[str, BenchDevice] = {}
    for key, entry in raw["devices"].items():
        devices[key] = validate(BenchDevice, entry, f"{path}: device {key!r},")
    rows: list[BenchRow] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw["rows"]):
        rid = entry.get("id", f"#{i}") if isinstance(entry, dict) else f"#{i}"
        row = validate(BenchRow, entry, f"{path}: row {rid!r},")
        if row.id in seen:
            raise SizingError(f"{path}: row {row.id!r} appears twice")
        if row.device not in devices:
            raise SizingError(f"{path}: row {row.id!r}, field device: unknown device {row.device!r}")
        if row.pp512 is None and row.tg128 is None:
            raise SizingError(f"{path}: row {row.id!r} has neither pp512 nor tg128")
        if row.size_gib is None and not row.arch_id:
            raise SizingError(f"{path}: row {row.id!r} needs size_gib, or a layout (arch_id) to compute it from")
        seen.add(row.id)
        rows.append(row)
    kernels = None
    if raw.get("cpu_kernels") is not None:
        kernels = validate(CpuKernelSpeeds, raw["cpu_kernels"], f"{path}: cpu_kernels,")
    pairs = raw.get("graph_pairs") or []
    if not isinstance(pairs, list):
        raise SizingError(f"{path}: 'graph_pairs' must be a list")
    graph_pairs = tuple(validate(GraphPair, e, f"{path}: graph pair #{i},") for i, e in enumerate(pairs))
    depth_runs = _named_entries(raw, "depth_runs", DepthRun, "depth run", path)
    for run in depth_runs:
        if run.device not in devices:
            raise SizingError(f"{path}: depth run {run.id!r}, field device: unknown device {run.device!r}")
    offload_runs = _named_entries(raw, "offload_runs", OffloadRun, "offload run", path)
    copies = raw.get("host_copy") or {}
    if not isinstance(copies, dict):
        raise SizingError(f"{path}: 'host_copy' must be a mapping of backend to rate")
    host_copy: dict[str, HostCopyRate] = {}
    for backend, entry in copies.items():
        if backend not in OP_OFFLOAD_BACKENDS:
            raise SizingError(
                f"{path}: host_copy {backend!r}: not a backend that copies host weights to a GPU (one of {', '.join(sorted(OP_OFFLOAD_BACKENDS))})"
            )
        host_copy[backend] = validate(HostCopyRate, entry, f"{path}: host_copy {backend!r},")
    layers = None
    if raw.get("model_layers") is not None:
        layers = validate(ModelLayers, raw["model_layers"], f"{path}: model_layers,")
    return BenchData(
        devices=devices,
        rows=tuple(rows),
        graph_pairs=graph_pairs,
        depth_runs=tuple(depth_runs),
        offload_runs=tuple(offload_runs),
        host_copy=host_copy,
        cpu_kernels=kernels,
        model_layers=layers,
    )


@cache
def load_bench(path: Path = BENCH_FILE) -> BenchData:
    return parse_bench(read_yaml(path, "benchmark data"), path)


def split_rows(
    rows: tuple[BenchRow, ...] | list[BenchRow], fold: int = 2, shuffle: str | None = None
) -> tuple[list[BenchRow], list[BenchRow]]:
    """(fit, held-out): within each backend, sorted by id, every third row is held out
    (index % 3 == ``fold``; the calibration file uses fold 2, bench/accuracy_speed.py
    --folds crosses all three so every row is predicted once by a fit it was not in).
    With ``shuffle``, rows are sorted by the SHA-256 of ``shuffle`` + id instead: another
    reproducible partition, so a model change can be checked on more than one."""
    fit: list[BenchRow] = []
    held: list[BenchRow] = []
    by_backend: dict[str, list[BenchRow]] = {}
    for r in rows:
        by_backend.setdefault(r.backend, []).append(r)
    for backend in sorted(by_backend):
        order = sorted(
            by_backend[backend],
            key=lambda r: r.id if shuffle is None else hashlib.sha256((shuffle + r.id).encode()).hexdigest(),
        )
        for i, r in enumerate(order):
            (held if i % 3 == fold else fit).append(r)
    return fit, held


def row_device(row: BenchRow, dev: BenchDevice) -> DeviceRate:
    return bench_device_rate(row.backend, dev, row.threads)


def bench_device_rate(backend: str, dev: BenchDevice, threads: int | None = None) -> DeviceRate:
    """A data-file device as the speed model sees it, on one backend (a CPU with the CPUID
    vendor its maker's name implies, as detection reads it on a live machine)."""
    return DeviceRate(
        cpu_vendor=vendor_from_name(dev.name) if dev.kind == "cpu" else None,
        name=dev.name,
        kind=dev.kind,
        backend=backend,
        bandwidth_gbs=dev.bandwidth_gbs,
        matmul_tflops=dev.matmul_tflops,
        bf16_tflops=dev.bf16_tflops,
        threads=threads,
        clock_ghz=dev.clock_ghz,
        family=dev.family,
        hbm=dev.hbm,
        gpu_cores=dev.gpu_cores,
        vector_tflops=dev.vector_tflops,
        board_power_w=dev.tdp_w if dev.kind == "gpu" else None,
        chip=dev.db_id if dev.kind != "cpu" else None,
    )


def row_work(row: BenchRow, dev: BenchDevice) -> DeviceWork:
    """The whole model on one device, as llama-bench ran it (ngl 99 or CPU)."""
    size = row.file_gib * GIB
    eflops = 0.0
    if row.active_params_b and row.routed_fraction and row.expert_total_fraction and row.experts_used_share:
        # MoE with a known layout: all routed experts resident, n_used / n_experts read per token
        routed = size * row.routed_fraction
        dense = size * row.active_fraction - routed
        experts, frac = size * row.expert_total_fraction, row.experts_used_share
        eflops = 2.0 * row.active_params * row.routed_fraction / row.active_fraction
    elif row.active_params_b:
        # MoE: only active experts are read; attention/shared parts are in the active share
        dense, experts, frac = size * row.active_fraction, size * (1 - row.active_fraction), 0.0
    else:
        dense, experts, frac = size, 0.0, 0.0
    if row.decode_test.startswith("pp") and row.output_fraction:
        # a prompt test run one token at a time computes logits for the last token only:
        # the output projection is not read per token as it is while generating
        dense -= size * row.output_fraction
    return DeviceWork(
        device=row_device(row, dev),
        layers=row.n_layers or 0,
        dense_bytes=dense,
        expert_bytes=experts,
        expert_fraction=frac,
        flops_per_token=2.0 * row.active_params,
        expert_flops_per_token=eflops,
        moe_layers=row.moe_layers or 0,
        experts_float=bool(row.active_params_b) and row.routed_type in FLOAT_MATRIX_TYPES,
        expert_type=row.routed_type if row.moe_layers else "",
        # a GPU multiplies F16/BF16 weights faster than quantized ones (prefill_f16_speed);
        # CPU rows keep no mix: their per-thread rate is fitted as the rows ran
        matrix_types=((row.quant.upper(), 1.0),) if dev.kind != "cpu" else (),
    )


def _unquantized(row: BenchRow) -> bool:
    return row.quant.upper() in UNQUANTIZED_TYPES


def _row_peak(row: BenchRow, dev: BenchDevice) -> float:
    """FLOP/s of the matrix peak the row's weights can reach: BF16 at its FP32-accumulate
    share (sizing.core.speed.estimate.bf16_rate_share)."""
    peak = (dev.matmul_tflops or 0.0) * 1e12
    if row.quant.upper() == "BF16":
        peak *= bf16_rate_share(row_device(row, dev))
    return peak


def _f16_speed(rows: list[tuple[BenchRow, BenchDevice]]) -> float | None:
    """How much faster F16/BF16 weights multiply on a GPU than quantized ones: per device and
    llama.cpp build with prompt rows of both kinds, the median F16 rate ÷ the median quantized
    rate (each as a share of the matrix peak its weights can reach where the device has one:
    BF16 reaches less of it, :func:`_row_peak`); the median over such pairs (None without
    any). Within one device the device's own figures cancel, so a chip without a stated peak
    (most Apple GPUs: their rate comes from the GPU-core count) shows it as well. Below 1
    where llama.cpp's quantized kernels outrun the vendor's F16 GEMM (CUDA since MMQ)."""

    def share(r: BenchRow, d: BenchDevice) -> float:
        return _prefill_rate(r) / (_row_peak(r, d) if d.matmul_tflops else 1.0)

    groups: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for r, d in rows:
        if r.build is None or d.kind == "cpu":
            continue
        f16, quant = groups.setdefault((d.name, r.build), ([], []))
        (f16 if _unquantized(r) else quant).append(share(r, d))
    ratios = [statistics.median(f) / statistics.median(q) for f, q in groups.values() if f and q]
    if not ratios:
        # no build timed both kinds on one device (CUDA's pairs predate MMQ, superseded_prompt):
        # pair each device's F16 rows with its quantized rows of any build. The F16 path is the
        # vendor GEMM, which llama.cpp's own kernel changes leave alone
        by_dev: dict[str, tuple[list[float], list[float]]] = {}
        for r, d in rows:
            if d.kind != "cpu":
                f16, quant = by_dev.setdefault(d.name, ([], []))
                (f16 if _unquantized(r) else quant).append(share(r, d))
        ratios = [statistics.median(f) / statistics.median(q) for f, q in by_dev.values() if f and q]
    return statistics.median(ratios) if ratios else None


def _decode_x(row: BenchRow, dev: BenchDevice) -> float:
    """Seconds per token at 100 % of the datasheet bandwidth (the bytes :func:`row_work` reads)."""
    w = row_work(row, dev)
    return w.weight_read_bytes(1) / (dev.bandwidth_gbs * 1e9)


# llama.cpp's pull-request and build numbers grow with time: a row that names only its PR
# or build still says roughly when it was measured. Anchors: rows (and graph pairs) of this
# file that state both a number and a day (interpolated linearly between them).
_PR_YEARS = (
    (3084, 2023.69),
    (4766, 2024.03),
    (7487, 2024.39),
    (13324, 2025.35),
    (15525, 2025.64),
    (16834, 2025.83),
    (19053, 2026.09),
    (27721, 2026.65),  # graph pair rows: PR #27721, 2026-08-26
)
_BUILD_YEARS = ((1786, 2024.02), (4696, 2025.12), (6096, 2025.60), (6552, 2025.72), (7340, 2025.94), (7825, 2026.10))


def _interp(n: int, anchors: tuple[tuple[int, float], ...]) -> float:
    (n0, y0), (n1, y1) = anchors[0], anchors[-1]
    for (a, ya), (b, yb) in zip(anchors, anchors[1:]):
        if a <= n <= b:
            (n0, y0), (n1, y1) = (a, ya), (b, yb)
            break
    else:
        (n0, y0), (n1, y1) = anchors[:2] if n < anchors[0][0] else anchors[-2:]
    return y0 + (y1 - y0) * (n - n0) / (n1 - n0)


def row_year(row: BenchRow) -> float | None:
    """When the row was measured, as a fractional year: its date, else its build or PR number."""
    if row.date is not None:
        return row.date.year + (row.date.timetuple().tm_yday - 1) / 365.0
    if row.build:
        m = re.search(r"\((\d+)\)", row.build) or re.fullmatch(r"b(\d+)", row.build)
        if m:
            return _interp(int(m.group(1)), _BUILD_YEARS)
        m = re.match(r"PR #(\d+)", row.build)
        if m:
            return _interp(int(m.group(1)), _PR_YEARS)
        # a scoreboard entry ("8cf6b42, discussion #15013") is at least as new as its thread,
        # whose number shares GitHub's sequence with the pull requests
        m = re.search(r"discussion #(\d+)", row.build)
        if m:
            return _interp(int(m.group(1)), _PR_YEARS)
    return None


# llama.cpp made its int8 tensor-core kernels (MMQ) the default for quantized prompts on
# cards that have them (Turing and newer) in PR #8075, merged 2024-06-24; before that such a
# card dequantized the weights and multiplied them with FP16 cuBLAS.
MMQ_DEFAULT_YEAR = 2024.48
_INT8_TENSOR_FAMILIES = ("turing", "ampere", "ada-lovelace", "hopper", "blackwell")


# RDNA 3.5 iGPUs (Strix Halo's gfx1151, Strix Point's gfx1150) on ROCm: until late 2025 a
# default HIP build multiplied prompts through rocBLAS kernels untuned for these chips. On one
# 8060S, one build and Llama-2-7B Q4_0, llama-bench's pp512 was 316 tok/s by default and 920
# with hipBLASLt forced on (ROCBLAS_USE_HIPBLASLT=1: github.com/lhl/strix-halo-testing,
# llm-bench/llama-2-7b.Q4_0/README.md at 461ef97, mid-2025); a ROCm 7.2.3 build of May 2026
# ran it at 1,545 (kyuz0/amd-strix-halo-toolboxes, a row of data/llama_bench.yaml).
# The cut: between the last slow-path row (August 2025) and the first fast one (October 2025).
ROCM_RDNA35_PROMPT_YEAR = 2025.75

# The same chips on Vulkan: llama.cpp's Vulkan prompt kernels for RDNA 3 / 3.5 were reworked
# through late 2025. One toolbox's run of the same 8060S, Llama-2-7B Q4_0 file and flags
# (llama-bench -fa 1, RADV), kept in kyuz0/amd-strix-halo-toolboxes'
# benchmark/results/llama-2-7b.Q4_0__vulkan_radv__fa1.log across its history: pp512 958 tok/s
# (build 6182, August 2025), 1,096 (October), 1,135 (December), 1,356 (build 7938, February
# 2026), 1,338 (build 9187, May 2026). A 2025 row would pull a plan's prompt rate down by up
# to a third, so from 2026 on only.
VULKAN_RDNA35_PROMPT_YEAR = 2026.0

# Intel's Xe2 GPUs (Battlemage, Lunar Lake) on Vulkan: their prompt kernels were reworked
# through 2025 too. PR #14001 (2025-06) turned on cooperative matrices for Xe2 (an Arc B580's
# pp512 on gemma-2-2b Q4_K_M went from 491 to 1,631 tok/s on Windows, 421 to 583 on Mesa),
# PR #18178 (2025-12) retuned their matrix tiles, and 2026 PRs (#25380, #27471) reworked
# them again. The scoreboard's B580 row (discussion #10879, 2024-12 or later) reads 621 on
# Llama-2-7B Q4_0; an Arc Pro B70 (32 Xe2 cores to the B580's 20) ran the same file at
# 2,414 with a May 2026 build (kyuz0's toolboxes, a row of data/llama_bench.yaml), about
# 1,500 at the B580's size. So, as for RDNA 3.5, from 2026 on only.
VULKAN_XE2_PROMPT_YEAR = 2026.0
# per GPU family: the year from which its Vulkan prompt rows time today's kernels
VULKAN_PROMPT_REWORKED = {"rdna-3.5": VULKAN_RDNA35_PROMPT_YEAR, "xe2-hpg": VULKAN_XE2_PROMPT_YEAR}


def superseded_prompt(row: BenchRow, dev: BenchDevice) -> bool:
    """Whether a row's prompt figure ran a path today's llama.cpp no longer takes: an RDNA 3.5
    iGPU on ROCm before October 2025 (ROCM_RDNA35_PROMPT_YEAR), an RDNA 3.5 or Xe2 GPU on
    Vulkan before 2026 (VULKAN_PROMPT_REWORKED), or quantized weights on a CUDA
    card with int8 tensor cores, measured before MMQ became the default there. The CUDA cards
    prompt about 1.5x faster since (an RTX 4090 ran Llama-2-7B Q4_0 at 7,980 tok/s in PR
    #4766, 2024-01, and 11,993 on the CUDA scoreboard, discussion #15013; an RTX 3090 3,511
    and 5,175), so such a row would pull the prompt rate of every plan, all run on current
    builds, down by a third. Its decode figure is kept (decode never used cuBLAS)."""
    backend = row.backend.split("/")[0]
    cut = None
    if backend == "rocm" and dev.family == "rdna-3.5":
        cut = ROCM_RDNA35_PROMPT_YEAR
    elif backend == "vulkan":
        cut = VULKAN_PROMPT_REWORKED.get(dev.family or "")
    if cut is not None and row.pp512:
        year = row_year(row)
        return year is not None and year < cut
    if row.backend.split("/")[0] != "cuda" or not row.pp512 or _unquantized(row):
        return False
    if not (dev.family or "").startswith(_INT8_TENSOR_FAMILIES):
        return False
    year = row_year(row)
    return year is not None and year < MMQ_DEFAULT_YEAR


def row_weight(row: BenchRow) -> float:
    """Weight of a row in the decode fit: llama.cpp's decode kernels got much faster from
    2024 to 2025 (an RTX 3090 ran Llama-2-7B Q4_0 at 120 tok/s in PR #4766, Llama-3-8B Q4_0
    at 155 tok/s in PR #15802) and on through 2025 (gpt-oss-20b's MoE layers cost an RTX 3090
    ~114 us each with build 6210, Aug 2025, ~65 us in PR #20586, 2026; an RTX 4090 ~109 us in
    PR #16834, Oct 2025, an RTX 6000 Ada ~43 us in PR #19053, Feb 2026), and a plan is run on
    today's llama.cpp, so each year before 2026 halves a row's weight; a row whose date is not
    known counts as a year older."""
    year = row_year(row)
    return 0.5 ** max(0.0, RECENT_YEAR - (year if year is not None else RECENT_YEAR - 1.0))


def _fit_decode(
    rows: list[tuple[BenchRow, BenchDevice]], layer_cost: float | None = None, scaled: bool = False
) -> tuple[float, float]:
    """(efficiency, cost per layer) minimising the weighted relative error of
    the time per token (weights: :func:`row_weight`): 1/tg = (bytes + layers·L)/(bandwidth·eff).

    The fixed cost is per layer, not per token: each layer dispatches the same dozen-odd
    small kernels, and their time does not shrink with the model's bytes. Nor is it one
    time on every GPU: those kernels run at the device's speed (a 1B model's layer costs
    an RTX 3090 about twice what it costs an RTX 5090), so it is fitted as bytes streamed at
    the device's effective bandwidth on CUDA (``scaled``: CUDA graphs leave no host launches),
    as a fixed time L elsewhere (1/tg = bytes/(bandwidth·eff) + layers·L). Linear in
    (1/eff, L/eff) or (1/eff, L). With ``layer_cost`` given, only the efficiency is fitted (device classes borrow their backend's: one slow device
    class cannot pin it down)."""
    x = np.array([_decode_x(r, d) for r, d in rows])
    y = np.array([r.tg128 for r, _ in rows])
    w = np.array([row_weight(r) for r, _ in rows])
    z = np.array([float(r.n_layers or 0) / (d.bandwidth_gbs * 1e9 if scaled else 1.0) for r, d in rows])
    if layer_cost is not None:
        if scaled:
            v = x + z * layer_cost
            a = float((w * y * v) @ np.ones_like(y) / ((w * y * v) @ (y * v)))
        else:
            a = float((w * y * x) @ (1.0 - y * z * layer_cost) / ((w * y * x) @ (y * x)))
        return 1.0 / max(a, 1.0), layer_cost
    a, m = _weighted_line(x, y, w, z)
    if a < 1.0:  # efficiency above 100 % is not physical: cap and refit the layer cost
        a = 1.0
        m = max(0.0, float(np.sum(w * y * z * (1.0 - y * x)) / np.sum(w * (y * z) ** 2)))
    return 1.0 / a, float(m / a if scaled else m)


def _fit_hbm_share(
    rows: list[tuple[BenchRow, BenchDevice]], eff: float, layer: float, scaled: bool
) -> tuple[float, float]:
    """(share of the decode efficiency ``eff``, scale of the cost per layer) for GPUs with
    stacked HBM memory (sizing.core.speed.estimate.effective_bandwidth says why), least
    squares in relative error over their dense decode rows (weights: :func:`row_weight`),
    given the line fitted on the other devices: 1/tg = (bytes + layers·L·m)/(bandwidth·eff·s)
    on CUDA (L in bytes at the effective bandwidth), bytes/(bandwidth·eff·s) + layers·L·m
    elsewhere; linear in (1/s, m/s) on CUDA, in (1/s, m) elsewhere. The scale needs rows of
    two sizes on one device to be told from the share; otherwise it stays 1 (at most 4). An
    MI50 (gfx906) on ROCm shows why it is fitted there too: its 7B Q4_0 decodes at a third of
    its datasheet bandwidth and its 8B and 14B BF16 at half, a fixed cost per layer about
    twice the GDDR cards' at a share near theirs. (1, 1) without HBM rows."""
    if not rows:
        return 1.0, 1.0
    x = np.array([_decode_x(r, d) for r, d in rows]) / eff
    y = np.array([r.tg128 or 0.0 for r, _ in rows])
    w = np.array([row_weight(r) for r, _ in rows])
    n = np.array([float(r.n_layers or 0) for r, _ in rows])
    z = n * layer / (np.array([d.bandwidth_gbs * 1e9 for _, d in rows]) * eff) if scaled else n * layer
    two_sizes = any(
        len({round(n[i] / x[i], 3) for i, (_, d) in enumerate(rows) if d.name == name}) > 1
        for name in {d.name for _, d in rows}
    )
    if two_sizes and layer > 0:
        a, b = _weighted_line(x, y, w, z)
        # a scale at or below 0 would say an HBM card's layers cost nothing: those rows do not
        # pin it, and the share alone is fitted below
        if a > 0 and b > 0:
            return min(1.0, 1.0 / a), min(4.0, b / a if scaled else b)
    if scaled:
        a = float(np.sum(w * y * (x + z)) / np.sum(w * (y * (x + z)) ** 2))
    else:
        a = float(np.sum(w * y * x * (1.0 - y * z)) / np.sum(w * (y * x) ** 2))
    return (min(1.0, 1.0 / a), 1.0) if a > 0 else (1.0, 1.0)


def _within_device_layer_time(rows: list[tuple[BenchRow, BenchDevice]]) -> float | None:
    """A host-dispatch backend's time per layer, from how each device's time per token grows
    with the layer count across models of different sizes, each device with an efficiency of
    its own: 1/tg = bytes/bandwidth · a_device + layers · L, least squares in relative error
    (weights: :func:`row_weight`). How much of its datasheet bandwidth a card reaches is its
    own memory system's (an iGPU on LPDDR5x reaches less than a discrete card on GDDR6), so a
    device with a single row fits that row exactly through its own efficiency and says nothing
    about L; pooled into one efficiency instead, a single fast recent card (an RDNA 4 AI PRO
    R9700 next to iGPUs) drags L to 0. None where no device has rows of two sizes."""
    by_dev: dict[str, list[int]] = {}
    for i, (r, d) in enumerate(rows):
        by_dev.setdefault(d.family or r.device, []).append(i)
    x = np.array([_decode_x(r, d) for r, d in rows])
    n = np.array([float(r.n_layers or 0) for r, _ in rows])
    informative = [ix for ix in by_dev.values() if len({round(n[i] / x[i], 6) for i in ix}) > 1]
    if not informative:
        return None
    keep = [i for ix in informative for i in ix]
    y = np.array([rows[i][0].tg128 or 0.0 for i in keep])
    sw = np.sqrt(np.array([row_weight(rows[i][0]) for i in keep]))
    cols = []
    for ix in informative:
        mask = np.array([1.0 if i in ix else 0.0 for i in keep])
        cols.append(mask * sw * y * x[keep])
    cols.append(sw * y * n[keep])
    coef, *_ = np.linalg.lstsq(np.column_stack(cols), sw, rcond=None)
    return max(0.0, float(coef[-1]))


def _weighted_line(x: np.ndarray, y: np.ndarray, w: np.ndarray, n: np.ndarray | None = None) -> tuple[float, float]:
    """(a, o) minimising sum w (y (a x + o n) - 1)^2 with o >= 0 (else through the origin):
    1/tg = a x + o n in relative error (n: 1 for a fixed cost per token, the layer count
    for one per layer), each row weighted."""
    n = np.ones_like(y) if n is None else n
    sw = np.sqrt(w)
    m = np.column_stack([sw * y * x, sw * y * n])
    (a, o), *_ = np.linalg.lstsq(m, sw, rcond=None)
    if o < 0:
        a = float((w * y * x) @ np.ones_like(y) / ((w * y * x) @ (y * x)))
        o = 0.0
    return float(a), float(o)


def _fit_cpu_decode(
    rows: list[tuple[BenchRow, BenchDevice]], overhead: float | None = None, efficiency: float | None = None
) -> tuple[float, float, float | None]:
    """(efficiency, overhead seconds, GB/s per thread) for CPU rows.

    A CPU decodes at min(bandwidth × efficiency, threads × per-thread rate): a few
    threads of a big CPU are limited by how fast each core dequantises and multiplies
    (which its vector ISA sets), not by the RAM. A grid over the per-thread rate, each
    point with the two-parameter line fit on the resulting effective rates; the best
    relative error wins. Rows without a thread count only see the bandwidth. With
    ``overhead`` and ``efficiency`` given (an ISA class: how much of its RAM bandwidth a
    machine reaches is its memory system's, not its vector unit's), only the per-thread
    rate is fitted; a few threads of a big CPU never reach its RAM, so its rows alone
    could not pin the efficiency.
    """
    y = np.array([r.tg128 for r, _ in rows])
    size = np.array([r.file_gib * GIB * r.active_fraction for r, _ in rows])
    bw = np.array([d.bandwidth_gbs * 1e9 for _, d in rows])
    thr = np.array([float(r.threads or 0) for r, _ in rows])
    fams = sorted({d.family or "" for _, d in rows})
    if overhead is None and efficiency is None and len(fams) > 1:
        return _fit_cpu_decode_by_isa(rows, y, size, bw, thr)
    best: tuple[float, float, float, float | None] | None = None
    for per_thread in [None, *np.arange(2.0, 40.01, 0.25)]:
        for eff in [efficiency] if efficiency is not None else np.arange(0.30, 1.0001, 0.01):
            rate = bw * eff
            if per_thread is not None:
                rate = np.where(thr > 0, np.minimum(rate, thr * per_thread * 1e9), rate)
            x = size / rate
            # overhead minimising sum((y (x + o) - 1)^2), never negative
            o = overhead if overhead is not None else max(0.0, float(np.sum(y * (1 - x * y)) / np.sum(y * y)))
            err = float(np.sum((y * (x + o) - 1.0) ** 2))
            if best is None or err < best[0] - 1e-12:
                best = (err, float(eff), o, None if per_thread is None else float(per_thread))
    assert best is not None
    return best[1], best[2], best[3]


_PER_THREAD_GRID = [None, *np.arange(2.0, 40.01, 0.25)]


def _fit_cpu_decode_by_isa(rows, y, size, bw, thr) -> tuple[float, float, float | None]:
    """The backend-wide CPU line (efficiency, overhead) when the rows span several vector
    ISAs: each ISA caps its own threads' rate (an ARM core dequantises about half as many
    bytes per cycle as an x86 one with AVX2), so one per-thread rate for all would read a
    slow ISA's thread-bound rows as a large fixed cost per token, charged to every CPU.
    Alternates: the line given each ISA's per-thread rate, then each ISA's rate given the
    line, a few rounds. Returns the line and the per-thread rate all rows imply together
    (for an ISA with no rows of its own)."""
    fam = np.array([d.family or "" for _, d in rows])
    rate_of: dict[str, float | None] = {f: None for f in set(fam)}

    def capped(eff: float, per_thread: np.ndarray) -> np.ndarray:
        rate = bw * eff
        return np.where((thr > 0) & (per_thread > 0), np.minimum(rate, thr * per_thread * 1e9), rate)

    def line(per_thread: np.ndarray) -> tuple[float, float, float]:
        best = None
        for eff in np.arange(0.30, 1.0001, 0.01):
            x = size / capped(float(eff), per_thread)
            o = max(0.0, float(np.sum(y * (1 - x * y)) / np.sum(y * y)))
            err = float(np.sum((y * (x + o) - 1.0) ** 2))
            if best is None or err < best[0] - 1e-12:
                best = (err, float(eff), o)
        assert best is not None
        return best

    def per_thread_of(mask: np.ndarray, eff: float, o: float) -> float | None:
        best = None
        for pt in _PER_THREAD_GRID:
            rate = bw[mask] * eff
            if pt is not None:
                rate = np.where(thr[mask] > 0, np.minimum(rate, thr[mask] * pt * 1e9), rate)
            err = float(np.sum((y[mask] * (size[mask] / rate + o) - 1.0) ** 2))
            if best is None or err < best[0] - 1e-12:
                best = (err, pt)
        assert best is not None
        return None if best[1] is None else float(best[1])

    eff, o = 0.7, 0.0
    for _ in range(6):
        pts = np.array([rate_of[f] or 0.0 for f in fam])
        _, eff, o = line(pts)
        rate_of = {f: per_thread_of(fam == f, eff, o) for f in rate_of}
    return eff, o, per_thread_of(np.ones(len(y), dtype=bool), eff, o)


def _fit_cpu_bytes_per_cycle(
    rows: list[tuple[BenchRow, BenchDevice]], efficiency: float, overhead: float
) -> float | None:
    """GB per second per GHz of one thread (bytes per cycle), given the bandwidth
    efficiency and overhead: the grid value with the least relative error over the rows
    whose thread count and clock are known, each row's rate min(bandwidth × efficiency,
    threads × value × clock). None when no row is thread-bound at any grid value (the
    rows then say nothing about it)."""
    part = [(r, d) for r, d in rows if r.threads and d.clock_ghz]
    if not part:
        return None
    y = np.array([r.tg128 for r, _ in part])
    size = np.array([r.file_gib * GIB * r.active_fraction for r, _ in part])
    bw = np.array([d.bandwidth_gbs * 1e9 * efficiency for _, d in part])
    thr_ghz = np.array([float(r.threads or 0) * (d.clock_ghz or 0.0) for r, d in part])
    best: tuple[float, float] | None = None
    for per_ghz in np.arange(0.5, 15.001, 0.05):
        rate = np.minimum(bw, thr_ghz * per_ghz * 1e9)
        err = float(np.sum((y * (size / rate + overhead) - 1.0) ** 2))
        if best is None or err < best[0] - 1e-12:
            best = (err, float(per_ghz))
    assert best is not None
    # a value so high that no row is thread-bound is not pinned by these rows
    return None if bool(np.all(thr_ghz * best[1] * 1e9 >= bw)) else best[1]


def _power_cap(
    peaked: list[tuple[BenchRow, BenchDevice]], shares: list[float], f16: float | None
) -> tuple[float | None, float | None]:
    """(GFLOP/s per watt of board power, share of the matrix peak) for prompt products. A long
    prompt keeps the matrix units busy, and a board whose power limit is low for its peak
    clocks them down: on llama.cpp's CUDA scoreboard the RTX 6000 Ada and L40 (300 W, AD102)
    prompt at about 0.4 TFLOPS per watt, a third of their peak, while the RTX 4090 (450 W, the
    same chip) reaches half of its. The most power-efficient of three runs or more is what
    the architecture's FLOP per joule allows (a run below it was held by its matrix share);
    the share is then the median over the runs that power did not hold."""
    if not shares:
        return None, None
    share = statistics.median(shares)
    # discrete cards: a unified chip's stated power covers its CPU too
    powered = [(r, d) for r, d in peaked if d.tdp_w and d.kind == "gpu"]
    if len(powered) < 3:
        return None, share
    per_watt = max(_prefill_rate(r) / (f16 if f16 and _unquantized(r) else 1.0) / d.tdp_w / 1e9 for r, d in powered)
    free = [
        s
        for (r, d), s in zip(peaked, shares)
        if not (d.tdp_w and d.kind == "gpu" and per_watt * d.tdp_w * 1e9 < share * _row_peak(r, d))
    ]
    return per_watt, statistics.median(free) if free else share


def _prefill_rate(row: BenchRow) -> float:
    return 2.0 * row.active_params * row.pp512  # FLOP/s achieved (attention neglected)


def _quantiles(ratios: list[float]) -> tuple[float, float]:
    if len(ratios) < 2:
        return MIN_SPREAD
    qs = statistics.quantiles(ratios, n=10, method="inclusive")
    lo, hi = qs[0], qs[-1]
    return (round(min(lo, MIN_SPREAD[0]), 3), round(max(hi, MIN_SPREAD[1]), 3))


def _graphs(backend: str) -> bool:
    """CUDA replays a decode step as one CUDA graph: no kernel is launched from the CPU, so
    what a layer's small kernels cost is their run time on the GPU, which scales with the
    GPU's speed; the other backends dispatch kernels from the host, a fixed time each."""
    return backend.split("/")[0] == "cuda"


def _own_layer_cost(backend: str, part: list[tuple[BenchRow, BenchDevice]]) -> bool:
    """Whether a GPU architecture's rows pin a time per layer of its own: on a backend that
    dispatches each kernel from the host (Metal, Vulkan, ROCm, SYCL) that time is the driver's
    and the chip's own (an M5 pays ~52 us a layer, PR #16634's 1B and 7B rows; an M1 Ultra,
    whose two dies synchronise over UltraFusion, ~140 us, geerlingguy/ai-benchmarks#48), so
    an architecture with dense decode rows of two sizes at least 2x apart fits it; others
    borrow their backend's. (On CUDA the graphs leave only the kernels' own run time, which
    the bandwidth scales.)"""
    if backend == "cpu" or _graphs(backend):
        return False
    sizes = sorted(
        _decode_x(r, d) * d.bandwidth_gbs for r, d in part if r.tg128 and not r.host_limited and not r.active_params_b
    )
    return len(sizes) >= 2 and sizes[-1] >= 2.0 * sizes[0]


def _tmp_set(backends: dict[str, BackendCalibration], pooled: BackendCalibration) -> CalibrationSet:
    """A scratch calibration over some entries, to predict rows with while fitting."""
    return CalibrationSet(
        name="tmp", data_file="", data_sha256="", method="", holdout="", backends=backends, pooled=pooled
    )


def _fit_backend(
    backend: str,
    rows: list[tuple[BenchRow, BenchDevice]],
    pooled: bool = False,
    overhead: float | None = None,
    efficiency: float | None = None,
    parent: BackendCalibration | None = None,
    layer_cost: float | None = None,
) -> BackendCalibration:
    """Factors for one backend (or, with ``parent``, one of its architectures or device
    classes: those borrow the parent's decode line where they have no dense decode row)."""
    dec = [(r, d) for r, d in rows if r.tg128 and not r.host_limited]
    # the decode line is bytes over bandwidth; a MoE's decode also pays a fixed cost per MoE
    # layer (fitted apart), which that line does not describe
    dense_dec = [(r, d) for r, d in dec if not r.active_params_b]
    # the line is fitted on GDDR/LPDDR devices; HBM cards reach a share of it (hbm_decode_share)
    hbm_dec = [(r, d) for r, d in dense_dec if d.hbm]
    dense_dec = [(r, d) for r, d in dense_dec if not d.hbm]
    dec = [(r, d) for r, d in dec if not (d.hbm and not r.active_params_b)]
    pre = [(r, d) for r, d in rows if r.pp512 and not r.host_limited and not superseded_prompt(r, d)]
    per_thread = per_ghz = None
    scaled = _graphs(backend)
    layer = 0.0  # bytes-equivalent per layer and token (GPUs; a CPU's fixed cost is per token)
    if parent is not None and not dense_dec:
        eff, over = parent.decode_efficiency, parent.decode_overhead_ms / 1000.0
        layer = parent.decode_layer_mb * 1e6 if scaled else parent.decode_layer_ms / 1000.0
        dec = []
    else:
        dec = dense_dec or dec
        if not dec:
            raise SizingError(f"no decode rows to fit for {backend}")
        if backend.split("/")[0] == "cpu":  # the backend, or one vector ISA of it ("cpu/avx512")
            eff, over, per_thread = _fit_cpu_decode(dec, overhead, efficiency)
            per_ghz = _fit_cpu_bytes_per_cycle(dec, eff, over)
        else:
            eff, layer = _fit_decode(dec, layer_cost, scaled)
            if layer_cost is None and not scaled and layer <= 0.0:
                # no time per layer is not physical where each kernel is dispatched from the
                # host: one efficiency does not describe these devices; give each
                # architecture its own
                within = _within_device_layer_time(dec)
                if within:
                    eff, layer = _fit_decode(dec, within, scaled)
            over = 0.0
    peaked = [(r, d) for r, d in pre if d.matmul_tflops and d.kind != "cpu"]
    # the matrix share from dense rows where there are any: a MoE's routed experts run at
    # t/(t + t0) of it (moe_prefill_tokens, fitted from the MoE rows given this share), so
    # a MoE row's lower achieved rate would count that slowdown twice
    dense_peaked = [(r, d) for r, d in peaked if not r.active_params_b]
    peaked = dense_peaked or peaked
    # F16/BF16 rows count at the quantized rate they imply (prefill_f16_speed), in every
    # prompt factor below: the speed model multiplies each device's rate by that speed-up
    gpu_pre = [(r, d) for r, d in pre if d.kind != "cpu"]
    f16 = _f16_speed([(r, d) for r, d in gpu_pre if not r.active_params_b] or gpu_pre) or (
        parent.prefill_f16_speed if parent is not None else None
    )

    def quantized_rate(r: BenchRow) -> float:
        return _prefill_rate(r) / (f16 if f16 and _unquantized(r) else 1.0)

    # a backend's own share is its discrete cards' wherever it has discrete prompt rows: an
    # iGPU on a narrow LPDDR bus and a laptop's power budget reaches a far smaller share of its
    # peak (on ROCm the Radeon 890M and 8060S about a tenth of theirs, an RX 7900 XTX about 0.4
    # of its WMMA peak), and that share would under-predict the backend's discrete cards several
    # times over; unified-memory chips keep theirs in their class and architecture entries
    if parent is None and not pooled and any(d.kind == "gpu" for _, d in pre):
        peaked = [(r, d) for r, d in peaked if d.kind == "gpu"]
    # a whole backend's matrix efficiency needs two devices at least: one chip's (say, an
    # iGPU's) rate says little about another vendor's card on the same backend
    if parent is None and len({d.name for _, d in peaked}) < 2:
        peaked = []
    with_peak = [quantized_rate(r) / _row_peak(r, d) for r, d in peaked]
    per_watt, pre_share = _power_cap(peaked, with_peak, f16)
    per_bw = [quantized_rate(r) / 1e9 / d.bandwidth_gbs for r, d in gpu_pre]
    # GPUs without matrix units: a share of the FP32 vector peak, from dense rows (a MoE's
    # prompt cost has its own term), over two devices at least like the matrix share
    vec = [(r, d) for r, d in pre if d.vector_tflops and not d.matmul_tflops and not r.active_params_b]
    # (the pooled fit keeps one device's share: it is the last resort before a share of the
    # bandwidth, which says nothing about a card whose shader ALUs do the multiplying)
    if parent is None and not pooled and len({d.name for _, d in vec}) < 2:
        vec = []
    per_vector = [quantized_rate(r) / (d.vector_tflops * 1e12) for r, d in vec if d.vector_tflops]
    # Apple GPUs: the rate one GPU core reaches, read from every dense prompt row of a chip
    # whose cores are counted, with or without a stated peak: the chips of one generation
    # share the core design (Apple's TFLOPS are cores x ALUs x clock), so a chip Apple states
    # no figure for (an M5 Pro or Max, the lower bins) prompts at its generation's per-core
    # rate, not at another generation's
    cored = [(r, d) for r, d in gpu_pre if d.gpu_cores]
    per_core = [quantized_rate(r) / 1e9 / (d.gpu_cores or 1) for r, d in cored if not r.active_params_b] or [
        quantized_rate(r) / 1e9 / (d.gpu_cores or 1) for r, d in cored
    ]
    flops_per_thread = [_prefill_rate(r) / 1e9 / r.threads for r, d in pre if d.kind == "cpu" and r.threads]
    # and per cycle, where the clock is known: the rate a CPU of another clock is scaled from
    flops_per_cycle = [
        _prefill_rate(r) / 1e9 / (r.threads * d.clock_ghz)
        for r, d in pre
        if d.kind == "cpu" and r.threads and d.clock_ghz
    ]
    share, lscale = (
        (parent.hbm_decode_share, parent.hbm_layer_scale)
        if parent is not None
        else _fit_hbm_share(hbm_dec, eff, layer, scaled)
    )
    calib = BackendCalibration(
        backend=backend,
        hbm_decode_share=round(share, 4),
        hbm_layer_scale=round(lscale, 3),
        decode_efficiency=round(min(eff, 1.0), 4),
        decode_overhead_ms=round(over * 1000, 4),
        decode_layer_mb=round(layer / 1e6, 3) if scaled else 0.0,
        decode_layer_ms=0.0 if scaled else round(layer * 1000, 5),
        prefill_efficiency=round(pre_share, 4) if pre_share else None,
        prefill_gflops_per_watt=round(per_watt, 2) if per_watt else None,
        prefill_gflops_per_gbs=round(statistics.median(per_bw), 3) if per_bw else None,
        prefill_vector_efficiency=round(statistics.median(per_vector), 4) if per_vector else None,
        prefill_f16_speed=round(f16, 3) if f16 else None,
        prefill_gflops_per_thread=round(statistics.median(flops_per_thread), 3) if flops_per_thread else None,
        prefill_gflop_per_ghz=round(statistics.median(flops_per_cycle), 3) if flops_per_cycle else None,
        decode_gbs_per_thread=round(per_thread, 3) if per_thread else None,
        decode_gb_per_ghz=round(per_ghz, 3) if per_ghz else None,
        prefill_gflops_per_core=round(statistics.median(per_core), 3) if per_core else None,
        n_decode=len(dec) + len(hbm_dec),
        n_prefill=max(len(with_peak), len(per_bw), len(flops_per_thread), len(per_vector)),
        pooled=pooled,
    )
    # spreads: measured ÷ predicted on the fit rows
    one = _tmp_set({backend: calib}, calib)
    dr = [r.tg128 / predict_decode(r, d, one) for r, d in dec]
    pr = _prompt_ratios(pre, one)
    dspread = parent.decode_spread if (parent is not None and not dec) else _quantiles(dr)
    return calib.model_copy(update={"decode_spread": dspread, "prefill_spread": _quantiles(pr)})


def _prompt_ratios(rows: list[tuple[BenchRow, BenchDevice]], calib: CalibrationSet) -> list[float]:
    """Measured / predicted prompt speed of each row the calibration can predict."""
    out = []
    for r, d in rows:
        try:
            out.append(r.pp512 / predict_prefill(r, d, calib))
        except SizingError:
            continue
    return out


def predict_decode(row: BenchRow, dev: BenchDevice, calib: CalibrationSet) -> float:
    """Predicted tg (tokens/s) for a row, at depth 64 (the middle of tg128)."""
    s, _ = decode_step_seconds([row_work(row, dev)], calib, depth=0)
    return 1.0 / s


def row_ubatch(row: BenchRow) -> int:
    """The micro-batch the row's prompt test ran with (llama-bench's default 512 unless the
    test says '-ub N')."""
    m = re.search(r"-ub (\d+)", row.prefill_test)
    return int(m.group(1)) if m else 512


def predict_prefill(row: BenchRow, dev: BenchDevice, calib: CalibrationSet) -> float:
    """Predicted pp512 (tokens/s) for a row (at its micro-batch)."""
    u = row_ubatch(row)
    return u / prefill_seconds([row_work(row, dev)], calib, u, n_ubatch=u)


def _borrow_prompt_share(entry: BackendCalibration, parent: BackendCalibration) -> BackendCalibration:
    """An entry whose rows pin no prompt factor (no matrix share, no rate per GB/s) takes its
    parent's pair."""
    if entry.prefill_efficiency is not None or entry.prefill_gflops_per_gbs is not None:
        return entry
    return entry.model_copy(
        update={
            "prefill_gflops_per_gbs": parent.prefill_gflops_per_gbs,
            "prefill_efficiency": parent.prefill_efficiency,
        }
    )


def _fit_family(
    backend: str, key: str, part: list[tuple[BenchRow, BenchDevice]], c: BackendCalibration
) -> BackendCalibration:
    """One GPU architecture's entry (or one of its memory kinds'), under ``c``: its own
    efficiency where it has rows, the parent's per-token and per-layer costs; the spread
    widened when only one or two rows pin it."""
    cf = _fit_backend(
        key,
        part,
        overhead=c.decode_overhead_ms / 1000,
        layer_cost=(
            None
            if _own_layer_cost(backend, part)
            else c.decode_layer_mb * 1e6
            if _graphs(backend)
            else c.decode_layer_ms / 1000
        ),
        parent=c,
        efficiency=c.decode_efficiency if backend == "cpu" else None,
    )
    if cf.prefill_gflops_per_core is None and c.prefill_gflops_per_core is not None:
        cf = cf.model_copy(update={"prefill_gflops_per_core": c.prefill_gflops_per_core})
    cf = _borrow_prompt_share(cf, c)
    if cf.prefill_gflops_per_watt is None and cf.prefill_efficiency == c.prefill_efficiency:
        # an architecture without prompt rows of its own takes its backend's cap
        cf = cf.model_copy(update={"prefill_gflops_per_watt": c.prefill_gflops_per_watt})
    n = sum(1 for r, _ in part if r.tg128 and not r.host_limited and not r.active_params_b)
    if n < MIN_ROWS:
        lo, hi = c.decode_spread
        cf = cf.model_copy(
            update={
                "decode_spread": (
                    round(min(lo, cf.decode_spread[0]) * 0.95, 3),
                    round(max(hi, cf.decode_spread[1]) * 1.05, 3),
                )
            }
        )
    return cf


def fit(
    data: BenchData,
    *,
    data_file: str = "data/llama_bench.yaml",
    sha256: str = "",
    fold: int = 2,
    shuffle: str | None = None,
    without: Collection[str] | None = None,
) -> CalibrationSet:
    """Fit every backend on the fit rows (those :func:`split_rows` keeps for ``fold`` and
    ``shuffle``; with ``without``, every row but those ids, so a check can predict a row by
    a fit it was not in whichever fold it falls in); backends with too few rows use the
    pooled fit."""
    if without is not None:
        unknown = set(without) - {r.id for r in data.rows}
        if unknown:
            raise SizingError(f"no such rows to hold out: {sorted(unknown)}")
        fit_rows = [r for r in data.rows if r.id not in without]
        held = [r for r in data.rows if r.id in without]
    else:
        fit_rows, held = split_rows(data.rows, fold, shuffle)
    pairs = [(r, data.devices[r.device]) for r in fit_rows]
    pooled = _fit_backend("all", pairs, pooled=True)
    gpu_pairs = [(r, d) for r, d in pairs if d.kind != "cpu"]
    pooled_gpu = _fit_backend("all-gpu", gpu_pairs, pooled=True) if gpu_pairs else pooled
    backends: dict[str, BackendCalibration] = {}
    for backend in sorted({r.backend for r in fit_rows}):
        mine = [(r, d) for r, d in pairs if r.backend == backend]
        n_dec = sum(1 for r, _ in mine if r.tg128 and not r.host_limited)
        if n_dec >= MIN_ROWS:
            c = _fit_backend(backend, mine)
            if backend != "cpu" and not any(d.hbm and r.tg128 for r, d in mine):
                # no HBM card measured on this backend: the share measured on the others (a
                # memory system's property, not a backend's) rather than none
                c = c.model_copy(update={"hbm_decode_share": pooled_gpu.hbm_decode_share})
            if c.prefill_efficiency is None and c.prefill_gflops_per_gbs is None and backend != "cpu":
                c = c.model_copy(update={"prefill_gflops_per_gbs": pooled_gpu.prefill_gflops_per_gbs})
        else:
            base = pooled if backend == "cpu" else pooled_gpu
            wide = (round(base.decode_spread[0] * 0.9, 3), round(base.decode_spread[1] * 1.1, 3))
            c = base.model_copy(update={"backend": backend, "pooled": True, "decode_spread": wide})
            if backend != "cpu":
                # too few rows for a decode fit of its own, but a matrix share measured on this
                # backend (one vendor's matrix units and kernels: SYCL's XMX) says more about
                # its other cards than the share pooled over other vendors' GPUs does
                own = _fit_backend(backend, mine, parent=c)
                if own.prefill_efficiency is not None:
                    c = c.model_copy(update={"prefill_efficiency": own.prefill_efficiency})
        backends[backend] = c
        # GPU architectures (Alchemist vs Battlemage, Ampere vs Ada): each with rows of its
        # own gets its own efficiency (the backend's per-token cost); the spread is widened
        # when only one or two rows pin it
        fams = {d.family for r, d in mine if d.family and (r.tg128 or r.pp512) and not r.host_limited}
        if len(fams) > 1:
            for fam in sorted(fams):
                part = [(r, d) for r, d in mine if d.family == fam]
                # an architecture sold both as discrete cards and as a unified chip (Blackwell:
                # the RTX 50 series and the DGX Spark's GB10) is two entries: the chip shares a
                # narrow LPDDR bus with its CPU, so its small kernels take a different share of
                # a token than a card's, and its rows would pull the cards' factors
                kinds_here = {d.kind for _, d in part}
                if len(kinds_here) > 1 and "unified" in kinds_here:
                    cards = [(r, d) for r, d in part if d.kind != "unified"]
                    chips = [(r, d) for r, d in part if d.kind == "unified"]
                    cf = _fit_family(backend, f"{backend}/{fam}", cards, c)
                    backends[f"{backend}/{fam}"] = cf
                    backends[f"{backend}/{fam}/unified"] = _fit_family(backend, f"{backend}/{fam}/unified", chips, cf)
                else:
                    backends[f"{backend}/{fam}"] = _fit_family(backend, f"{backend}/{fam}", part, c)
        # an architecture with no row on this backend takes its vendor's factors there, where
        # the backend runs several vendors' cards and the vendor has discrete rows of other
        # architectures: on Vulkan an Arc A770 and a B580 reach 7-10% of their XMX peak on a
        # prompt and a third to a half of their bandwidth decoding, NVIDIA and AMD cards 30-45%
        # and three quarters; the backend's factors, pooled over every vendor, would put an
        # unmeasured Intel card at twice its decode and four times its prompt speed
        vendors = {d.vendor for r, d in mine if d.vendor and d.kind == "gpu" and d.family in fams}
        if len(vendors) > 1:
            for vendor in sorted(vendors):
                missing = set(data.db_families.get(vendor, {}).get(backend, ())) - fams
                if not missing:
                    continue
                vpart = [(r, d) for r, d in mine if d.vendor == vendor and d.kind == "gpu"]
                cv = _fit_backend(
                    f"{backend}/{vendor}",
                    vpart,
                    overhead=c.decode_overhead_ms / 1000,
                    layer_cost=c.decode_layer_mb * 1e6 if _graphs(backend) else c.decode_layer_ms / 1000,
                    parent=c,
                    efficiency=c.decode_efficiency if backend == "cpu" else None,
                )
                cv = _borrow_prompt_share(cv, c)
                if cv.prefill_gflops_per_watt is None:
                    cv = cv.model_copy(update={"prefill_gflops_per_watt": c.prefill_gflops_per_watt})
                for fam in sorted(missing):
                    backends[f"{backend}/{fam}"] = cv.model_copy(update={"backend": f"{backend}/{fam}"})
        # device classes (discrete GPU vs unified memory) with enough rows of their own
        for kind in ("gpu", "unified"):
            part = [(r, d) for r, d in mine if d.kind == kind]
            # rows its decode line is fitted on: an HBM card's dense rows fit only its share
            n_dense = sum(1 for r, d in part if r.tg128 and not r.host_limited and not r.active_params_b and not d.hbm)
            if n_dense >= MIN_ROWS and len(part) < len(mine):
                ck = _fit_backend(
                    f"{backend}/{kind}",
                    part,
                    overhead=c.decode_overhead_ms / 1000,
                    layer_cost=c.decode_layer_mb * 1e6 if _graphs(backend) else c.decode_layer_ms / 1000,
                    parent=c,
                )
                if ck.prefill_efficiency is None and ck.prefill_gflops_per_gbs is None:
                    ck = ck.model_copy(update={"prefill_gflops_per_gbs": c.prefill_gflops_per_gbs})
                backends[f"{backend}/{kind}"] = ck
    for key, c in list(backends.items()):
        parent_key = key.split("/")[0]
        if "/" in key and c.prefill_vector_efficiency is None:
            backends[key] = c.model_copy(
                update={"prefill_vector_efficiency": backends[parent_key].prefill_vector_efficiency}
            )
    # the launch cost first: a row on a GPU run without CUDA graphs pays it, so the MoE layer
    # cost its row implies is what is left once it is paid
    backends = _with_launch_costs(backends, data.graph_pairs)
    backends = _with_moe_costs(backends, pairs, pooled_gpu)
    backends = _with_moe_prefill(backends, pairs, pooled_gpu)
    backends = _with_chip_prompt(backends, pairs, pooled_gpu, data.db_same_chip)
    backends, pooled_gpu = _with_depth_scales(backends, pooled_gpu, data)
    if data.cpu_kernels is not None:  # every CPU entry: its per-thread rate is the repacked one
        speeds = tuple(sorted(data.cpu_kernels.speeds.items()))
        decode = tuple(sorted(data.cpu_kernels.decode_speeds.items()))
        by_vendor = tuple(
            (v, tuple(sorted(m.decode_speeds.items()))) for v, m in sorted(data.cpu_kernels.decode_by_vendor.items())
        )
        update = {
            "prefill_kernel_speed": speeds,
            "decode_kernel_speed": decode,
            "decode_kernel_speed_by_vendor": by_vendor,
        }
        backends = {k: c.model_copy(update=update) if k.split("/")[0] == "cpu" else c for k, c in backends.items()}
    calib = CalibrationSet(
        name="llama-bench-fit-v1",
        data_file=data_file,
        data_sha256=sha256,
        method=(
            "decode: least squares on 1/tg = (bytes/bandwidth)/efficiency + layers x cost per layer "
            "(CUDA: MB at the effective bandwidth; host-dispatch backends: a time, an architecture's own "
            "where its dense rows span two sizes; where one efficiency puts it at 0, from each architecture's "
            "rows of several sizes with an efficiency per architecture), relative error weighted by recency, "
            "on dense rows of GDDR/LPDDR devices; GPUs with HBM: a share of that efficiency and (rows of two sizes on one card) a scale "
            "of the cost per layer, least squares on their dense rows; MoE: median cost per MoE layer and token, as MB streamed at the "
            "effective bandwidth, implied by the MoE fit rows per backend (GPU backends without any: "
            "the largest backend median), plus, on CUDA architectures llama.cpp runs without CUDA "
            "graphs, the median time per MoE layer the graphs save (graphs off/on pairs); MoE prefill: each expert "
            "product costs as if it had t0 more tokens (median t0 the backend's MoE prompt rows imply; on its discrete "
            "cards t0 growing with the tokens each product carries, the slope of t0 on them where its rows span 4x, "
            "CUDA); prefill: median achieved FLOP/s per matrix TFLOPS (dense rows where "
            "there are any; F16/BF16 rows, in every prompt factor, divided by the F16 speed-up their device and "
            "build show over its quantized rows; a backend's own from its discrete GPUs where it has discrete prompt rows, "
            "unified-memory chips' in their class and architecture entries; capped at the GFLOP/s per watt of "
            "board power of the architecture's most power-efficient discrete run, three runs or more, the "
            "share then the median of the runs that cap did not hold; quantized CUDA prompt rows measured "
            "before int8 tensor-core kernels became the default, 2024-06, left out), per GB/s, or per CPU thread; "
            "decode at depth (GPUs): the K/V bytes attention reads at the backend's median cost relative to "
            "streaming them (a quantized cache's at its own multiple of that), and a prompt's attention FLOPs at "
            "their median cost relative to the weights' products (integrated and discrete GPUs apart, each "
            "from its kind's runs of the backend, else of every backend), from runs of one model at several "
            "depths (every backend's median where a backend has none); CPU decode of routed experts kept in RAM "
            "beside a GPU (--n-cpu-moe): the median share of the dense decode bandwidth public runs imply"
        ),
        holdout=(
            "none: every row is fitted (bench/accuracy_speed.py predicts each row by a fit without it)"
            if not held
            else "within each backend, rows sorted by id, every third row (index % 3 == 2) held out"
            if without is None and shuffle is None and fold == 2
            else f"held out: {len(held)} rows ({'listed' if without is not None else f'fold {fold}'})"
        ),
        backends=backends,
        pooled=pooled_gpu.model_copy(update={"backend": "pooled"}),
        holdout_ids=tuple(r.id for r in held),
    )
    return _with_host_copy(_with_offload_efficiency(calib, data), data)


def _with_host_copy(calib: CalibrationSet, data: BenchData) -> CalibrationSet:
    """Every entry of a backend with a cited host-to-device copy rate carries it."""
    if not data.host_copy:
        return calib
    backends = {
        k: c.model_copy(update={"offload_copy_gbs": data.host_copy[k.split("/")[0]].gbs})
        if k.split("/")[0] in data.host_copy
        else c
        for k, c in calib.backends.items()
    }
    return calib.model_copy(update={"backends": backends})


def _moe_layer_mb(row: BenchRow, dev: BenchDevice, calib: CalibrationSet) -> float | None:
    """The cost per MoE layer one MoE row implies, given its class's dense fit, in MB
    streamed at the device's effective bandwidth:
    1/tg = (bytes + moe_layers × cost) / effective bandwidth + overhead."""
    if not (row.tg128 and row.moe_layers and not row.host_limited):
        return None
    w = row_work(row, dev)
    flat = calib.model_copy(
        update={"backends": {k: c.model_copy(update={"moe_layer_mb": 0.0}) for k, c in calib.backends.items()}}
    )
    s, _ = decode_step_seconds([w], flat, depth=0)
    return (1.0 / row.tg128 - s) * effective_bandwidth(w.device, flat) / row.moe_layers / 1e6


# Backends whose MoE costs are not lent to others: a CPU's, and SYCL's, whose MoE kernels are
# its own and still moving (an Arc Pro B60 decoded Qwen3.6-35B-A3B at 50 tok/s in May 2026, 63
# on June master and 69 with PR #24452): lent as the largest median, they put an RTX 3090 on
# Vulkan at six times ROCm's cost per MoE layer
UNLENT_MOE_BACKENDS = ("cpu", "sycl")


def _entry_family(key: str, pairs) -> str | None:
    """The GPU family a calibration entry describes: ``backend/family[/kind]``, or a chip's
    (``backend/chip/<db_id>``) as its rows' device states it; None for a backend's own entry."""
    parts = key.split("/")
    if len(parts) < 2:
        return None
    if parts[1] != "chip":
        return parts[1]
    return next((d.family for _, d in pairs if d.db_id == parts[2]), None) if len(parts) > 2 else None


def _per_backend_median(
    backends: dict[str, BackendCalibration],
    pairs,
    pooled_gpu: BackendCalibration,
    implied: Callable[[BenchRow, BenchDevice, CalibrationSet], float | None],
    field: str,
    ndigits: int,
    borrow: bool = True,
) -> dict[str, BackendCalibration]:
    """Set ``field`` on each calibration entry to the median its backend's rows imply
    (``implied``; never below 0). A GPU backend without any takes the largest backend
    median (of backends not in ``UNLENT_MOE_BACKENDS``) (a MoE must not look faster on a backend nobody measured MoE on than on one
    that was), or, with ``borrow`` False, None; CPUs without rows keep 0. An entry whose devices are all of one memory kind
    (discrete cards, or unified chips) takes the median of that kind's rows on its backend
    where there are any: a MoE's extra costs differ between a card with its own fast memory
    and a chip sharing a narrow bus with its CPU, which one median of both mixes. Where its
    backend has rows of the other kind only, it takes the largest median of its own kind on
    any backend instead (with ``borrow``): Vulkan's MoE rows are all Strix Halo's, and their
    near-zero costs made a discrete RTX 3090 on Vulkan prompt gpt-oss-20b 2.8x faster than on
    CUDA."""
    one = _tmp_set(backends, pooled_gpu)
    by_backend: dict[str, list[float]] = {}
    by_kind: dict[tuple[str, str], list[float]] = {}
    by_family: dict[tuple[str, str], list[float]] = {}  # OWN_MOE_FAMILIES only
    kinds: dict[str, set[str]] = {}
    # backends with rows of other families: there an own family's rows set only its own costs
    mixed = {r.backend for r, d in pairs if d.family not in OWN_MOE_FAMILIES}
    for r, d in pairs:
        fam_keys = (f"{r.backend}/{d.family}", f"{r.backend}/{d.family}/{d.kind}") if d.family else ()
        for key in (*fam_keys, f"{r.backend}/{d.kind}"):
            kinds.setdefault(key, set()).add(d.kind)
        v = implied(r, d, one)
        if v is None:
            continue
        if d.family in OWN_MOE_FAMILIES:
            by_family.setdefault((r.backend, d.family), []).append(v)
            if r.backend in mixed:
                continue
        by_backend.setdefault(r.backend, []).append(v)
        by_kind.setdefault((r.backend, d.kind), []).append(v)
    medians = {b: max(0.0, statistics.median(vs)) for b, vs in by_backend.items()}
    borrowed = max((v for b, v in medians.items() if b not in UNLENT_MOE_BACKENDS), default=0.0)
    # the same, per memory kind: what a kind's entry takes where its backend has rows of the
    # other kind only
    kind_borrowed: dict[str, float] = {}
    for (b, kind), vs in by_kind.items():
        if b not in UNLENT_MOE_BACKENDS:
            kind_borrowed[kind] = max(kind_borrowed.get(kind, 0.0), max(0.0, statistics.median(vs)))
    out = {}
    for key, c in backends.items():
        backend = key.split("/")[0]
        if backend not in medians and not borrow:
            out[key] = c.model_copy(update={field: None})
            continue
        v = medians.get(backend, 0.0 if backend == "cpu" else borrowed)
        ks = kinds.get(key, set())
        kind = next(iter(ks)) if len(ks) == 1 else None
        same_kind = by_kind.get((backend, kind)) if kind else None
        if same_kind:
            v = max(0.0, statistics.median(same_kind))
        elif kind and backend in medians and backend != "cpu" and kind in kind_borrowed and borrow:
            # rows of the other kind only: a discrete card on Vulkan does not take a Strix
            # Halo's cost, whose experts read from the memory its dense layers do
            v = kind_borrowed[kind]
        own = by_family.get((backend, _entry_family(key, pairs) or "")) if by_family else None
        if own:
            v = max(0.0, statistics.median(own))
        out[key] = c.model_copy(update={field: round(v, ndigits)})
    return out


def _moe_layer_ms(row: BenchRow, dev: BenchDevice, calib: CalibrationSet) -> float | None:
    """The time per MoE layer one MoE row implies on a backend that dispatches each kernel
    from the host, in ms: 1/tg = dense step + moe_layers × time."""
    if not (row.tg128 and row.moe_layers and not row.host_limited):
        return None
    w = row_work(row, dev)
    flat = calib.model_copy(
        update={
            "backends": {
                k: c.model_copy(update={"moe_layer_mb": 0.0, "moe_layer_launch_ms": 0.0})
                for k, c in calib.backends.items()
            }
        }
    )
    s, _ = decode_step_seconds([w], flat, depth=0)
    return (1.0 / row.tg128 - s) / row.moe_layers * 1000.0


def _host_dispatch(backend: str) -> bool:
    """A GPU backend whose decode launches each kernel from the host (not CUDA's graphs)."""
    b = backend.split("/")[0]
    return b != "cpu" and not _graphs(b)


def _with_moe_costs(backends: dict[str, BackendCalibration], pairs, pooled_gpu: BackendCalibration):
    """Each calibration entry's cost per MoE layer, from its backend's MoE fit rows (one size
    per backend, not per architecture: few architectures have MoE rows of their own). On
    CUDA, which replays a step as one graph, the MoE layer's extra kernels run at the GPU's
    speed: MB at its effective bandwidth. On backends that dispatch every kernel from the
    host (ROCm, Vulkan, Metal, SYCL) they cost a time of their own, as a dense layer's
    kernels do there (decode_layer_ms): LFM2-8B-A1B's MoE layers cost an RX 7900 XTX (960
    GB/s) about 67 us each on ROCm (PR #26284), Qwen3-30B-A3B's a Radeon 8060S (256 GB/s)
    about 50, where MB at each one's bandwidth would put the 7900 XTX's at a quarter of the
    8060S's. Each by memory kind where a backend has both (:func:`_per_backend_median`): a DGX
    Spark's MoE layers (CUDA, 273 GB/s unified) cost about what a discrete card's do in time,
    far fewer MB at its narrow bus (ggml-org's benches/dgx-spark.md)."""
    out = _per_backend_median(backends, pairs, pooled_gpu, _moe_layer_mb, "moe_layer_mb", 3)
    host = [(r, d) for r, d in pairs if _host_dispatch(r.backend)]
    if not host:
        return out
    hosted = {k: c for k, c in out.items() if _host_dispatch(k)}
    timed = _per_backend_median(hosted, host, pooled_gpu, _moe_layer_ms, "moe_layer_launch_ms", 4)
    for key, c in timed.items():
        out[key] = c.model_copy(update={"moe_layer_mb": 0.0})
    return _with_moe_type_costs(out, host, pooled_gpu)


def _with_moe_type_costs(backends: dict[str, BackendCalibration], host, pooled_gpu: BackendCalibration):
    """An own family's MoE time per expert type (OWN_MOE_FAMILIES, host-dispatch backends): a
    type with two or more rows of its own, beside rows of other types, gets its median
    (``moe_layer_launch_ms_by_type``) and the other types the median of theirs. On one Arc Pro
    B70 and one SYCL build, gpt-oss-20b's MXFP4 experts decoded at 52.8 tok/s and Qwen3.6-35B-A3B's
    Q4_K ones at 72.2 (kyuz0/intel-b70-ai-toolboxes, May 2026); July's master kept the split
    (50.4 against Qwen3-30B-A3B's 93.0): one median put the MXFP4 file 50% fast and the Q4_K
    one 45% slow."""
    one = _tmp_set(backends, pooled_gpu)
    groups: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r, d in host:
        if d.family not in OWN_MOE_FAMILIES:
            continue
        v = _moe_layer_ms(r, d, one)
        if v is not None:
            groups.setdefault((r.backend, d.family), {}).setdefault(r.routed_type, []).append(v)
    costs: dict[tuple[str, str], tuple[float, tuple[tuple[str, float], ...]]] = {}
    for fam, by_type in groups.items():
        own = {t: vs for t, vs in by_type.items() if len(vs) >= 2}
        if not own or len(by_type) < 2:
            continue
        # the type with the most rows stays the default; the others with two or more get their own
        default_type = max(by_type, key=lambda t: len(by_type[t]))
        typed = tuple(
            sorted((t, round(max(0.0, statistics.median(vs)), 4)) for t, vs in own.items() if t != default_type)
        )
        if not typed:
            continue
        own_types = {t for t, _ in typed}
        rest = [v for t, vs in by_type.items() if t not in own_types for v in vs]
        costs[fam] = (round(max(0.0, statistics.median(rest)), 4), typed)
    out = dict(backends)
    for key, c in backends.items():
        fam = (key.split("/")[0], _entry_family(key, host) or "")
        if fam in costs:
            default, typed = costs[fam]
            out[key] = c.model_copy(update={"moe_layer_launch_ms": default, "moe_layer_launch_ms_by_type": typed})
    return out


def _implied_moe_prefill_tokens(
    row: BenchRow, dev: BenchDevice, calib: CalibrationSet, float_experts: bool
) -> float | None:
    """The extra tokens per expert product one MoE prompt row implies, for rows whose routed
    experts are float (F16/BF16) or quantized as asked: with t tokens per expert the routed
    experts ran at share = t / (t + t0) of the dense rate, where
    t_measured = (dense FLOPs + expert FLOPs / share) / effective compute."""
    if not (row.pp512 and row.routed_fraction and row.experts_used_share and not row.host_limited):
        return None
    if superseded_prompt(row, dev):
        return None
    w = row_work(row, dev)
    if w.experts_float != float_experts:
        return None
    try:
        compute = work_compute(w, calib)
    except SizingError:
        return None
    dense = w.flops_per_token - w.expert_flops_per_token
    spare = compute / row.pp512 - dense  # FLOP-time left for the experts, per token
    if spare <= 0:
        return None
    share = w.expert_flops_per_token / spare
    t = row_ubatch(row) * row.experts_used_share
    return t * (1.0 / share - 1.0)


def _moe_prefill_tokens(row: BenchRow, dev: BenchDevice, calib: CalibrationSet) -> float | None:
    """t0 from a row whose routed experts are quantized (llama.cpp's gathered MoE kernel)."""
    return _implied_moe_prefill_tokens(row, dev, calib, float_experts=False)


def _moe_prefill_tokens_float(row: BenchRow, dev: BenchDevice, calib: CalibrationSet) -> float | None:
    """t0 from a row whose routed experts are F16/BF16."""
    return _implied_moe_prefill_tokens(row, dev, calib, float_experts=True)


MOE_SLOPE_ROWS = 4  # discrete MoE prompt rows of one backend before t0 gets a slope
MOE_SLOPE_SPREAD = 4.0  # ... whose tokens per expert product span at least this ratio


def _row_expert_tokens(row: BenchRow) -> float:
    """Tokens each routed expert's product carries in the row's prompt micro-batches."""
    return row_ubatch(row) * (row.experts_used_share or 0.0)


def _moe_prefill_slopes(pairs, calib: CalibrationSet) -> dict[str, tuple[float, float]]:
    """Per backend, how much the extra tokens per expert product (t0) grow with the tokens the
    product carries (t), on its discrete cards' quantized-expert prompt rows, and the median t
    of those rows: the least-squares slope of t0 on t where MOE_SLOPE_ROWS rows span
    MOE_SLOPE_SPREAD x in t, in [0, 5]. On
    CUDA an RTX 3090 prompts gpt-oss-20b only 9% faster at -ub 2048 than at 512 (t 256 against
    64), where one t0 for every t put it 75% faster: the gathered expert kernel keeps a share
    of the dense rate of its own however many tokens it gets."""
    by: dict[str, list[tuple[float, float]]] = {}
    for r, d in pairs:
        if d.kind != "gpu":
            continue
        v = _moe_prefill_tokens(r, d, calib)
        if v is not None:
            by.setdefault(r.backend, []).append((_row_expert_tokens(r), v))
    out = {}
    for backend, pts in by.items():
        ts = [t for t, _ in pts]
        if len(pts) < MOE_SLOPE_ROWS or min(ts) <= 0 or max(ts) / min(ts) < MOE_SLOPE_SPREAD:
            continue
        slope = float(np.polyfit(ts, [v for _, v in pts], 1)[0])
        out[backend] = (round(min(5.0, max(0.0, slope)), 3), round(statistics.median(ts), 1))
    return out


def _with_moe_prefill(backends: dict[str, BackendCalibration], pairs, pooled_gpu: BackendCalibration):
    """Each backend's extra tokens per expert product in prefill, from its MoE prompt rows,
    by memory kind where its rows have both (:func:`_per_backend_median`). A unified chip's
    routed experts read from the same memory its dense layers do and wait no longer for a
    tile than those: on ROCm the Radeon 8060S's MoE prompts run at its dense rate or above
    (gpt-oss-120b, Qwen3-30B-A3B), while an RX 7900 XTX's experts run at about half of it
    (gpt-oss-20b, PR #18537)."""
    slopes = _moe_prefill_slopes(pairs, _tmp_set(backends, pooled_gpu))
    backends = _per_backend_median(backends, pairs, pooled_gpu, _moe_prefill_tokens, "moe_prefill_tokens", 2)
    # the median t0 holds at the median tokens per expert of the rows the slope came from
    out = {}
    for key, c in backends.items():
        slope, at = slopes.get(key.split("/")[0], (0.0, 0.0))
        out[key] = c.model_copy(update={"moe_prefill_tokens_slope": slope, "moe_prefill_tokens_at": at})
    backends = out
    # experts stored as F16/BF16: on a GPU, llama.cpp gathers quantized experts into one
    # matrix kernel, float ones take a path with a larger fixed cost per expert (on one
    # Strix Halo 8060S, ROCm 2026: two BF16 MoE rows imply ~160-250 extra tokens per expert
    # product, its MXFP4 gpt-oss rows ~30-55). Where a backend has no such rows the
    # quantized figure stands (None)
    return _per_backend_median(
        backends, pairs, pooled_gpu, _moe_prefill_tokens_float, "moe_prefill_tokens_float", 2, borrow=False
    )


MIN_CHIP_PROMPT_ROWS = 2  # a chip's own prompt runs on one backend before they set its prompt rate
PROMPT_RATE_FIELDS = (
    "prefill_efficiency",
    "prefill_gflops_per_watt",
    "prefill_gflops_per_gbs",
    "prefill_vector_efficiency",
    "prefill_gflops_per_core",
)


def _with_chip_prompt(
    backends: dict[str, BackendCalibration],
    pairs: list[tuple[BenchRow, BenchDevice]],
    pooled_gpu: BackendCalibration,
    same_chip: dict[str, tuple[str, ...]],
) -> dict[str, BackendCalibration]:
    """A GPU chip with prompt runs of its own on a backend (two or more) prompts at the rate
    they show: its entry is the one it would use, every prompt rate scaled by the median of
    measured / predicted over those runs. A share per architecture mixes chips whose power
    and clocks differ several-fold: on RDNA 3.5 a handheld's Radeon 890M at a few tens of
    watts and a Strix Halo box's 8060S at 120 W. The decode factors stay the architecture's.
    The entry is written for every memory size the database sells the chip in.

    The rate comes from the chip's dense runs where it has two or more (a MoE run also carries
    its experts' extra cost). A unified-memory chip's own MoE runs then set that extra cost at
    this rate (:func:`_chip_moe_prefill`): fitted at its architecture's slower rate, the
    8060S's cost came out near nothing, so at its own rate its MoE prompts were predicted
    1.7-2.7x too fast. Discrete cards keep their backend's figure, which predicted their
    held-out MoE prompts better (CUDA three-fold P90 31% against 38% with one per card)."""
    tmp = _tmp_set(backends, pooled_gpu)
    by: dict[tuple[str, str], list[tuple[BenchRow, BenchDevice]]] = {}
    for r, d in pairs:
        if d.kind != "cpu" and d.db_id and r.pp512 and not r.host_limited and not superseded_prompt(r, d):
            by.setdefault((r.backend, d.db_id), []).append((r, d))
    out = dict(backends)
    for (backend, chip), rows in sorted(by.items()):
        if len(rows) < MIN_CHIP_PROMPT_ROWS:
            continue
        dense = _prompt_ratios([(r, d) for r, d in rows if not r.routed_fraction], tmp)
        own_moe = [(r, d) for r, d in rows if r.routed_fraction and d.kind == "unified"]
        ratios = _prompt_ratios(rows, tmp)
        if len(ratios) < MIN_CHIP_PROMPT_ROWS:
            continue
        # one dense run sets the rate where the chip's MoE runs then set their own cost
        if len(dense) >= MIN_CHIP_PROMPT_ROWS or (dense and len(own_moe) >= MIN_CHIP_PROMPT_ROWS):
            ratios = dense
        scale = statistics.median(ratios)
        base = tmp.for_device(row_device(*rows[0]))
        update: dict[str, object] = {
            f: round(getattr(base, f) * scale, 4) for f in PROMPT_RATE_FIELDS if getattr(base, f) is not None
        }
        update["n_prefill"] = len(ratios)
        update["prefill_spread"] = _quantiles([x / scale for x in ratios])
        keys = [f"{backend}/chip/{cid}" for cid in same_chip.get(chip, (chip,))]
        for key in keys:
            out[key] = base.model_copy(update={**update, "backend": key})
        moe = _chip_moe_prefill(own_moe, _tmp_set(out, pooled_gpu))
        for key in keys:
            out[key] = out[key].model_copy(update=moe)
    return out


def _chip_moe_prefill(rows: list[tuple[BenchRow, BenchDevice]], calib: CalibrationSet) -> dict[str, float]:
    """The extra tokens per expert product a chip's own MoE prompt runs imply at the chip's
    prompt rate (the median of its runs with quantized experts, and apart of those with
    F16/BF16 ones); a kind with fewer than two runs keeps its architecture's figure: one run
    of one model fixes the cost at that model's tokens per expert only, and carried to a
    model with four times as many experts it cut the 8060S's Vulkan gpt-oss-120b prompt
    estimate from 241 to 89 tok/s."""
    update: dict[str, float] = {}
    for field, implied in (
        ("moe_prefill_tokens", _moe_prefill_tokens),
        ("moe_prefill_tokens_float", _moe_prefill_tokens_float),
    ):
        vs = [v for r, d in rows if (v := implied(r, d, calib)) is not None]
        if len(vs) >= MIN_CHIP_PROMPT_ROWS:
            update[field] = round(max(0.0, statistics.median(vs)), 2)
    return update


def depth_run_scale(run: DepthRun, calib: CalibrationSet) -> float:
    """The cost of attention's K/V reads relative to streaming them at the device's effective
    bandwidth, that one depth run implies: least squares through the origin of the extra time
    per token beyond the run's own depth-0 speed on the KV bytes read at each depth over that
    bandwidth (a run's base, measured, leaves the weights and fixed costs out of it)."""
    bw = effective_bandwidth(run.model_work.device, calib)
    half = run.tokens / 2.0  # a test at depth d decodes over d .. d + tokens
    base = 1.0 / run.tg[0]
    xs = [(run.kv_bytes(d + half) - run.kv_bytes(half)) / bw for d in run.tg if d > 0]
    ys = [1.0 / t - base for d, t in run.tg.items() if d > 0]
    sxx = sum(x * x for x in xs)
    if sxx <= 0:
        raise SizingError(f"depth run {run.id!r}: its model reads no more K/V at depth (no full-attention layers)")
    return sum(x * y for x, y in zip(xs, ys)) / sxx


def with_backend_scales(calib: CalibrationSet, backend: str, **scales: float) -> CalibrationSet:
    """``calib`` with every entry of ``backend`` at the given depth scales (a run left out of
    its backend's median is predicted with the others'), on either memory kind."""
    if "prefill_attn_flop_scale" in scales:
        scales = {**scales, "prefill_attn_flop_scale_unified": scales["prefill_attn_flop_scale"]}
    backends = {k: c.model_copy(update=scales) if k.split("/")[0] == backend else c for k, c in calib.backends.items()}
    return calib.model_copy(update={"backends": backends})


def predicted_depth_ratios(run: DepthRun, calib: CalibrationSet) -> dict[int, float]:
    """Decode speed at each of the run's depths relative to its depth 0, as the speed model
    predicts it (each test decodes over depth .. depth + tokens: its middle is taken)."""
    w = run.model_work
    half = run.tokens // 2
    base = decode_step_seconds([w], calib, depth=half)[0]
    return {d: base / decode_step_seconds([w], calib, depth=d + half)[0] for d in sorted(run.tg)}


def _prompt_times(run: DepthRun, calib: CalibrationSet) -> dict[int, float]:
    """Predicted seconds for the run's prompt at each of its prompt depths."""
    w = run.model_work
    return {d: prefill_seconds([w], calib, run.prompt_tokens, n_ubatch=run.ubatch, depth=d) for d in sorted(run.pp)}


def depth_run_prompt_scale(run: DepthRun, calib: CalibrationSet) -> float:
    """The cost of attention's FLOPs relative to the weights' products that one run's prompts
    at depth imply: least squares through its deeper prompts' extra time, each as a share of
    the run's own depth-0 prompt time (so a device whose overall prompt rate the model misses
    still shows how much of a prompt attention takes), on the share the model gives attention."""
    t0 = _prompt_times(run, with_backend_scales(calib, run.backend, prefill_attn_flop_scale=0.0))
    t1 = _prompt_times(run, with_backend_scales(calib, run.backend, prefill_attn_flop_scale=1.0))
    meas = {d: run.prompt_tokens / v for d, v in run.pp.items()}
    xs, ys = [], []
    for d in run.pp:
        if d == 0:
            continue
        base = (t0[d] - t0[0]) / t1[0]  # the cache's read, with no attention arithmetic
        slope = ((t1[d] - t1[0]) - (t0[d] - t0[0])) / t1[0]
        xs.append(slope)
        ys.append((meas[d] - meas[0]) / meas[0] - base)
    sxx = sum(x * x for x in xs)
    if sxx <= 0:
        raise SizingError(f"depth run {run.id!r}: its model does no more attention at depth")
    return sum(x * y for x, y in zip(xs, ys)) / sxx


def predicted_prompt_ratios(run: DepthRun, calib: CalibrationSet) -> dict[int, float]:
    """Prompt speed at each of the run's depths relative to its depth 0, as predicted."""
    t = _prompt_times(run, calib)
    return {d: t[0] / t[d] for d in t}


class LeftOutCheck(BaseModel):
    """One run measured, predicted with a cost the other runs imply (the run left out of their
    median), and predicted without that cost."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    measured: float
    predicted: float
    unscaled: float

    @property
    def error(self) -> float:
        return abs(self.predicted - self.measured) / self.measured

    @property
    def unscaled_error(self) -> float:
        return abs(self.unscaled - self.measured) / self.measured


class DepthCheck(LeftOutCheck):
    """One depth run's slowdown at its deepest depth, predicted with the cost its backend's
    other runs imply, and with none (scale 1)."""

    backend: str
    depth: int
    scale: float


def depth_checks(data: BenchData, calib: CalibrationSet, what: Literal["decode", "prompt"]) -> list[DepthCheck]:
    """Every depth run (with prompts at depth, for ``prompt``) whose backend has other runs,
    checked as :class:`DepthCheck` says: the decode cost of attention's K/V reads, or the
    prompt cost of its FLOPs."""
    out = []
    for run in data.depth_runs:
        speeds = run.tg if what == "decode" else run.pp
        others = [
            o for o in data.depth_runs if o.backend == run.backend and o.id != run.id and (what == "decode" or o.pp)
        ]
        if not speeds or not others:
            continue
        if what == "decode":
            # unquantized caches' cost, then (for a quantized cache) its own over it
            implied = {o.id: depth_run_scale(o, calib) for o in others}
            plain = [implied[o.id] for o in others if not o.model_work.kv_quantized]
            if not plain:
                continue
            scale = statistics.median(plain)
            quant = 1.0
            if run.model_work.kv_quantized:
                quantized = [implied[o.id] / scale for o in others if o.model_work.kv_quantized]
                if not quantized:
                    continue
                quant = statistics.median(quantized)
            pred = predicted_depth_ratios(
                run, with_backend_scales(calib, run.backend, decode_kv_time_scale=scale, decode_kv_quant_scale=quant)
            )
            bare = predicted_depth_ratios(
                run, with_backend_scales(calib, run.backend, decode_kv_time_scale=1.0, decode_kv_quant_scale=1.0)
            )
            scale *= quant
        else:
            # as the fit picks: the backend's runs on the same memory kind where it has any
            scale = statistics.median(depth_run_prompt_scale(o, calib) for o in (_same_kind(others, run) or others))
            pred = predicted_prompt_ratios(run, with_backend_scales(calib, run.backend, prefill_attn_flop_scale=scale))
            bare = predicted_prompt_ratios(run, with_backend_scales(calib, run.backend, prefill_attn_flop_scale=1.0))
        deepest = max(speeds)
        out.append(
            DepthCheck(
                run_id=run.id,
                backend=run.backend,
                depth=deepest,
                measured=speeds[deepest] / speeds[0],
                predicted=pred[deepest],
                unscaled=bare[deepest],
                scale=scale,
            )
        )
    return out


def _kind(run: DepthRun) -> str:
    """The run's device memory kind: "unified" (an integrated GPU) or "gpu"."""
    return "unified" if run.model_work.device.kind == "unified" else "gpu"


def _same_kind(runs: list[DepthRun], run: DepthRun) -> list[DepthRun]:
    return [o for o in runs if _kind(o) == _kind(run)]


def _with_depth_scales(
    backends: dict[str, BackendCalibration], pooled: BackendCalibration, data: BenchData
) -> tuple[dict[str, BackendCalibration], BackendCalibration]:
    """Every GPU entry's depth costs, each the median its backend's runs imply, else every
    run's (attention kernels read the cache in short rows on every GPU): decode_kv_time_scale
    from unquantized caches, decode_kv_quant_scale from quantized ones over that, and
    prefill_attn_flop_scale from prompts at depth, for discrete cards and integrated GPUs
    apart (``prefill_attn_flop_scale_unified``; each kind's runs of the backend, else every
    backend's of that kind): on ROCm a Strix Halo's attention FLOPs cost 2-3 times an RX
    7900 XTX's or an R9700's. The decode cost is kept per backend only: discrete CUDA cards'
    runs spread 0.8-2.4 from one model to the next, and a scale per kind fitted them worse.
    CPU entries keep 1 (their attention has its own term)."""
    if not data.depth_runs:
        return backends, pooled
    one = CalibrationSet(
        name="kv", data_file="", data_sha256="", method="", holdout="", backends=backends, pooled=pooled
    )
    kv: dict[tuple[str, str], list[float]] = {}
    attn: dict[tuple[str, str], list[float]] = {}
    for run in data.depth_runs:
        if not run.model_work.kv_quantized:
            kv.setdefault((run.backend, ""), []).append(depth_run_scale(run, one))
        if run.pp:
            attn.setdefault((run.backend, _kind(run)), []).append(depth_run_prompt_scale(run, one))

    def pick(by: dict[tuple[str, str], list[float]], backend: str, kind: str, top: float) -> float | None:
        # within the field's bounds (BackendCalibration): a run far outside them says more
        # about that run than about the backend
        if not by:
            return None
        xs = (
            by.get((backend, kind))
            or [x for (_, k), v in by.items() if k == kind for x in v]
            or [x for (b, _), v in by.items() if b == backend for x in v]
            or [x for v in by.values() for x in v]
        )
        return round(min(max(statistics.median(xs), 0.1), top), 3)

    # a quantized cache: its runs' cost over their backend's unquantized one
    quant: dict[tuple[str, str], list[float]] = {}
    for run in data.depth_runs:
        if run.model_work.kv_quantized:
            base = pick(kv, run.backend, "", 5.0) or 1.0
            quant.setdefault((run.backend, ""), []).append(depth_run_scale(run, one) / base)

    def scales(backend: str) -> dict[str, float | None]:
        update = {
            "decode_kv_time_scale": pick(kv, backend, "", 5.0),
            "decode_kv_quant_scale": pick(quant, backend, "", 10.0),
            "prefill_attn_flop_scale": pick(attn, backend, "gpu", 10.0),
            "prefill_attn_flop_scale_unified": pick(attn, backend, "unified", 10.0),
        }
        return {k: v for k, v in update.items() if v is not None}

    out = {}
    for key, c in backends.items():
        backend = key.split("/")[0]
        out[key] = c if backend == "cpu" else c.model_copy(update=scales(backend))
    update = scales("")
    return out, pooled.model_copy(update=update)


def _with_launch_costs(backends: dict[str, BackendCalibration], graph_pairs: tuple[GraphPair, ...]):
    """CUDA architectures on which llama.cpp runs without CUDA graphs: each MoE layer also
    pays the median time the graphs save a MoE model's layer on such a GPU (measured with
    graphs off and on, same build). Only architectures with such pairs get it."""
    by_family: dict[str, list[float]] = {}
    for p in graph_pairs:
        if p.moe:
            by_family.setdefault(p.family, []).append(p.layer_seconds)
    out = dict(backends)
    for fam, ts in by_family.items():
        key = f"cuda/{fam}"
        if key in out:
            ms = round(max(0.0, statistics.median(ts)) * 1000.0, 4)
            out[key] = out[key].model_copy(update={"moe_layer_launch_ms": ms})
    return out


def offload_step_seconds(run: OffloadRun, calib: CalibrationSet) -> float:
    """The decode step the speed model predicts for an offload run: the run's model, quant and
    --n-cpu-moe placed by the solver on its GPU(s) and host, at the run's RAM bandwidth."""
    return 1.0 / offload_plan(run, calib).speed.decode_tokens_per_s.expected  # type: ignore[union-attr]


def offload_prompt_speed(run: OffloadRun, calib: CalibrationSet, n_ubatch: int) -> float:
    """The prompt tokens/s the speed model predicts for an offload run at ``n_ubatch``."""
    speed = offload_plan(run, calib, n_ubatch).speed
    assert speed is not None
    return speed.prefill_tokens_per_s.expected


def offload_plan(run: OffloadRun, calib: CalibrationSet, n_ubatch: int = 512):
    """The solver's plan for an offload run (a SizingError naming the run where it cannot)."""
    from sizing.core.machine import HostSpec, machine_from_gpu
    from sizing.core.placement import PlacementOptions
    from sizing.core.solver import solve
    from sizing.hardware.db import load_gpus
    from sizing.sources.catalog import load_catalog

    host = HostSpec(
        name=f"{run.ram_gb:g} GB at {run.ram_gbs:g} GB/s",
        ram_bytes=int(run.ram_gb * GIB),
        bandwidth_gbs=run.ram_gbs,
        threads=run.threads,
    )
    try:
        arch = load_catalog().get(run.model)
    except (SizingError, KeyError, LookupError) as e:
        raise SizingError(f"offload run {run.id!r}, field model: {e}") from e
    gpu = load_gpus().match(run.gpu).gpu
    if gpu is None:
        raise SizingError(f"offload run {run.id!r}, field gpu: no GPU in data/gpus.yaml matches {run.gpu!r}")
    hw = machine_from_gpu(gpu, run.gpus, host=host)
    ctx = max(4096, 2 * run.prompt_tokens)
    plan = solve(
        arch,
        run.quant,
        ctx,
        hw,
        calib,
        options=PlacementOptions(n_cpu_moe=run.n_cpu_moe),
        n_ubatch=n_ubatch,
        prompt_tokens=run.prompt_tokens,
    )
    if not plan.fits or plan.speed is None:
        raise SizingError(f"offload run {run.id!r}: the solver does not place it ({plan.placement.how})")
    return plan


def with_offload_efficiency(calib: CalibrationSet, efficiency: float) -> CalibrationSet:
    """``calib`` with every CPU entry's offload_expert_efficiency at ``efficiency``."""
    backends = {
        k: c.model_copy(update={"offload_expert_efficiency": efficiency}) if k.split("/")[0] == "cpu" else c
        for k, c in calib.backends.items()
    }
    return calib.model_copy(update={"backends": backends})


def offload_run_efficiency(run: OffloadRun, calib: CalibrationSet) -> float:
    """The share of the CPU's dense decode bandwidth at which one run's experts streamed: its
    measured step less the model's with the experts at the full share, over the extra time
    each unit of 1/share adds (the model's step at share 1/2 less at 1)."""
    full = offload_step_seconds(run, with_offload_efficiency(calib, 1.0))
    half = offload_step_seconds(run, with_offload_efficiency(calib, 0.5))
    extra = 1.0 / run.tg - full
    per = half - full  # seconds per unit of (1/share - 1)
    if per <= 0:
        raise SizingError(f"offload run {run.id!r}: no routed experts are read from RAM in its placement")
    return min(1.5, max(0.2, 1.0 / (1.0 + extra / per)))


def _with_offload_efficiency(calib: CalibrationSet, data: BenchData) -> CalibrationSet:
    """Every CPU entry's offload_expert_efficiency: the median its public --n-cpu-moe runs
    imply (those with an ``excluded`` reason left out); unchanged without any."""
    runs = [r for r in data.offload_runs if not r.excluded]
    if not runs:
        return calib
    return with_offload_efficiency(calib, round(statistics.median(offload_run_efficiency(r, calib) for r in runs), 3))


class OffloadCheck(LeftOutCheck):
    """One offload run's decode, predicted with the share the other runs imply and with the
    experts at the full dense share (1)."""

    efficiency: float


def offload_checks(data: BenchData, calib: CalibrationSet) -> list[OffloadCheck]:
    """Each fitted offload run predicted with the median share of the others."""
    runs = [r for r in data.offload_runs if not r.excluded]
    implied = {r.id: offload_run_efficiency(r, calib) for r in runs}
    out = []
    for r in runs:
        others = [implied[o.id] for o in runs if o.id != r.id]
        if not others:
            continue
        eff = statistics.median(others)
        out.append(
            OffloadCheck(
                run_id=r.id,
                measured=r.tg,
                predicted=1.0 / offload_step_seconds(r, with_offload_efficiency(calib, eff)),
                unscaled=1.0 / offload_step_seconds(r, with_offload_efficiency(calib, 1.0)),
                efficiency=eff,
            )
        )
    return out


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def with_db_compute(data: BenchData, gpus_by_id: dict) -> BenchData:
    """Fill matmul_tflops from the GPU database where this file has none, and take it, as
    the speed model does at run time, as the FP16-accumulate peak (the database's INT8 rate
    halved where that is above the FP32-accumulate figure: GeForce boards,
    :func:`sizing.core.gpu.matrix_peak_tflops`), so calibration and run time share it."""
    devices = {}
    for key, d in data.devices.items():
        g = gpus_by_id.get(d.db_id) if d.db_id else None
        if g is not None and (d.matmul_tflops or g.fp16_tflops):
            stated = d.matmul_tflops or g.fp16_tflops
            peak = matrix_peak_tflops(stated, g.int8_tops)
            # BF16 weights run at the stated FP32-accumulate figure (bf16_rate_share)
            d = d.model_copy(update={"matmul_tflops": peak, "bf16_tflops": stated})
        if d.gpu_cores is None and g is not None and getattr(g, "gpu_cores", None) and g.vendor == "apple":
            d = d.model_copy(update={"gpu_cores": g.gpu_cores})
        if g is not None and is_hbm(g.memory_type):
            d = d.model_copy(update={"hbm": True})
        if g is not None and g.tdp_w and d.kind != "cpu":
            d = d.model_copy(update={"tdp_w": g.tdp_w})
        if g is not None and d.vendor is None and d.kind != "cpu":
            d = d.model_copy(update={"vendor": g.vendor})
        if d.family is None and g is not None and g.architecture:
            from sizing.core.machine import family_of

            d = d.model_copy(update={"family": family_of(g.architecture)})
        devices[key] = d
    return data.model_copy(update={"devices": devices})


def load_cpu_attention(path: Path = ATTENTION_FILE) -> CpuAttentionRate:
    raw = read_yaml(path, "CPU attention rate")
    return validate(CpuAttentionRate, raw.get("cpu_attention") if isinstance(raw, dict) else None, f"{path}:")


def with_cpu_attention(calib: CalibrationSet, rate: CpuAttentionRate) -> CalibrationSet:
    """Every CPU entry with a clock-scaled decode rate of its own gets the attention figures:
    the vector part scaled from the measured ISA by that entry's decode bytes per cycle (a
    thread's vector work per cycle, as the public rows of each ISA show it), the fixed part
    per head and cell as measured (scalar work: the exp, the loop); the others borrow the
    CPU backend's (:func:`sizing.core.speed.estimate.cpu_attention_seconds`)."""
    cpu = calib.backends.get("cpu")
    ref = calib.backends.get(f"cpu/{rate.isa}")
    ref_per_ghz = (ref and ref.decode_gb_per_ghz) or (cpu and cpu.decode_gb_per_ghz)
    backends = dict(calib.backends)
    for key, c in calib.backends.items():
        if key.split("/")[0] != "cpu" or not (c.decode_gb_per_ghz and ref_per_ghz):
            continue
        backends[key] = c.model_copy(
            update={
                "decode_attn_flop_per_cycle": round(rate.flop_per_cycle * c.decode_gb_per_ghz / ref_per_ghz, 3),
                "decode_attn_cycles_per_head_cell": rate.cycles_per_head_cell,
            }
        )
    method = (
        f"{calib.method}; CPU decode attention: {rate.flop_per_cycle} FLOPs per cycle per thread + "
        f"{rate.cycles_per_head_cell} cycles per head and cell, measured on {rate.isa} ({rate.build}, "
        f"{rate.date}, flash attention {'on' if rate.flash_attn else 'off'}, {rate.kv_type} cache: "
        "data/cpu_attention.yaml), the FLOP rate scaled to each ISA by its decode GB per GHz"
    )
    return calib.model_copy(update={"backends": backends, "method": method})


def fit_from_files(path: Path = BENCH_FILE, attention: Path = ATTENTION_FILE) -> CalibrationSet:
    from sizing.hardware.db import load_gpus

    db = load_gpus()
    for d in load_bench(path).devices.values():
        if d.db_id and d.db_id not in {g.id for g in db.all}:
            raise SizingError(f"{path}: device {d.name!r}: db_id {d.db_id!r} is not in data/gpus.yaml")
    # the shipped calibration uses every row: a device class whose only rows fell in a held-out
    # third would otherwise be predicted from other classes (an RX 7900 XTX's prompt speed from
    # iGPUs); how well the method predicts rows it has not seen is measured by the fold fits
    calib = fit(load_bench_with_db(path), data_file=f"data/{Path(path).name}", sha256=file_sha256(path), without=())
    return with_cpu_attention(calib, load_cpu_attention(attention))


def with_read_fractions(data: BenchData, archs: dict) -> BenchData:
    """For MoE rows with a layout: the share of the file a token reads, from the
    architecture's tensors typed as the file is. The typed total must match the row's
    size (so the layout is the file's), else the row is rejected."""
    from sizing.core.quant import row_fallback
    from sizing.core.tensors import tensors_for
    from sizing.core.traffic import model_traffic

    rows = []
    for r in data.rows:
        if r.arch_id:
            arch = archs.get(r.arch_id)
            if arch is None or not r.rest_type or (arch.is_moe and not r.expert_type):
                raise SizingError(
                    f"row {r.id!r}: layout needs a catalog arch_id, rest_type (and expert_type for a MoE)"
                )
            typed = []
            tensors = tensors_for(arch)
            # llama-quantize types the output projection apart (output_type); a file with tied
            # embeddings has none, and token_embd, which then serves as it, takes that type
            output_name = "output.weight" if any(t.name == "output.weight" for t in tensors) else "token_embd.weight"
            for t in tensors:
                if t.is_expert and t.name.endswith(".weight"):
                    typ = r.expert_type
                elif len(t.shape) == 1 or not t.name.endswith(".weight") or t.name.endswith("ffn_gate_inp.weight"):
                    typ = "F32"  # norms, biases, sinks, routers stay F32 in every llama.cpp file
                elif t.name == output_name and r.output_type:
                    typ = r.output_type
                else:
                    typ = r.rest_type
                if typ != "F32":
                    # rows that do not divide into the quant's blocks take llama-quantize's
                    # fallback type (Gemma 4's 704-wide experts: Q4_K -> Q5_0)
                    typ = row_fallback(t.shape[0], typ.upper())
                typed.append(t.model_copy(update={"ggml_type": typ}))
            tr = model_traffic(arch, typed)
            total_gib = tr.total_bytes / GIB
            if r.size_gib is not None and abs(total_gib - r.size_gib) > 0.02 * r.size_gib:
                raise SizingError(f"row {r.id!r}: layout gives {total_gib:.2f} GiB, the file is {r.size_gib} GiB")
            routed = sum(layer.expert_read_bytes(1) for layer in tr.layers)
            r = r.model_copy(
                update={
                    "read_fraction": tr.read_bytes_per_token / tr.total_bytes,
                    "routed_fraction": routed / tr.total_bytes,
                    "moe_layers": sum(1 for layer in tr.layers if layer.expert_bytes),
                    "n_layers": arch.n_layers,
                    "output_fraction": tr.output_bytes / tr.total_bytes,
                    "expert_total_fraction": sum(layer.expert_bytes for layer in tr.layers) / tr.total_bytes,
                    "experts_used_share": arch.n_experts_used / arch.n_experts if arch.is_moe else None,
                    "size_gib": r.size_gib if r.size_gib is not None else round(total_gib, 2),
                }
            )
        elif data.model_layers is not None and r.n_layers is None:
            r = r.model_copy(update={"n_layers": data.model_layers.of(r.model)})
        if r.n_layers is None:  # a GPU's fixed decode cost is per layer: the fit needs the count
            raise SizingError(f"row {r.id!r}: no layer count for model {r.model!r} (add it to model_layers)")
        rows.append(r)
    return data.model_copy(update={"rows": tuple(rows)})


@cache
def load_bench_with_db(path: Path = BENCH_FILE) -> BenchData:
    """The data file with compute figures from the GPU database and MoE read shares filled in."""
    from sizing.hardware.db import load_gpus
    from sizing.sources.catalog import load_catalog

    from sizing.core.machine import family_of

    gpus = load_gpus().all
    data = with_db_compute(load_bench(path), {g.id: g for g in gpus})
    fams: dict[str, dict[str, set[str]]] = {}
    for g in gpus:
        fam = family_of(g.architecture)
        if fam and not g.unified_memory:
            for b in g.backends:
                fams.setdefault(g.vendor, {}).setdefault(b, set()).add(fam)
    chips: dict[tuple, list[str]] = {}
    for g in gpus:
        sig = (g.vendor, g.architecture, g.memory_bandwidth_gbs, g.fp16_tflops, g.int8_tops, g.gpu_cores, g.tdp_w)
        chips.setdefault(sig, []).append(g.id)
    same = {i: tuple(sorted(ids)) for ids in chips.values() for i in ids}
    data = data.model_copy(
        update={
            "db_families": {v: {b: tuple(sorted(f)) for b, f in by.items()} for v, by in fams.items()},
            "db_same_chip": same,
        }
    )
    cat = load_catalog()
    archs = {r.arch_id: cat.get(r.arch_id) for r in data.rows if r.arch_id}
    data = with_depth_works(data, {run.arch_id: cat.get(run.arch_id) for run in data.depth_runs})
    return with_read_fractions(data, archs)


def with_depth_works(data: BenchData, archs: dict) -> BenchData:
    """Each depth run's model, from its catalog architecture typed by its quant's recipe with
    its cache type, whole on its device: the KV bytes and attention FLOPs a cached cell adds."""
    from sizing.core.quant import apply_recipe
    from sizing.core.tensors import tensors_for
    from sizing.core.traffic import model_traffic, single_device_work

    runs = []
    for run in data.depth_runs:
        arch = archs.get(run.arch_id)
        if arch is None:
            raise SizingError(f"depth run {run.id!r}: unknown catalog architecture {run.arch_id!r}")
        tr = model_traffic(arch, apply_recipe(arch, tensors_for(arch), run.quant), run.kv_type, run.kv_type)
        w = single_device_work(tr, bench_device_rate(run.backend, data.devices[run.device]))
        runs.append(run.model_copy(update={"work": w}))
    return data.model_copy(update={"depth_runs": tuple(runs)})


def dump_calibration(calib: CalibrationSet) -> str:
    header = (
        "# Generated by `python -m harness.speed_fit` from data/llama_bench.yaml; do not edit.\n"
        "# Provenance: data_sha256 is the SHA-256 of the data file the factors were fitted to.\n"
    )
    data = calib.model_dump(mode="json")
    for entry in [*data["backends"].values(), data["pooled"]]:
        for key in (
            "prefill_kernel_speed",
            "decode_kernel_speed",
            "decode_kernel_speed_by_vendor",
            "moe_layer_launch_ms_by_type",
        ):  # few entries have them
            if not entry.get(key):
                entry.pop(key, None)
        for key in (
            "decode_attn_flop_per_cycle",
            "decode_attn_cycles_per_head_cell",
            "prefill_gflop_per_ghz",
            "offload_copy_gbs",
        ):  # CPU only, or (the copy rate) the backends with a cited one
            if entry.get(key) is None:
                entry.pop(key, None)
    return header + yaml.safe_dump(data, sort_keys=False)


def main(argv: list[str] | None = None) -> int:
    calib = fit_from_files()
    CALIBRATION_FILE.write_text(dump_calibration(calib))
    print(f"wrote {CALIBRATION_FILE} ({len(calib.backends)} backends, {len(calib.holdout_ids)} held-out rows)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))

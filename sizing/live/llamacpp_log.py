"""What llama.cpp prints, read back: its build, the buffers it allocates, its timings.

Every way we run llama.cpp (the embedded xllamacpp wheel, the user's ``llama-server``,
``llama-cli`` and ``llama-bench``) prints the same log lines, so one module reads them:
the build that ran (:class:`LlamaBuild`, one format wherever a build is shown or
stored), each buffer it allocated (:func:`parse_llama_log`), those buffers per device
(:func:`memory_from_log`) and the prompt/generation timing lines (:func:`speeds_from_log`).
Pure functions of text: no process is started here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sizing.errors import SizingError
from sizing.live.runner import DeviceMemory
from sizing.units import MIB

# --- the build ---------------------------------------------------------------------------


class LlamaBuild(BaseModel):
    """A llama.cpp build: its build number and commit, as ``llama.cpp b4567 (abc1234)``.

    llama.cpp prints it several ways (``build_info: b4567-abc1234`` from the server,
    ``build: 4567 (abc1234)`` or, in older builds, ``build = 4567 (abc1234)`` from the common
    arguments, ``version: 4567 (abc1234)`` from ``--version``) and llama-bench stores ``build_number`` and ``build_commit``; all are
    read into this one type so a stored run names its build the same way whoever ran it.
    """

    model_config = ConfigDict(frozen=True)

    number: int = Field(ge=0, description="llama.cpp's build number; 0 in builds made without one")
    commit: str = Field(description="the commit's short hash, or 'unknown'")

    @property
    def known(self) -> bool:
        """False for a build that does not know its own number (the xllamacpp wheel: b0-unknown)."""
        return self.number > 0

    def __str__(self) -> str:
        return f"llama.cpp b{self.number} ({self.commit})"


_RE_BUILDS = (
    re.compile(r"build(?:_info)?:\s*b(\d+)-([0-9a-f]+|unknown)"),
    re.compile(r"\bbuild\s*[:=]?\s*(\d+)\s+\(([0-9a-f]+|unknown)\)"),
    re.compile(r"\bversion:\s*(\d+)\s*\(([0-9a-f]+|unknown)\)"),
)


def build_from_log(text: str) -> LlamaBuild | None:
    """The build a llama.cpp log or ``--version`` output names, or None."""
    for rx in _RE_BUILDS:
        if m := rx.search(text):
            return LlamaBuild(number=int(m[1]), commit=m[2])
    return None


def build_from_bench_row(row: Mapping[str, Any]) -> LlamaBuild | None:
    """The build in one result of ``llama-bench -o json`` (``build_number``, ``build_commit``)."""
    number = row.get("build_number")
    if number is None:
        return None
    return LlamaBuild(number=int(number), commit=str(row.get("build_commit") or "?"))


def runner_version(runner: str, build: LlamaBuild | None) -> str:
    """A runner's name and version with the llama.cpp build it ran, when that is known:
    ``xllamacpp 2026.10.11549 (llama.cpp b4567 (abc1234))``."""
    return f"{runner} ({build})" if build is not None and build.known else runner


# llama.cpp's device and backend names (``CUDA0``, ``MTL0``, ``ROCm0``, ``Vulkan0``, a
# llama-bench ``backends`` field such as ``CUDA,BLAS``) -> the backend we size for
_BACKEND_KEYS = (
    ("cuda", "cuda"),
    ("metal", "metal"),
    ("mtl", "metal"),
    ("rocm", "rocm"),
    ("hip", "rocm"),
    ("vulkan", "vulkan"),
    ("sycl", "sycl"),
)


def backend_of(device_names: list[str]) -> str:
    """'cuda', 'metal', 'rocm', 'vulkan', 'sycl' or 'cpu' from llama.cpp's device or backend names."""
    joined = " ".join(device_names).lower()
    return next((backend for key, backend in _BACKEND_KEYS if key in joined), "cpu")


# --- the buffers -------------------------------------------------------------------------


class KVCacheMeasure(BaseModel):
    """One KV cache as llama.cpp reports it (a model with SWA has a windowed and a full one)."""

    model_config = ConfigDict(frozen=True)

    kind: str = Field(description="'kv' (single cache), 'non-swa' or 'swa'")
    cells: int
    layers: int
    seqs: int
    k_type: str
    v_type: str
    k_bytes: int
    v_bytes: int
    bytes: int


class RecurrentMeasure(BaseModel):
    """Recurrent (SSM) state as llama.cpp reports it."""

    model_config = ConfigDict(frozen=True)

    cells: int
    layers: int
    seqs: int
    r_bytes: int
    s_bytes: int
    bytes: int


class MeasuredMemory(BaseModel):
    """What llama.cpp allocated for one load, by buffer, in bytes (from its MiB log lines)."""

    model_config = ConfigDict(frozen=True)

    # buffer type name ('CPU_Mapped', 'CPU_REPACK', 'CUDA0', 'CUDA_Host', …) -> bytes
    model_buffers: dict[str, int] = Field(default_factory=dict)
    kv_buffers: dict[str, int] = Field(default_factory=dict)  # backend -> bytes, summed over caches
    kv_caches: list[KVCacheMeasure] = Field(default_factory=list)
    rs_buffers: dict[str, int] = Field(default_factory=dict)
    recurrent: list[RecurrentMeasure] = Field(default_factory=list)
    compute_buffers: dict[str, int] = Field(default_factory=dict)
    output_buffers: dict[str, int] = Field(default_factory=dict)
    # the multimodal projector (mmproj), when one was loaded: clip's own log lines
    mmproj_weights_bytes: int | None = None
    mmproj_compute_buffers: dict[str, int] = Field(default_factory=dict)
    # llama_context settings as llama.cpp applied them (after its own padding)
    n_ctx: int | None = None
    n_ctx_seq: int | None = None
    n_seq_max: int | None = None
    n_batch: int | None = None
    n_ubatch: int | None = None
    flash_attn: str | None = None
    kv_unified: bool | None = None
    # "model params = 134.52 M": llama.cpp's own parameter count (3 significant decimals)
    model_params: int | None = None
    # identity of the llama.cpp that measured (``LlamaBuild`` as text)
    llama_build: str | None = None
    backends: list[str] = Field(default_factory=list)
    devices: list[str] = Field(default_factory=list)
    # the 'memory breakdown [MiB]' table, one row per device: name -> {column: MiB}
    breakdown: dict[str, dict[str, int]] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)

    @property
    def weights_bytes(self) -> int:
        """All model buffers, including a CPU_REPACK copy when llama.cpp makes one."""
        return sum(self.model_buffers.values())

    @property
    def repack_bytes(self) -> int:
        return sum(v for k, v in self.model_buffers.items() if k.endswith("_REPACK"))

    @property
    def kv_cache_bytes(self) -> int:
        return sum(self.kv_buffers.values()) + sum(self.rs_buffers.values())

    @property
    def k_bytes(self) -> int:
        return sum(c.k_bytes for c in self.kv_caches)

    @property
    def v_bytes(self) -> int:
        return sum(c.v_bytes for c in self.kv_caches)

    @property
    def compute_bytes(self) -> int:
        return sum(self.compute_buffers.values())

    @property
    def output_bytes(self) -> int:
        return sum(self.output_buffers.values())

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.compute_bytes + self.output_bytes

    def cache(self, kind: str) -> KVCacheMeasure | None:
        for c in self.kv_caches:
            if c.kind == kind:
                return c
        return None


# --- the pure parser ---------------------------------------------------------------------

_NUM = r"([0-9]+(?:\.[0-9]+)?)"
_RE_MODEL_BUF = re.compile(r"load_tensors:\s+(\S+) model buffer size\s*=\s*" + _NUM + r" MiB")
_RE_KV_BUF = re.compile(r"(\S+) KV buffer size\s*=\s*" + _NUM + r" MiB")
_RE_RS_BUF = re.compile(r"(\S+) RS buffer size\s*=\s*" + _NUM + r" MiB")
_RE_OUT_BUF = re.compile(r"(\S+)\s+output buffer size\s*=\s*" + _NUM + r" MiB")
_RE_COMPUTE_BUF = re.compile(r"(\S+) compute buffer size\s*=\s*" + _NUM + r" MiB")
# The context destructor repeats each compute buffer with four decimals.
_RE_COMPUTE_EXACT = re.compile(r"(\S+) compute buffer size is\s+" + _NUM + r" MiB")
_RE_KV_SIZE = re.compile(
    r"size\s*=\s*" + _NUM + r" MiB \(\s*(\d+) cells,\s*(\d+) layers,\s*(\d+)(?:/\d+)? seqs\),"
    r"\s*K \((\w+)\):\s*" + _NUM + r" MiB,\s*V \((\w+)\):\s*" + _NUM + r" MiB"
)
# the embedded build adds "N rs_seq" inside the parentheses and a P (f32) part after S
_RE_RS_SIZE = re.compile(
    r"size\s*=\s*" + _NUM + r" MiB \(\s*(\d+) cells,\s*(\d+) layers,\s*(\d+)(?:/\d+)? seqs[^)]*\),"
    r"\s*R \((\w+)\):\s*" + _NUM + r" MiB,\s*S \((\w+)\):\s*" + _NUM + r" MiB"
)
# clip (the mmproj loader): "load_hparams: model size: X MiB" and the buffer its warm-up reserves
_RE_MMPROJ_SIZE = re.compile(r"load_hparams:\s+model size:\s*" + _NUM + r" MiB")
_RE_MMPROJ_COMPUTE = re.compile(r"reserve_compute_meta:\s+(\S+) compute buffer size\s*=\s*" + _NUM + r" MiB")
_RE_ISWA = re.compile(r"creating\s+(non-SWA|SWA) KV cache")
_RE_CTX_KV = re.compile(r"llama_context: (n_ctx|n_ctx_seq|n_seq_max|n_batch|n_ubatch)\s*=\s*(\d+)")
_RE_CTX_STR = re.compile(r"llama_context: (flash_attn|kv_unified)\s*=\s*(\S+)")
_RE_DEVICE = [
    re.compile(r"using device (\S+) \(([^)]*)\)"),
    re.compile(r"\s-\s+(\S+)\s*:\s*(.+?)\s*\(\d+ MiB, \d+ MiB free\)"),
]
_RE_BREAKDOWN_ROW = re.compile(r"memory_breakdown_print: \|\s+-\s+(.+?)\s+\|([^|]*)\|")
_RE_LOAD_START = re.compile(r"llama_model_loader: loaded meta data")
_RE_PARAMS = re.compile(r"print_info: model params\s*=\s*" + _NUM + r" ([KMBT])")
_UNITS = {"K": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def _mib(s: str) -> int:
    return round(float(s) * MIB)


def _last_load(text: str) -> str:
    """The part of a log from the last model load that allocated memory.

    With llama.cpp's fit step on, the model is first loaded without allocating
    (all buffers 0.00 MiB) and then for real; only the real load counts.
    """
    starts = [m.start() for m in _RE_LOAD_START.finditer(text)]
    if not starts:
        return text
    for start in reversed(starts):
        seg = text[start:]
        if re.search(r"print_info: no_alloc\s*=\s*1", seg[:200_000]):
            continue
        return seg
    return text[starts[-1] :]


def parse_llama_log(text: str) -> MeasuredMemory:
    """Read llama.cpp's log of one load into per-buffer byte counts.

    Buffers are logged in MiB with two decimals, so each figure is exact to ±5 KiB;
    the compute buffer is refined from the destructor's four-decimal line when present.
    Raises SizingError when the log holds no model buffer (the load failed).
    """
    head = text
    seg = _last_load(text)
    model: dict[str, int] = {}
    kv_buf: dict[str, int] = {}
    rs_buf: dict[str, int] = {}
    out_buf: dict[str, int] = {}
    compute: dict[str, int] = {}
    caches: list[KVCacheMeasure] = []
    recurrent: list[RecurrentMeasure] = []
    ctx: dict[str, Any] = {}
    pending_kind = "kv"
    mm_weights: int | None = None
    mm_compute: dict[str, int] = {}
    for line in seg.splitlines():
        if m := _RE_MMPROJ_SIZE.search(line):
            mm_weights = _mib(m.group(1))
        elif m := _RE_MMPROJ_COMPUTE.search(line):
            mm_compute[m.group(1)] = _mib(m.group(2))
        elif m := _RE_MODEL_BUF.search(line):
            model[m.group(1)] = model.get(m.group(1), 0) + _mib(m.group(2))
        elif m := _RE_ISWA.search(line):
            pending_kind = m.group(1).lower()
        elif m := _RE_KV_BUF.search(line):
            kv_buf[m.group(1)] = kv_buf.get(m.group(1), 0) + _mib(m.group(2))
        elif m := _RE_RS_BUF.search(line):
            rs_buf[m.group(1)] = rs_buf.get(m.group(1), 0) + _mib(m.group(2))
        elif m := _RE_OUT_BUF.search(line):
            out_buf[m.group(1)] = out_buf.get(m.group(1), 0) + _mib(m.group(2))
        elif m := _RE_COMPUTE_BUF.search(line):
            compute[m.group(1)] = _mib(m.group(2))
        elif m := _RE_COMPUTE_EXACT.search(line):
            compute[m.group(1)] = _mib(m.group(2))
        elif m := _RE_KV_SIZE.search(line):
            caches.append(
                KVCacheMeasure(
                    kind=pending_kind,
                    cells=int(m.group(2)),
                    layers=int(m.group(3)),
                    seqs=int(m.group(4)),
                    k_type=m.group(5),
                    v_type=m.group(7),
                    k_bytes=_mib(m.group(6)),
                    v_bytes=_mib(m.group(8)),
                    bytes=_mib(m.group(1)),
                )
            )
            pending_kind = "kv"
        elif m := _RE_RS_SIZE.search(line):
            recurrent.append(
                RecurrentMeasure(
                    cells=int(m.group(2)),
                    layers=int(m.group(3)),
                    seqs=int(m.group(4)),
                    r_bytes=_mib(m.group(6)),
                    s_bytes=_mib(m.group(8)),
                    bytes=_mib(m.group(1)),
                )
            )
        elif m := _RE_CTX_KV.search(line):
            ctx.setdefault(m.group(1), int(m.group(2)))
        elif m := _RE_CTX_STR.search(line):
            ctx.setdefault(m.group(1), m.group(2))
    if not model:
        raise SizingError("llama.cpp log shows no model buffer: the model did not load")

    build = build_from_log(head)
    devices: list[str] = []
    for rx in _RE_DEVICE:
        for m in rx.finditer(head):
            d = f"{m.group(1)} ({m.group(2).strip()})"
            if d not in devices:
                devices.append(d)
    buf_names = [*model, *kv_buf, *compute]
    backends = sorted({re.sub(r"(_\w+|\d+)$", "", n) for n in buf_names})
    breakdown: dict[str, dict[str, int]] = {}
    cols = ("self", "model", "context", "compute")
    for m in _RE_BREAKDOWN_ROW.finditer(seg):
        nums = [int(x) for x in re.findall(r"\d+", m.group(2))]
        if len(nums) >= 4:
            breakdown[m.group(1)] = dict(zip(cols, nums[-4:]))
    kv_unified = ctx.get("kv_unified")
    pm = _RE_PARAMS.search(seg)
    return MeasuredMemory(
        model_params=round(float(pm.group(1)) * _UNITS[pm.group(2)]) if pm else None,
        model_buffers=model,
        kv_buffers=kv_buf,
        kv_caches=caches,
        rs_buffers=rs_buf,
        recurrent=recurrent,
        compute_buffers=compute,
        output_buffers=out_buf,
        mmproj_weights_bytes=mm_weights,
        mmproj_compute_buffers=mm_compute,
        n_ctx=ctx.get("n_ctx"),
        n_ctx_seq=ctx.get("n_ctx_seq"),
        n_seq_max=ctx.get("n_seq_max"),
        n_batch=ctx.get("n_batch"),
        n_ubatch=ctx.get("n_ubatch"),
        flash_attn=ctx.get("flash_attn"),
        kv_unified=None if kv_unified is None else kv_unified in ("true", "1"),
        llama_build=str(build) if build else None,
        backends=backends,
        devices=devices,
        breakdown=breakdown,
    )


# --- what went wrong ---------------------------------------------------------------------


def log_tail(text: str, n_lines: int = 30) -> str:
    """The last lines of a llama.cpp log: where the reason for a failure usually is."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return "\n".join(lines[-n_lines:])


def last_line(text: str, default: str = "no output") -> str:
    """The last line a llama.cpp program printed (cut to 300 characters), or ``default``."""
    return log_tail(text, 1).strip()[:300] or default


def failure_line(text: str) -> str:
    """The most telling line of a failed llama.cpp log (an error or assertion), if any."""
    for line in reversed(text.splitlines()):
        low = line.lower()
        if any(k in low for k in ("ggml_assert", "error", "failed", "abort", "out of memory")):
            return line.strip()[:300]
    return ""


# --- the buffers per device, and the timings ------------------------------------------

# Buffer types that live in host RAM, whatever the compute device.
_HOST_SUFFIXES = ("_Mapped", "_REPACK", "_Host", "_Pinned")


def device_of(buffer_type: str) -> str:
    """The device a buffer type lives on: 'CPU' for host RAM, else e.g. 'CUDA0', 'Metal'."""
    if buffer_type.upper().startswith("CPU"):
        return "CPU"
    for suffix in _HOST_SUFFIXES:
        if buffer_type.endswith(suffix):
            base = buffer_type[: -len(suffix)]
            # Metal maps the file into unified memory the GPU uses directly.
            return base if base.lower().startswith("metal") else "CPU"
    return buffer_type


def memory_from_log(text: str) -> dict[str, Any]:
    """Measured parts and per-device breakdown from a llama.cpp log.

    Returns ``weights_bytes, kv_cache_bytes, compute_bytes, output_bytes`` (all None when
    the log shows no model buffer: the run did not get that far) and ``devices``.
    """
    try:
        mm = parse_llama_log(text)
    except SizingError:
        return {
            "weights_bytes": None,
            "kv_cache_bytes": None,
            "compute_bytes": None,
            "output_bytes": None,
            "devices": (),
        }
    per_dev: dict[str, dict[str, int]] = {}

    def add(buffers: dict[str, int], column: str) -> None:
        for buft, nbytes in buffers.items():
            dev = per_dev.setdefault(device_of(buft), {})
            dev[column] = dev.get(column, 0) + nbytes

    add(mm.model_buffers, "model_bytes")
    add(mm.kv_buffers, "context_bytes")
    add(mm.rs_buffers, "context_bytes")
    add(mm.output_buffers, "context_bytes")
    add(mm.compute_buffers, "compute_bytes")
    devices = tuple(DeviceMemory(device=d, **cols) for d, cols in sorted(per_dev.items()))
    # A load that died before its context was built has weights but no KV/compute yet.
    has_ctx = bool(mm.kv_buffers or mm.rs_buffers or mm.compute_buffers)
    return {
        "weights_bytes": mm.weights_bytes,
        "kv_cache_bytes": mm.kv_cache_bytes if has_ctx else None,
        "compute_bytes": mm.compute_bytes if mm.compute_buffers else None,
        "output_bytes": mm.output_bytes if mm.output_buffers else None,
        "devices": devices,
    }


_PROMPT_TPS = re.compile(r"prompt eval time =.*?/\s*(\d+) tokens.*?([0-9.]+) tokens per second")
_EVAL_TPS = re.compile(r"(?<!prompt )eval time =.*?/\s*(\d+) (?:tokens|runs).*?([0-9.]+) tokens per second")


def speeds_from_log(text: str) -> dict[str, Any]:
    """Prompt and generation tokens/s from llama.cpp's timing lines (last occurrence)."""
    out: dict[str, Any] = {}
    for line in text.splitlines():
        m = _PROMPT_TPS.search(line)
        if m:
            out["n_prompt"], out["prefill_tokens_per_s"] = int(m[1]), float(m[2])
            continue
        m = _EVAL_TPS.search(line)
        if m:
            out["n_gen"], out["decode_tokens_per_s"] = int(m[1]), float(m[2])
    return out

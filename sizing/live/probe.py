"""Ask llama.cpp itself how much memory a GGUF takes: the ground truth for every estimate.

llama.cpp logs each buffer it allocates (model weights per buffer type, KV cache per
cache with K and V apart, compute buffers per backend). We load the file with xllamacpp
(the embedded llama.cpp) in a *child process*, so a crash or a hang in C code cannot take
the caller down and the log is captured at the file-descriptor level, then parse that log.

``parse_llama_log`` is pure and also reads logs of external llama.cpp binaries
(``llama-server``, ``llama-cli``) so other adapters can reuse it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sizing.errors import SizingError
from sizing.live.xlparams import common_params
from sizing.units import MIB


# KV cache types the probe can ask llama.cpp for (its --cache-type-k/-v names).
PROBE_KV_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")

_MARKER = "@@sizing-probe-run-done@@"


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
    # identity of the llama.cpp that measured
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
_RE_RS_SIZE = re.compile(
    r"size\s*=\s*" + _NUM + r" MiB \(\s*(\d+) cells,\s*(\d+) layers,\s*(\d+)(?:/\d+)? seqs\),"
    r"\s*R \((\w+)\):\s*" + _NUM + r" MiB,\s*S \((\w+)\):\s*" + _NUM + r" MiB"
)
_RE_ISWA = re.compile(r"creating\s+(non-SWA|SWA) KV cache")
_RE_CTX_KV = re.compile(r"llama_context: (n_ctx|n_ctx_seq|n_seq_max|n_batch|n_ubatch)\s*=\s*(\d+)")
_RE_CTX_STR = re.compile(r"llama_context: (flash_attn|kv_unified)\s*=\s*(\S+)")
_RE_BUILD = [
    re.compile(r"build_info:\s*(\S+)"),
    re.compile(r"\bbuild:\s*(\d+ \(\w+\))"),
    re.compile(r"common_params_print_info: build (\d+ \(\w+\))"),
]
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
    return text[starts[-1]:]


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
    for line in seg.splitlines():
        if m := _RE_MODEL_BUF.search(line):
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

    build = None
    for rx in _RE_BUILD:
        if m := rx.search(head):
            build = m.group(1)
            break
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
        n_ctx=ctx.get("n_ctx"),
        n_ctx_seq=ctx.get("n_ctx_seq"),
        n_seq_max=ctx.get("n_seq_max"),
        n_batch=ctx.get("n_batch"),
        n_ubatch=ctx.get("n_ubatch"),
        flash_attn=ctx.get("flash_attn"),
        kv_unified=None if kv_unified is None else kv_unified in ("true", "1"),
        llama_build=build,
        backends=backends,
        devices=devices,
        breakdown=breakdown,
    )


# --- the child process (xllamacpp) ------------------------------------------------------


def _child_main() -> None:  # pragma: no cover - runs in the child, its output is parsed
    """Load one GGUF once per config read from stdin; llama.cpp logs to fd 2."""
    import os
    import time

    import xllamacpp as x

    req = json.loads(sys.stdin.read())
    os.write(2, f"xllamacpp_version: {x.__version__}\n".encode())
    for cfg in req["configs"]:
        p = common_params(req["path"], **cfg)
        p.verbosity = 10
        p.warmup = False
        server = x.Server(p)
        # Buffers are all logged before the server reports "model loaded". Give the
        # asynchronous log worker time to drain, and the server loop time to start:
        # destroying a Server before its loop waits can hang (seen with xllamacpp 2026.10).
        time.sleep(0.5)
        os.write(2, f"\n{_MARKER}\n".encode())
        del server
    os._exit(0)  # skip interpreter teardown of the C++ objects


def _config(ctx, n_batch, n_ubatch, kv_type_k, kv_type_v, flash_attn, n_parallel, kv_unified,
            n_gpu_layers, fit=False, mmap=True, repack=True, mlock=False) -> dict[str, Any]:
    for name, t in (("K", kv_type_k), ("V", kv_type_v)):
        if t not in PROBE_KV_TYPES:
            raise SizingError(f"unknown {name} cache type {t!r}; known: {', '.join(PROBE_KV_TYPES)}")
    if ctx <= 0 or n_batch <= 0 or n_ubatch <= 0 or n_parallel <= 0:
        raise SizingError("ctx, n_batch, n_ubatch and n_parallel must be positive")
    return dict(ctx=ctx, n_batch=n_batch, n_ubatch=n_ubatch, kv_type_k=kv_type_k,
                kv_type_v=kv_type_v, flash_attn=flash_attn, n_parallel=n_parallel,
                kv_unified=kv_unified, n_gpu_layers=n_gpu_layers, fit=fit, mmap=mmap, repack=repack,
                mlock=mlock)


def _run_child(path: Path, configs: list[dict[str, Any]], timeout_s: float
               ) -> tuple[list[str], str, int | None, bool]:
    """Run the child on ``configs``; return the logs of the runs it completed.

    ``timeout_s`` bounds each run: a child that writes no new run marker for that long
    is killed, and what it completed so far is kept.
    """
    import threading
    import time

    req = json.dumps({"path": str(path.resolve()), "configs": configs}).encode()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from sizing.live.probe import _child_main; _child_main()"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    chunks: list[bytes] = []

    def reader() -> None:
        assert proc.stderr is not None
        for block in iter(lambda: proc.stderr.read1(65536), b""):  # type: ignore[union-attr]
            chunks.append(block)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    assert proc.stdin is not None
    proc.stdin.write(req)
    proc.stdin.close()
    marker = _MARKER.encode()
    seen, deadline, timed_out = 0, time.monotonic() + timeout_s, False
    while True:
        if proc.poll() is not None:
            break
        n = b"".join(chunks).count(marker)
        if n > seen:
            seen, deadline = n, time.monotonic() + timeout_s
        if n >= len(configs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            break
        if time.monotonic() > deadline:
            timed_out = True
            proc.kill()
            break
        time.sleep(0.05)
    proc.wait()
    t.join(timeout=5)
    log = b"".join(chunks).decode("utf-8", "replace")
    parts = log.split(_MARKER)
    return parts[:-1], log, proc.returncode, timed_out


def probe_many(gguf_path: str | Path, configs: list[dict[str, Any]], *,
               timeout_s: float = 120) -> list[MeasuredMemory]:
    """Measure several configurations of one GGUF in a single child process.

    Each config is a dict with the keyword arguments of ``probe_memory`` (without the
    path and timeout); missing keys take ``probe_memory``'s defaults.
    """
    path = Path(gguf_path)
    if not path.is_file():
        raise SizingError(f"{path}: no such GGUF file")
    defaults = dict(n_batch=2048, n_ubatch=512, kv_type_k="f16", kv_type_v="f16",
                    flash_attn=True, n_parallel=1, kv_unified=True, n_gpu_layers=0)
    full = [_config(**{**defaults, **c}) for c in configs]
    runs: list[str] = []
    log = ""
    while len(runs) < len(full):
        done, log, rc, timed_out = _run_child(path, full[len(runs):], timeout_s)
        runs.extend(done)
        if len(runs) == len(full):
            break
        if not done:  # no progress at all: the load itself failed or hung
            if timed_out:
                raise SizingError(f"{path}: llama.cpp did not finish loading within {timeout_s:g} s")
            tail = [ln for ln in log.strip().splitlines() if ln.strip()][-1:] or ["(no output)"]
            raise SizingError(
                f"{path}: llama.cpp failed to load it (exit {rc}): {tail[0].strip()[:300]}"
            )
        # a hang or crash after some runs (e.g. while tearing a server down): go on afresh
    version = re.search(r"xllamacpp_version: (\S+)", log)
    out = []
    for run in runs:
        mm = parse_llama_log(run)
        if version:
            build = f"xllamacpp {version.group(1)} (llama.cpp {mm.llama_build or 'unknown build'})"
            mm = mm.model_copy(update={"llama_build": build})
        out.append(mm)
    return out


def probe_memory(
    gguf_path: str | Path,
    *,
    ctx: int,
    n_batch: int = 2048,
    n_ubatch: int = 512,
    kv_type_k: str = "f16",
    kv_type_v: str = "f16",
    flash_attn: bool | None = True,
    n_parallel: int = 1,
    kv_unified: bool = True,
    n_gpu_layers: int = 0,
    timeout_s: float = 120,
) -> MeasuredMemory:
    """Load ``gguf_path`` in llama.cpp (child process) and return what it allocated.

    ``flash_attn=None`` lets llama.cpp decide ('auto'). Raises SizingError when the file
    is missing, llama.cpp refuses it, or the load exceeds ``timeout_s``.
    """
    cfg = dict(ctx=ctx, n_batch=n_batch, n_ubatch=n_ubatch, kv_type_k=kv_type_k,
               kv_type_v=kv_type_v, flash_attn=flash_attn, n_parallel=n_parallel,
               kv_unified=kv_unified, n_gpu_layers=n_gpu_layers)
    return probe_many(gguf_path, [cfg], timeout_s=timeout_s)[0]


_HEAP_CHILD = r"""
import json, os, sys, time
def anon():
    for line in open('/proc/self/status'):
        if line.startswith('RssAnon'):
            return int(line.split()[1]) * 1024
import xllamacpp as x
before = anon()
p = x.CommonParams(); p.model.path = sys.argv[1]; p.n_ctx = int(sys.argv[2]); p.warmup = True
p.fit_params = False; p.verbosity = 0; p.cache_ram_mib = 0
p.flash_attn_type = x.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_ENABLED
s = x.Server(p); time.sleep(1.0)
print(json.dumps({"grew": anon() - before}), flush=True)
os._exit(0)
"""


def probe_host_heap(gguf_path: str | Path, *, ctx: int = 512, timeout_s: float = 120) -> int:
    """Host memory a loaded llama.cpp holds beyond the buffers it logs (Linux only).

    Loads the file (with a warm-up run, so the compute buffer is touched) in a child and
    returns its anonymous resident memory growth minus KV, compute, output and repack
    buffers: the tokenizer tables, graph metadata and thread pool llama.cpp never logs.
    The mmapped weights are file-backed and not in that figure.
    """
    path = Path(gguf_path)
    try:
        r = subprocess.run([sys.executable, "-c", _HEAP_CHILD, str(path), str(ctx)],
                           capture_output=True, text=True, timeout=timeout_s)
        grew = json.loads(r.stdout.strip().splitlines()[-1])["grew"]
    except (subprocess.TimeoutExpired, IndexError, ValueError, KeyError) as exc:
        raise SizingError(f"{path}: could not measure llama.cpp's heap: {exc}") from None
    m = probe_memory(path, ctx=ctx, timeout_s=timeout_s)
    return grew - (m.kv_cache_bytes + m.compute_bytes + m.output_bytes + m.repack_bytes)


if __name__ == "__main__":  # pragma: no cover - manual use: python -m sizing.live.probe FILE CTX
    mm = probe_memory(sys.argv[1], ctx=int(sys.argv[2]) if len(sys.argv) > 2 else 4096)
    print(mm.model_dump_json(indent=2))

"""Every live check, kept: a JSON-lines file in the user's data directory.

Runs are what calibration learns from, and what people share, so each record carries
what it takes to judge it elsewhere: the llama.cpp version and backend, the hardware,
the machine's load while it ran, the scenario, the estimate and the measurement. One
record per line.

The file must survive anything (a crash mid-write, a hand edit, another process
appending at the same moment, a copy from another machine), because a store that
breaks takes ``estimate --hardware this``, ``verify`` and the app's pages with it. So
it is read as bytes, line by line: a line that is not UTF-8, not JSON, not a run, or
whose numbers are not sensible (a string speed, ``1e309``, a timestamp of ``1e300``)
is skipped and named in :attr:`StoreContents.skipped`; the rest is kept. An append is
one ``write`` of a whole line under an exclusive lock, so two processes cannot
interleave their lines; rewrites (forgetting one run) go through a temporary file
and an atomic rename.

The directory is ``$LLM_SIZING_HOME`` if set, else the platform's user data directory:
``$XDG_DATA_HOME/llm-sizing`` (``~/.local/share/llm-sizing``) on Linux,
``~/Library/Application Support/llm-sizing`` on macOS, ``%LOCALAPPDATA%\\llm-sizing`` on
Windows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sizing.errors import SizingError
from sizing.units import MIB

RUNS_FILE = "live_runs.jsonl"
SCHEMA = 1
MAX_LINE_BYTES = MIB  # a run is a few KiB; a megabyte line is not one
EARLIEST = 1.5e9  # 2017-07: before any llm-sizing run
FUTURE_SLACK_S = 2 * 86400  # clocks differ; a run "from the day after tomorrow" is not real

# Numbers in a run that must be finite and positive where present: the speed
# calibration divides by them, and the UI prints them.
POSITIVE_FIELDS = {
    "measured": (
        "decode_tokens_per_s",
        "prefill_tokens_per_s",
        "weights_bytes",
        "kv_cache_bytes",
        "compute_bytes",
        "peak_rss_bytes",
        "wall_s",
    ),
    "estimate": (
        "predicted_decode_tokens_per_s",
        "predicted_prefill_tokens_per_s",
        "predicted_decode_read_bytes",
        "assumed_effective_bandwidth",
        "predicted_decode_kernel_factor",
    ),
}
# Figures that may be zero (a model without attention layers) but never negative.
NON_NEGATIVE_FIELDS = {
    "estimate": (
        "predicted_decode_attention_flops",
        "predicted_decode_kv_bytes",
        "predicted_decode_attention_s",
        "predicted_decode_attention_compute_s",
        "predicted_decode_sampling_s",
    )
}


def data_dir() -> Path:
    """The user data directory (created on first write, not here)."""
    env = os.environ.get("LLM_SIZING_HOME")
    if env:
        return Path(env).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "llm-sizing"
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "llm-sizing"
    xdg = os.environ.get("XDG_DATA_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "share") / "llm-sizing"


def _new_id() -> str:
    return uuid.uuid4().hex[:12]


class RunRecord(BaseModel):
    """One stored live check."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA
    id: str = Field(default_factory=_new_id, description="stable handle to show, forget or export a run")
    time: float = Field(default_factory=time.time, description="Unix time of the run")
    model: str
    quant: str | None = None
    synthetic: bool = False
    scenario: dict[str, Any] = Field(default_factory=dict)
    runner: dict[str, Any] = Field(default_factory=dict)  # name, version, backend
    hardware: dict[str, Any] = Field(default_factory=dict)  # cpu, threads, ram, gpus
    estimate: dict[str, Any] = Field(default_factory=dict)  # parts + predicted speeds
    measured: dict[str, Any] = Field(default_factory=dict)
    errors: dict[str, float | None] = Field(default_factory=dict)
    load: dict[str, Any] = Field(default_factory=dict, description="machine load before/during the run")
    source: str = Field("live", description="live (run here) or import (a llama-bench file)")
    purpose: Literal["check", "calibration"] = Field(
        "check", description="check (a live check anyone asked for) or calibration (calibrate --measure)"
    )
    status: str = "ok"
    message: str = ""

    @field_validator("time")
    @classmethod
    def _sane_time(cls, v: float) -> float:
        if not (math.isfinite(v) and EARLIEST <= v <= time.time() + FUTURE_SLACK_S):
            raise ValueError(f"timestamp {v!r} is not a date a run could have happened")
        return v


class SkippedLine(BaseModel):
    """A line of the store that was not a usable run, and why."""

    model_config = ConfigDict(frozen=True)

    line: int
    reason: str

    def describe(self, path: Path | str) -> str:
        return f"{path}, line {self.line}: skipped ({self.reason})"


class StoreContents(BaseModel):
    """The runs read from the store, and the lines that were skipped."""

    model_config = ConfigDict(frozen=True)

    path: str
    runs: tuple[RunRecord, ...] = ()
    skipped: tuple[SkippedLine, ...] = ()

    def warnings(self) -> list[str]:
        return [s.describe(self.path) for s in self.skipped]


def runs_path(directory: Path | None = None) -> Path:
    return (directory or data_dir()) / RUNS_FILE


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number")


def _bad_number(obj: Any, where: str = "") -> str | None:
    """The first non-finite number anywhere in a parsed record (1e309 parses as inf)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return f"{where or 'a value'} is not finite"
    if isinstance(obj, dict):
        for k, v in obj.items():
            bad = _bad_number(v, f"{where}.{k}" if where else str(k))
            if bad:
                return bad
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            bad = _bad_number(v, f"{where}[{i}]")
            if bad:
                return bad
    return None


def check_record_numbers(raw: dict[str, Any]) -> str | None:
    """Why a parsed record's numbers are not sensible, or None."""
    bad = _bad_number(raw)
    if bad:
        return bad
    for fields, zero_ok in ((POSITIVE_FIELDS, False), (NON_NEGATIVE_FIELDS, True)):
        for section, keys in fields.items():
            part = raw.get(section)
            if part is None:
                continue
            if not isinstance(part, dict):
                return f"{section} is not a mapping"
            for k in keys:
                v = part.get(k)
                if v is None:
                    continue
                if isinstance(v, bool) or not isinstance(v, int | float):
                    return f"{section}.{k} is {type(v).__name__}, not a number"
                if not (v >= 0 if zero_ok else v > 0):
                    return f"{section}.{k} = {v!r} is {'negative' if zero_ok else 'not positive'}"
    return None


def parse_line(raw_line: bytes) -> RunRecord | str:
    """One stored line as a run, or the reason it is not one."""
    if len(raw_line) > MAX_LINE_BYTES:
        return f"{len(raw_line)} bytes, longer than any run"
    try:
        text = raw_line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start}"
    try:
        raw = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return f"invalid JSON: {msg}"
    if not isinstance(raw, dict):
        return f"a JSON {type(raw).__name__}, not a run record"
    bad = check_record_numbers(raw)
    if bad:
        return bad
    if not isinstance(raw.get("id"), str):  # written before runs had ids: one from the line itself
        raw["id"] = hashlib.sha256(raw_line).hexdigest()[:12]
    try:
        return RunRecord.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err.get("loc", ())) or "record"
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        return f"field {field}: {msg}"


def read_store(directory: Path | None = None) -> StoreContents:
    """Every usable run, oldest first, and every skipped line with its reason.

    Never raises for what is in the file; an unreadable file (permissions, a folder
    where the file should be) is one skipped "line 0" with the reason.
    """
    path = runs_path(directory)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return StoreContents(path=str(path))
    except OSError as exc:
        return StoreContents(
            path=str(path), skipped=(SkippedLine(line=0, reason=f"cannot read: {exc.strerror or exc}"),)
        )
    runs: list[RunRecord] = []
    skipped: list[SkippedLine] = []
    seen: set[str] = set()
    for n, raw_line in enumerate(data.split(b"\n"), start=1):
        if not raw_line.strip():
            continue
        got = parse_line(raw_line.strip())
        if isinstance(got, str):
            skipped.append(SkippedLine(line=n, reason=got))
            continue
        if got.id in seen:  # an id copied by hand: keep both runs, make the second addressable
            got = got.model_copy(update={"id": f"{got.id}-{n}"})
        seen.add(got.id)
        runs.append(got)
    return StoreContents(path=str(path), runs=tuple(runs), skipped=tuple(skipped))


def load_runs(directory: Path | None = None) -> list[RunRecord]:
    """All usable stored runs, oldest first (bad lines skipped: see :func:`read_store`)."""
    return list(read_store(directory).runs)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path``'s lock file, between processes (POSIX flock; on
    other systems the single O_APPEND write is what keeps lines whole)."""
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows
            pass
        yield
    finally:
        os.close(fd)  # closing releases the lock


def append_run(record: RunRecord, directory: Path | None = None) -> Path:
    """Append one run as one whole line; returns the file written."""
    path = runs_path(directory)
    line = (record.model_dump_json() + "\n").encode("utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with _locked(path):
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size:
                    # A torn last line (a crash mid-write) must not swallow this record.
                    with open(path, "rb") as fh:
                        fh.seek(size - 1)
                        if fh.read(1) != b"\n":
                            line = b"\n" + line
                os.write(fd, line)
            finally:
                os.close(fd)
    except OSError as exc:
        raise SizingError(f"cannot write the run store {path}: {exc.strerror or exc}") from exc
    return path


def _rewrite(path: Path, keep: list[bytes]) -> None:
    """Replace the store with ``keep`` (raw lines) atomically: temp file, then rename."""
    fd, tmp = tempfile.mkstemp(prefix=".live_runs.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"".join(line + b"\n" for line in keep))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def forget_run(run_id: str, directory: Path | None = None) -> RunRecord:
    """Remove one run from the store (undo); every other line, even a bad one, is kept."""
    path = runs_path(directory)
    try:
        with _locked(path):
            lines = path.read_bytes().split(b"\n") if path.is_file() else []
            keep: list[bytes] = []
            gone: RunRecord | None = None
            for n, raw_line in enumerate(lines, start=1):
                if not raw_line.strip():
                    continue
                got = parse_line(raw_line.strip())
                if gone is None and isinstance(got, RunRecord) and run_id in (got.id, f"{got.id}-{n}"):
                    gone = got
                    continue
                keep.append(raw_line)
            if gone is None:
                raise SizingError(f"no stored run has id {run_id!r} (list them with `llm-sizing calibrate --list`)")
            _rewrite(path, keep)
    except OSError as exc:
        raise SizingError(f"cannot rewrite the run store {path}: {exc.strerror or exc}") from exc
    return gone


def reset_store(directory: Path | None = None) -> Path | None:
    """Set every stored run aside (renamed with the time, not deleted); returns where."""
    path = runs_path(directory)
    if not path.is_file():
        return None
    backup = path.with_name(f"{path.name}.reset-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        with _locked(path):
            os.replace(path, backup)
    except OSError as exc:
        raise SizingError(f"cannot reset the run store {path}: {exc.strerror or exc}") from exc
    return backup


def export_runs(runs: list[RunRecord]) -> str:
    """The runs as one shareable JSON document."""
    return json.dumps(
        {"format": "llm-sizing live runs", "schema_version": SCHEMA, "runs": [r.model_dump(mode="json") for r in runs]},
        indent=2,
    )

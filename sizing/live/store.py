"""Every live check, kept: a JSON-lines file in the user's data directory.

Runs are what calibration learns from, and what people share, so each record carries
what it takes to judge it elsewhere: the llama.cpp version and backend, the hardware,
the scenario, the estimate and the measurement. One record per line, appended, so a
crash mid-write loses at most that line (which ``load_runs`` skips).

The directory is ``$LLM_SIZING_HOME`` if set, else the platform's user data directory:
``$XDG_DATA_HOME/llm-sizing`` (``~/.local/share/llm-sizing``) on Linux,
``~/Library/Application Support/llm-sizing`` on macOS, ``%LOCALAPPDATA%\\llm-sizing`` on
Windows.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sizing.errors import SizingError

RUNS_FILE = "live_runs.jsonl"
SCHEMA = 1


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


class RunRecord(BaseModel):
    """One stored live check."""

    model_config = ConfigDict(extra="allow")

    schema_version: int = SCHEMA
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
    status: str = "ok"
    message: str = ""


def runs_path(directory: Path | None = None) -> Path:
    return (directory or data_dir()) / RUNS_FILE


def append_run(record: RunRecord, directory: Path | None = None) -> Path:
    """Append one run; returns the file written."""
    path = runs_path(directory)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as fh:
            # A torn last line (a crash mid-write) must not swallow this record.
            fh.seek(0, os.SEEK_END)
            if fh.tell() > 0:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")
            fh.write((record.model_dump_json() + "\n").encode("utf-8"))
    except OSError as exc:
        raise SizingError(f"cannot write the run store {path}: {exc.strerror or exc}") from exc
    return path


def load_runs(directory: Path | None = None) -> list[RunRecord]:
    """All stored runs, oldest first; unreadable lines (a torn write) are skipped."""
    path = runs_path(directory)
    if not path.is_file():
        return []
    out: list[RunRecord] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                out.append(RunRecord.model_validate_json(line))
            except ValueError:
                continue
    return out


def export_runs(runs: list[RunRecord]) -> str:
    """The runs as one shareable JSON document."""
    return json.dumps(
        {"format": "llm-sizing live runs", "schema_version": SCHEMA,
         "runs": [r.model_dump(mode="json") for r in runs]},
        indent=2,
    )

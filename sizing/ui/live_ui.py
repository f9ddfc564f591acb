"""Live check on "This machine": run llama.cpp on a model file, with progress and cancel.

The check runs in a worker thread (the runner itself starts llama.cpp in a child process
with an argument list, never a shell); the page polls the job from a fragment every
second, so the rest of the page stays usable and the Cancel button is always live.
Results are kept for the session as the calibration history and compared with what the
estimator says for the same file and settings.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import streamlit as st

from sizing.ui import charts, fmt, services
from sizing.live.packaged import bundled_models
from sizing.ui.config import load_config
from sizing.ui.echo import inert

STAGES = ("queued", "loading", "prompt", "generation", "done")
CTX_CHOICES = (512, 1024, 2048, 4096, 8192, 16384, 32768)
JOB_KEY = "live.job"


@dataclass
class Job:
    """One live check in flight: written by the worker thread, read by the page."""

    path: str
    label: str
    ctx: int
    cancel: threading.Event = field(default_factory=threading.Event)
    events: list[Any] = field(default_factory=list)
    result: Any = None
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()


def _worker(job: Job, n_prompt: int, n_gen: int, cfg: Any) -> None:
    """Runs in a thread: the whole check (estimate, guard, run, compare, store) in the core."""
    try:
        from sizing.live.check import run_check

        job.result = run_check(
            job.path,
            ctx=job.ctx,
            n_prompt=n_prompt,
            n_gen=n_gen,
            runner=os.environ.get("LLM_SIZING_RUNNER", "auto"),
            web_mode=cfg.web_mode,
            allowed_dirs=list(cfg.model_dirs),
            progress=job.events.append,
            cancel=job.cancel,
        )
    except Exception as exc:  # shown as one line on the page; never a traceback
        job.error = str(exc) or type(exc).__name__


def render(machine: Any) -> None:
    cfg = load_config()
    if cfg.web_mode:
        st.info("Live checks run llama.cpp on the server; they are off in web mode.", icon=":material/public:")
        return
    files = bundled_models() + _found_models(cfg)
    st.caption(
        "Runs llama.cpp on a model here and measures what it allocates and how fast it runs. "
        "A GGUF file is run as it is; a catalog model runs as a synthetic file of its architecture "
        "(real header, empty weights): memory is exact, speed is not meaningful."
    )
    ids = services.catalog_ids()
    choices: list[str] = [str(p) for p in files] + [f"catalog:{i}" for i in ids]

    def label(c: str) -> str:
        if c == "other":
            return "Another file…"
        if c.startswith("catalog:"):
            return f"{c.removeprefix('catalog:')} (synthetic)"
        return Path(c).name

    c1, c2, c3 = st.columns([3, 1, 1])
    pick = c1.selectbox("Model", choices + ["other"], format_func=label, key="live.file")
    path: str | None = pick
    if pick == "other":
        typed = st.text_input("Path to a GGUF file on this machine", key="live.path", max_chars=1000)
        path = typed.strip() or None
    elif pick and pick.startswith("catalog:"):
        path = pick.removeprefix("catalog:")
    ctx = c2.selectbox("Context", CTX_CHOICES, index=2, format_func=fmt.ctx, key="live.ctx")
    n_gen = c3.number_input("Tokens to generate", min_value=8, max_value=1024, value=64, step=8, key="live.ngen")
    synthetic = bool(pick and pick.startswith("catalog:"))
    timed = True
    if synthetic:
        # Empty weights: what llama.cpp allocates is exact, its speed says little, so by
        # default the check only loads the model (seconds instead of minutes).
        timed = st.toggle(
            "Also time prompt and generation (slow: runs the whole model on empty weights)",
            key="live.timed",
            value=False,
        )
    n_prompt = min(512, int(ctx) // 2) if timed else 0
    n_gen_run = int(n_gen) if timed else 0
    if path and pick != "other":
        with _quiet():
            eta = services.live_expected_seconds(path, int(ctx), n_prompt, n_gen_run)
        if eta is not None:
            st.caption(f"Expected: about {_duration(eta['total_s'])} ({eta['basis']}).")
    job: Job | None = st.session_state.get(JOB_KEY)
    busy = bool(job and job.running)
    if st.button("Run live check", icon=":material/play_arrow:", disabled=busy or not path, type="primary"):
        if pick == "other" and path and Path(path).expanduser().suffix.lower() != ".gguf":
            st.error("Give the path of a .gguf file.")
        elif path:
            job = Job(path=path, label=label(pick) if pick != "other" else Path(path).name, ctx=int(ctx))
            job.thread = threading.Thread(
                target=_worker, args=(job, n_prompt, n_gen_run, cfg), daemon=True, name="live-check"
            )
            job.thread.start()
            st.session_state[JOB_KEY] = job
    progress_panel()
    result()
    history()


def _found_models(cfg: Any) -> list[Path]:
    """GGUF files in the configured directories and the usual caches (HF, Ollama, LM Studio)."""
    try:
        from sizing.live.models import list_local_gguf

        return list_local_gguf(list(cfg.model_dirs) or None, limit=200)
    except Exception:
        return cfg.local_gguf_files()


@st.fragment(run_every=1.0)
def progress_panel() -> None:
    """Progress, cancel and the result of the current job; re-drawn every second."""
    job: Job | None = st.session_state.get(JOB_KEY)
    if job is None:
        return
    stages = [e.stage for e in job.events]
    last = stages[-1] if stages else "queued"
    frac = (STAGES.index(last) + 1) / len(STAGES) if last in STAGES else 0.0
    elapsed = time.monotonic() - job.started
    if job.running:
        st.progress(min(frac, 0.95), text=f"{job.label}: {last}… ({elapsed:.0f} s)")
        if st.button("Cancel", icon=":material/stop:", key="live.cancel"):
            job.cancel.set()
            st.toast("Cancelling…")
        return
    if not getattr(job, "_shown", False):
        job._shown = True  # type: ignore[attr-defined]
        st.rerun()  # redraw the whole page once: the result and history below change


PART_LABELS = {
    "weights_bytes": "Weights",
    "kv_cache_bytes": "KV cache",
    "compute_bytes": "Compute",
    "overhead_bytes": "Overhead",
    "prefill_tokens_per_s": "Prompt tok/s",
    "decode_tokens_per_s": "Generation tok/s",
}


def result() -> None:
    """The last finished check: measured against estimated, part by part."""
    job: Job | None = st.session_state.get(JOB_KEY)
    if job is None or job.running:
        return
    if job.error:
        st.error(f"Live check failed: {inert(job.error)}", icon=":material/error:")
        return
    r = job.result
    if r is None:
        return
    if r.refused:
        st.warning(f"Not run: {inert(r.refused)}", icon=":material/block:")
        return
    m = r.measured
    if m is not None and m.status != "ok":
        st.warning(inert(status_line(job.label, m.status, m.message)), icon=":material/warning:")
    mem = [c for c in r.comparison if c.part.endswith("_bytes") and c.measured is not None]
    if mem:
        st.markdown(f"##### Measured against estimated — {inert(job.label)}, {fmt.ctx(job.ctx)} context")
        st.plotly_chart(
            charts.measured_vs_estimated(
                [PART_LABELS.get(c.part, c.part) for c in mem],
                [(c.estimated or 0) / charts.GIB for c in mem],
                [(c.measured or 0) / charts.GIB for c in mem],
                "GiB",
            ),
            width="stretch",
            config={"displayModeBar": False},
        )
    rows = []
    for c in r.comparison:
        is_bytes = c.part.endswith("_bytes")
        show = fmt.gb if is_bytes else fmt.rate
        rows.append(
            {
                "": PART_LABELS.get(c.part, c.part),
                "estimated": show(c.estimated),
                "measured": show(c.measured),
                "error": "—" if c.rel_error is None else f"{c.rel_error:+.1%}",
                "within claimed tolerance": {True: "yes", False: "no", None: "—"}[c.within],
            }
        )
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch")
    if r.synthetic:
        st.caption(
            "Synthetic model: memory is what llama.cpp allocates for this architecture; "
            "speed on empty weights is not meaningful."
        )
    v = r.verdict
    if v is not None and not v.used:
        st.warning(f"This run is left out of this machine's speed calibration: {v.reason}.", icon=":material/block:")
    if r.calibration is not None:
        c = r.calibration
        st.caption(
            f"Calibration on this machine ({c.n_runs} runs): {c.factors.label()}. "
            f"Decode error {_pct(c.decode_error_before)} before, {_pct(c.decode_error_after)} after; "
            f"prefill {_pct(c.prefill_error_before)} before, {_pct(c.prefill_error_after)} after."
        )
    if r.runner is not None:
        st.caption(
            f"Runner: {r.runner.name} {r.runner.version} ({r.runner.backend}). "
            + (f"Stored in {r.stored_in}." if r.stored_in else "")
        )


def status_line(label: str, status: str, message: str | None) -> str:
    """'label: cancelled.' — the status once, with the runner's message only when it adds to it."""
    msg = (message or "").strip().rstrip(".")
    if not msg or msg.lower().startswith(status.lower()):
        return f"{label}: {msg or status}."
    return f"{label}: {status}. {msg}."


class _quiet:
    """An estimate for the expected time must not break the page: errors mean 'no estimate'."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], Exception)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def history() -> None:
    """Every stored run on this machine (the run store the CLI's `verify` writes too)."""
    try:
        from sizing.live.store import load_runs

        runs = load_runs()
    except Exception:
        return
    if not runs:
        return
    st.markdown("##### Calibration history")
    points = []
    for r in runs[-200:]:
        meas, est = r.measured or {}, r.estimate or {}
        label = f"{Path(r.model).name} · {fmt.ctx((r.scenario or {}).get('ctx'))}"
        for key, part in (("weights_bytes", "Weights"), ("kv_cache_bytes", "KV cache"), ("compute_bytes", "Compute")):
            if meas.get(key) is not None and est.get(key) is not None:
                points.append({"part": part, "estimated": est[key], "measured": meas[key], "label": label})
    if points:
        st.plotly_chart(charts.history_scatter(points), width="stretch", config={"displayModeBar": False})
        st.caption(
            "Each stored run, part by part: on the dotted line the estimate matched what llama.cpp "
            "allocated; above it the estimate was low."
        )
    rows = []
    for r in reversed(runs[-200:]):
        meas, est = r.measured or {}, r.estimate or {}
        rows.append(
            {
                "when": time.strftime("%Y-%m-%d %H:%M", time.localtime(r.time)),
                "model": Path(r.model).name if "/" in r.model and r.model.endswith(".gguf") else r.model,
                "quant": r.quant or "",
                "context": fmt.ctx((r.scenario or {}).get("ctx")),
                "status": r.status,
                "runner": f"{r.runner.get('name', '')} ({r.runner.get('backend', '')})",
                "memory error": _pct(_total_err(r.errors)),
                "decode measured": fmt.rate(meas.get("decode_tokens_per_s")),
                "decode predicted": fmt.rate(est.get("predicted_decode_tokens_per_s")),
            }
        )
    st.dataframe(rows, hide_index=True, width="stretch")


def _total_err(errors: dict) -> float | None:
    """The largest memory-part error of a run (what a user most needs to know)."""
    vals = [v for k, v in (errors or {}).items() if k.endswith("_bytes") and v is not None]
    return max(vals, key=abs) if vals else None

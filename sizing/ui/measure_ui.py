"""'Measure this machine' in the speed calibration section: ``calibrate --measure`` from the UI.

Before starting, the page shows what will run (``calibration_plan`` for the RAM available
now) and about how long (the live check's expected-time estimate, per run); the
measurement runs in a worker thread through ``sizing.live.measure_machine`` (each run
stored with purpose "calibration", screened and fitted) and a fragment shows its progress
lines and a Cancel button. Afterwards the calibration table marks this measurement's runs,
each with its verdict: used, or left out and why.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

from sizing.errors import SizingError
from sizing.ui import fmt, live_ui, services
from sizing.ui.config import load_config
from sizing.ui.echo import inert

JOB_KEY = "measure.job"
WEB_MODE_MESSAGE = "Measuring this machine runs llama.cpp on the server; live runs are off in web mode."
PINS = {"overhead": "per-token overhead", "attention": "attention at depth", "bandwidth": "RAM bandwidth"}

log = logging.getLogger("sizing.ui")


@dataclass
class MeasureJob:
    """One measurement in flight: written by the worker thread, read by the page."""

    repeats: int
    total: int  # runs planned in all
    cancel: threading.Event = field(default_factory=threading.Event)
    lines: list[str] = field(default_factory=list)
    current: str = ""  # the progress line of the run in flight
    runs_started: int = 0
    stage: str = "queued"
    run_ids: list[str] = field(default_factory=list)
    error: str | None = None
    started: float = field(default_factory=time.monotonic)
    thread: threading.Thread | None = None
    shown: bool = False

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def say(self, line: str) -> None:
        """measure_machine's progress lines; a line naming a run starts that run."""
        self.lines.append(line)
        if line.startswith("["):
            self.current, self.stage = line, "starting"
            self.runs_started += 1


def _worker(job: MeasureJob, plan: list, web_mode: bool) -> None:
    """Runs in a thread: the whole measurement (each run stored, screened, fitted) in the live layer."""
    try:
        from sizing.live.measure_machine import measure_machine

        measure_machine(
            repeats=job.repeats,
            plan=plan,
            web_mode=web_mode,
            say=job.say,
            progress=lambda e: setattr(job, "stage", e.stage),
            cancel=job.cancel,
            on_result=lambda r: job.run_ids.append(r.run_id) if r.run_id else None,
        )
    except SizingError as exc:  # a busy machine, bad input: its own one-line message
        job.error = str(exc)
    except Exception as exc:  # a bug: one line on the page, the traceback in the server log
        log.exception("measuring this machine failed")
        job.error = f"an internal error occurred ({type(exc).__name__})"


def render() -> None:
    st.markdown("##### Measure this machine")
    cfg = load_config()
    if cfg.web_mode:
        st.info(WEB_MODE_MESSAGE, icon=":material/public:")
        return
    st.caption(
        "Runs the packaged small models (they pin the per-token overhead) and one synthetic model "
        "large enough to be bandwidth-bound (it pins the RAM bandwidth), each repeated so a run "
        "taken while the machine was busy is left out. The same as `llm-sizing calibrate --measure`."
    )
    plan, why = services.measure_plan()
    if why:
        st.warning(f"Cannot measure this machine: {inert(why)}.", icon=":material/block:")
        return
    repeats = st.number_input(
        "Repeats of each model",
        min_value=1,
        max_value=10,
        value=3,
        key="measure.repeats",
        help="the median of the repeats is fitted; a repeat far from the others is left out",
    )
    eta = services.measure_expected_seconds(plan, int(repeats))
    st.dataframe(
        [
            {
                "run": r["run"],
                "pins": PINS.get(r["regime"], r["regime"]),
                "expected, each": fmt.seconds(r["seconds"]),
            }
            for r in eta["runs"]
        ],
        hide_index=True,
        width="stretch",
    )
    if eta["total_s"] is not None:
        st.caption(
            f"Expected: about {fmt.seconds(eta['total_s'])} in all "
            f"({eta['repeats']} × each run, at the speeds predicted for this machine)."
        )
    job: MeasureJob | None = st.session_state.get(JOB_KEY)
    check: Any = st.session_state.get(live_ui.JOB_KEY)
    busy = bool(job and job.running) or bool(check and check.running)
    if st.button("Measure this machine", icon=":material/speed:", key="measure.start", disabled=busy):
        job = MeasureJob(repeats=int(repeats), total=len(plan) * int(repeats))
        job.thread = threading.Thread(
            target=_worker, args=(job, plan, cfg.web_mode), daemon=True, name="measure-machine"
        )
        job.thread.start()
        st.session_state[JOB_KEY] = job
    progress_panel()
    outcome()


@st.fragment(run_every=1.0)
def progress_panel() -> None:
    """The progress lines and Cancel while measuring; re-drawn every second."""
    job: MeasureJob | None = st.session_state.get(JOB_KEY)
    if job is None:
        return
    if job.running:
        elapsed = time.monotonic() - job.started
        runs_done = max(0, job.runs_started - 1)
        st.progress(
            min(runs_done / max(job.total, 1), 0.95),
            text=f"Measuring this machine, {job.current or 'starting'}: {job.stage}… ({elapsed:.0f} s)",
        )
        st.code("\n".join(job.lines) or "starting…", language=None)
        if st.button("Cancel", icon=":material/stop:", key="measure.cancel"):
            job.cancel.set()
            st.toast("Cancelling…")
        return
    if not job.shown:
        job.shown = True
        st.rerun()  # redraw the whole page once: the calibration and its runs change


def outcome() -> None:
    """The finished measurement: its progress lines, and one message if it failed."""
    job: MeasureJob | None = st.session_state.get(JOB_KEY)
    if job is None or job.running:
        return
    if job.error:
        st.error(f"Measuring this machine failed: {inert(job.error)}", icon=":material/error:")
    elif job.cancel.is_set():
        st.warning("Measuring this machine was cancelled; the runs it finished are stored.", icon=":material/stop:")
    elif not job.run_ids:
        st.warning("Measuring this machine stored no run: each run's reason is below.", icon=":material/block:")
    else:
        st.success(
            "Measured this machine: its runs are marked in the calibration table, each used or left out and why.",
            icon=":material/check:",
        )
    if job.lines:
        with st.expander("What ran"):
            st.code("\n".join(job.lines), language=None)


def last_run_ids() -> set[str]:
    """The stored runs of the last finished measurement (the calibration table marks them)."""
    job: MeasureJob | None = st.session_state.get(JOB_KEY)
    return set(job.run_ids) if job is not None and not job.running else set()

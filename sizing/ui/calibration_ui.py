"""This machine's speed calibration on the "This machine" page: see it, measure it
(``measure_ui``), undo one run, reset (after a confirmation), and upload llama-bench results.

Every number and verdict comes from ``sizing.live.this_machine`` (the screened fit of
the stored runs); this module lays them out and passes the user's actions back.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from sizing.errors import SizingError
from sizing.ui import measure_ui


UPLOAD_CAP_BYTES = 16 << 20


def render(machine: Any) -> None:
    from sizing.live.this_machine import machine_status

    st.subheader("Speed calibration")
    msg = st.session_state.pop("calib_message", None)
    if msg:
        (st.success if msg[0] == "ok" else st.error)(msg[1])
    status = machine_status(machine=machine)
    measured = measure_ui.last_run_ids()
    for w in status["skipped_lines"]:
        st.warning(f"Run store: {w}", icon=":material/report:")
    if not status["backends"]:
        st.caption(
            "No stored runs from this machine yet: run a live check above, measure this machine, or upload "
            "llama-bench results below. Until then speeds use the public calibration."
        )
    for backend, b in status["backends"].items():
        st.markdown(f"**{backend}**: {b['detail']} · {b['n_used']} used")
        rows = [
            {
                "id": r["id"],
                "when": r.get("time") or "",
                "run": r["label"],
                "decode tok/s": round(r["decode_tokens_per_s"], 1) if r.get("decode_tokens_per_s") else None,
                "used": "yes" if r["used"] else "left out",
                "why": r["reason"] or "",
                "from": r.get("source") or "",
                **({"just measured": "yes" if r["id"] in measured else ""} if measured else {}),
            }
            for r in b["runs"]
        ]
        st.dataframe(rows, hide_index=True, width="stretch")
    measure_ui.render()
    ids = [r["id"] for b in status["backends"].values() for r in b["runs"]]
    if ids:
        c1, c2 = st.columns(2)
        with c1:
            gone = st.selectbox(
                "Undo one run",
                ["", *ids],
                key="calib_forget_id",
                help="removes that run from the store; the calibration is refitted without it",
            )
            st.button(
                "Remove this run",
                disabled=not gone,
                key="calib_forget",
                on_click=_act,
                args=(lambda: _forget(st.session_state["calib_forget_id"]),),
            )
        with c2:
            confirm = st.checkbox("Yes, set every stored run aside", key="calib_reset_confirm")
            st.button(
                "Reset the calibration",
                disabled=not confirm,
                key="calib_reset",
                help="the runs are renamed aside, not deleted",
                on_click=_act,
                args=(_reset,),
            )
    upload = st.file_uploader(
        "Import llama-bench results (llama-bench -o json or -o jsonl, run on this machine)",
        type=["json", "jsonl"],
        key="calib_upload",
    )
    st.button(
        "Import",
        key="calib_import",
        disabled=upload is None,
        on_click=_act,
        args=(lambda: _import(st.session_state["calib_upload"]),),
    )


def _act(fn) -> None:
    """A button's callback: run the action before the page is drawn again, keep its message."""
    try:
        text = fn()
        st.session_state["calib_message"] = ("ok", text)
    except SizingError as exc:
        st.session_state["calib_message"] = ("error", str(exc))


def _forget(run_id: str) -> str:
    from sizing.live import store

    gone = store.forget_run(run_id)
    return f"Removed run {gone.id} ({gone.model}); the calibration is refitted without it."


def _reset() -> str:
    from sizing.live import store

    where = store.reset_store()
    st.session_state["calib_reset_confirm"] = False
    return f"Stored runs set aside in {where.name}." if where else "There were no stored runs."


def _import(upload: Any) -> str:
    from sizing.live.this_machine import import_llama_bench

    if upload.size > UPLOAD_CAP_BYTES:
        raise SizingError(f"{upload.name}: {upload.size >> 20} MiB is not a llama-bench result file")
    records, notes = import_llama_bench(upload.getvalue(), upload.name)
    extra = f" ({'; '.join(notes)})" if notes else ""
    return f"Imported {len(records)} result{'s' if len(records) != 1 else ''} from {upload.name}{extra}."

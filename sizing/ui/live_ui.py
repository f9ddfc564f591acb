"""Live check on "This machine": run llama.cpp on a model file, with progress and cancel."""

from __future__ import annotations

from typing import Any

import streamlit as st

from sizing.ui import services
from sizing.ui.config import load_config
from sizing.ui.feedback import Unavailable


def render(machine: Any) -> None:
    cfg = load_config()
    if cfg.web_mode:
        st.info("Live checks run llama.cpp on the server; they are off in web mode.")
        return
    if not services.has("sizing.live.runner", "select_runner"):
        raise Unavailable("Live checks are not available in this build yet.")
    raise Unavailable("Live checks are being wired in.")

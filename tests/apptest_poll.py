"""Waiting on a Streamlit page whose work runs in a background thread (live checks, measuring)."""

from __future__ import annotations

import time
from collections.abc import Callable

from streamlit.testing.v1 import AppTest


def poll(at: AppTest, done: Callable[[AppTest], bool], timeout_s: float, what: str, texts: Callable) -> AppTest:
    """Rerun ``at`` once a second until ``done`` says so; fail naming ``what`` with the page's text."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        at.run()
        if done(at):
            return at
        time.sleep(1.0)
    raise AssertionError(f"{what} did not finish in time:\n" + texts(at))

"""Turn any failure inside a page section into one clear message, never a traceback.

Bad user input (``SizingError``) shows its own message; anything else is a bug, logged
on the server with its traceback and shown to the user as one line.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from sizing.errors import SizingError
from sizing.ui.echo import inert
from sizing.ui.redact import shown_error

log = logging.getLogger("sizing.ui")


@contextmanager
def guard(what: str) -> Iterator[None]:
    """Run a page section; show what went wrong in words if it fails."""
    try:
        yield
    except SizingError as exc:
        st.error(inert(shown_error(str(exc))), icon=":material/block:")
    except Exception as exc:  # a bug: keep the page alive, keep the traceback server-side
        log.exception("UI section failed: %s", what)
        st.error(
            f"Could not {what}: an internal error occurred ({type(exc).__name__}). "
            "The rest of the page still works; please report this with the page link.",
            icon=":material/error:",
        )

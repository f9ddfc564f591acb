"""Page: compare."""

from __future__ import annotations

import streamlit as st


def render() -> None:
    st.title("compare")

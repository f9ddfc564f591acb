"""The app's pages and their addresses (the address is part of every share link)."""

from __future__ import annotations

import importlib

import streamlit as st

from sizing.ui import services
from sizing.ui.feedback import guard

# (module under sizing.ui.pages, title, icon, url path)
PAGES = (
    ("run", "Can I run it?", "❓", "run"),
    ("plan", "Plan a purchase", "🛒", "plan"),
    ("machine", "This machine", "💻", "machine"),
    ("compare", "Compare", "⚖️", "compare"),
)


def _page(module: str, title: str, icon: str, url_path: str, default: bool = False) -> st.Page:
    render = importlib.import_module(f"sizing.ui.pages.{module}").render
    return st.Page(render, title=title, icon=icon, url_path=url_path, default=default)


def pages() -> list[st.Page]:
    out = [_page(*spec, default=(i == 0)) for i, spec in enumerate(PAGES)]
    # The fine-tuning page is owned by another module; mount it when it exists.
    if services.has("sizing.ui.finetune", "render"):
        from sizing.ui import finetune

        out.append(st.Page(finetune.render, title="Fine-tune", icon="🎛️", url_path="finetune"))
    return out


def main() -> None:
    st.set_page_config(page_title="llm-sizing", page_icon="🧮", layout="wide")
    nav = st.navigation(pages())
    with st.sidebar:
        st.caption("**llm-sizing** — can I run this model on this hardware, and how fast? "
                   "Numbers are checked against llama.cpp.")
    with guard("show this page"):
        nav.run()

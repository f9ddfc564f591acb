"""The app's pages and their addresses (the address is part of every share link)."""

from __future__ import annotations

import importlib

import streamlit as st

from sizing.ui.budget import BudgetExceeded, cpu_budget, rerun_cpu_s
from sizing.ui.feedback import guard

# (module under sizing.ui.pages, title, icon, url path)
# Icons are Material Symbols (rendered from Streamlit's own font, so they show on any
# system); emoji would need a colour-emoji font on the viewer's machine.
PAGES = (
    ("run", "Can I run it?", ":material/help:", "run"),
    ("plan", "Plan a purchase", ":material/shopping_cart:", "plan"),
    ("runs_well", "What runs well", ":material/leaderboard:", "runs-well"),
    ("machine", "This machine", ":material/computer:", "machine"),
    ("compare", "Compare", ":material/compare_arrows:", "compare"),
    ("finetune", "Fine-tune", ":material/tune:", "finetune"),
)


def _page(module: str, title: str, icon: str, url_path: str, default: bool = False) -> st.Page:
    render = importlib.import_module(f"sizing.ui.pages.{module}").render
    # The default page lives at "/", so it gets its own (unused) path; "/run" is an alias.
    path = f"{url_path}-home" if default else url_path
    return st.Page(render, title=title, icon=icon, url_path=path, default=default)


def pages() -> list[st.Page]:
    out = [_page(*spec, default=(i == 0)) for i, spec in enumerate(PAGES)]

    # The default page is served at "/"; keep "/run" working too (older or typed links).
    def run_alias() -> None:
        importlib.import_module(f"sizing.ui.pages.{PAGES[0][0]}").render()

    out.append(st.Page(run_alias, title=PAGES[0][1], url_path=PAGES[0][3], visibility="hidden"))
    return out


def main() -> None:
    st.set_page_config(page_title="llm-sizing", page_icon="🧮", layout="wide")
    # Less empty space above the title: the answer should be on the first screen.
    st.html("<style>[data-testid='stMainBlockContainer']{padding-top:2.5rem}</style>")
    nav = st.navigation(pages())
    with st.sidebar:
        st.caption(
            "**llm-sizing** — can I run this model on this hardware, and how fast? "
            "Numbers are checked against llama.cpp."
        )
    within_budget(nav.run)


def within_budget(render) -> None:
    """Run one page under the per-rerun CPU budget (``sizing.ui.budget``): past it, the
    page stops and says so in one message."""
    try:
        with cpu_budget(rerun_cpu_s()), guard("show this page"):
            render()
    except BudgetExceeded as exc:
        st.error(exc.message(), icon=":material/timer_off:")

"""Can I run it? — one model, one set of run settings, one hardware choice: the answer."""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from sizing.ui import answer, inputs
from sizing.ui.config import load_config
from sizing.ui.device import is_phone
from sizing.ui.feedback import guard
from sizing.ui.state import PageState, copy_link_button

URL_PATH = "run"

# A narrow screen that does not say it is a phone (a small desktop window, a tablet asking
# for the desktop site) still stacks the two columns: put the answer's column first there.
# 640 px is where Streamlit stacks columns.
NARROW_ANSWER_FIRST = (
    "<style>@media (max-width: 640px) { [data-testid='stColumn']:has(.st-key-run-answer) { order: -1; } }</style>"
)


def page_state() -> PageState:
    cfg = load_config()
    return PageState("run", inputs.model_params() + inputs.run_params() + inputs.hardware_params(cfg))


def render() -> None:
    cfg = load_config()
    ps = page_state()
    ps.load()
    head, link = st.columns([5, 1], vertical_alignment="bottom")
    head.title("Can I run it?")
    ps.show_warnings()
    phone = is_phone()
    if phone:
        # On a phone the columns would stack, putting the verdict below every input: the
        # inputs fold into one expander above the answer instead.
        left: DeltaGenerator = st.expander("Model, context and hardware", icon=":material/tune:", expanded=False)
        right = st.container()
    else:
        st.html(NARROW_ANSWER_FIRST)
        left, answer_column = st.columns([2, 3], gap="large")
        right = answer_column.container(key="run-answer")
    choice = None
    with left:
        with st.container(border=True):
            with guard("read the model"):
                choice = inputs.model_input(ps, cfg)
            inputs.run_inputs(ps, choice)
        with st.container(border=True):
            hw = inputs.hardware_input(ps, cfg)
    ps.sync()
    with link:
        copy_link_button(ps, URL_PATH)
    if choice is None:
        return
    if hw.mode == "db" and not hw.gpu_ids:
        right.info("Pick a GPU from the database (type to search), and how many cards of it.", icon=":material/memory:")
        return
    with guard("size this model"):
        answer.render(choice, ps.values(), hw, summary=right)

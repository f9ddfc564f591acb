"""Streamlit entry point: mounts the pages in sizing/ui. Run with `make run`."""

import streamlit as st

st.set_page_config(page_title="llm-sizing", page_icon="🧮", layout="wide")
st.title("llm-sizing")
st.write("Can I run this language model on this hardware, and how fast?")

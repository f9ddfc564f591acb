"""Streamlit entry point: `make run` (or `streamlit run app.py`). Pages live in sizing/ui."""

from sizing.ui.navigation import main

main()

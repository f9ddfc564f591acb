"""Test and measurement harness, kept out of the wheel: truth cases against llama.cpp, the
fine-tuning probe, the Streamlit dev server for browser tests, and the offline speed fit.

Run from the repository root (``python -m harness.speed_fit``); tests and bench scripts
import it from the checkout.
"""

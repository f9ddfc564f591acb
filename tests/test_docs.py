"""The documented Python API: the examples in docs/python-api.md run and print what they say,
and ``sizing.__all__`` is exactly the names that page documents."""

from __future__ import annotations

import doctest
from pathlib import Path

import sizing

DOC = Path(__file__).resolve().parent.parent / "docs" / "python-api.md"


def test_python_api_examples_run(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = doctest.testfile(str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted >= 10
    assert result.failed == 0


def test_all_is_small_and_documented():
    assert sorted(sizing.__all__) == ["Answer", "Scenario", "SizingError", "__version__", "estimate"]
    text = DOC.read_text()
    for name in sizing.__all__:
        assert f"sizing.{name}" in text
        assert getattr(sizing, name) is not None

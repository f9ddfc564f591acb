"""Property-based fuzzing (Hypothesis) of what a stranger controls: GGUF headers, query
strings, CLI flags. A fixed, small number of examples keeps this part of ``make test``
short; ``bench/fuzz.py`` runs many more and prints the counts. Hangs are caught by
pytest-timeout (a hang guard, not a timing figure), so Hypothesis' deadline is off.
"""

from __future__ import annotations

import pytest
from fuzz_cases import check_cli, check_header, check_query, cli_flags, gguf_headers, query_strings
from hypothesis import HealthCheck, given, settings


def fuzz(n: int) -> settings:
    return settings(
        max_examples=n,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("LLM_SIZING_WEB_MODE", raising=False)


@pytest.mark.timeout(60)
@fuzz(300)
@given(gguf_headers())
def test_any_header_is_sized_or_refused_in_one_line(data):
    check_header(data)


@pytest.mark.timeout(120)
@fuzz(12)
@given(query_strings)
def test_any_query_string_renders_the_page(params):
    check_query(params)


@pytest.mark.timeout(120)
@fuzz(40)
@given(cli_flags("estimate"))
def test_any_estimate_flags_answer_or_exit_2(argv):
    check_cli(argv)


@pytest.mark.timeout(120)
@fuzz(25)
@given(cli_flags("finetune"))
def test_any_finetune_flags_answer_or_exit_2(argv):
    check_cli(argv)


@pytest.mark.timeout(60)
@fuzz(25)
@given(cli_flags("gpus"))
def test_any_gpus_flags_answer_or_exit_2(argv):
    check_cli(argv)

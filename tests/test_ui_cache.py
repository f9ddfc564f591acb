"""One rerun of "Can I run it?" computes each thing once, and an input change recomputes only
what reads that input (real page in AppTest, the real core; calls are counted, not faked)."""

from __future__ import annotations

from collections import Counter

import pytest
from streamlit.testing.v1 import AppTest

import sizing.core.memory.estimate as memory_estimate
from sizing.core import solver
from sizing.ui import services

PAGE = "from sizing.ui.pages.run import render\nrender()"


@pytest.fixture()
def counted(monkeypatch):
    """Count the memory estimates, the fit maps and the largest-context searches the page asks for."""
    for cached in (
        services._estimate,
        services._estimate_of_file,
        services._answer,
        services._fit_grid,
        services._largest_context,
        services._best_quant,
    ):
        cached.clear()
    calls: Counter[str] = Counter()

    def counting(name, real):
        def wrapper(*a, **k):
            calls[name] += 1
            return real(*a, **k)

        return wrapper

    monkeypatch.setattr(services, "core_estimate", counting("estimate", services.core_estimate))
    monkeypatch.setattr(memory_estimate, "repack_explanation", counting("fit map", memory_estimate.repack_explanation))
    monkeypatch.setattr(solver, "largest_context", counting("largest context", solver.largest_context))
    monkeypatch.setattr(solver, "best_quant_name", counting("best quant", solver.best_quant_name))
    return calls


def _shown(at) -> dict:
    return {m.label: m.value for m in at.metric}


def test_a_rerun_estimates_once_and_a_change_recomputes_only_what_reads_it(counted):
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.query_params.update(
        {"model": "Qwen/Qwen3-8B", "quant": "Q4_K_M", "ctx": "8192", "hw": "db", "gpu": "nvidia-rtx-3090"}
    )
    at.run()
    assert not at.exception and any("Verdict" in m.value for m in at.markdown)
    # the Answer, the limits and the fit map share one memory estimate (it was three)
    assert counted == {"estimate": 1, "fit map": 1, "largest context": 1, "best quant": 1}
    first = _shown(at)

    at.number_input(key="run.ctx").set_value(16384).run()
    assert not at.exception
    # a new context: a new estimate and best quant; the fit map and the largest context at
    # this quant do not read the context, so they are reused
    assert counted == {"estimate": 2, "fit map": 1, "largest context": 1, "best quant": 2}

    at.selectbox(key="run.quant").set_value("Q8_0").run()
    assert counted == {"estimate": 3, "fit map": 1, "largest context": 2, "best quant": 2}

    at.selectbox(key="run.quant").set_value("Q4_K_M").run()
    at.number_input(key="run.ctx").set_value(8192).run()
    assert not at.exception
    # back to the first inputs: everything from the caches, the same numbers on the page
    assert counted == {"estimate": 3, "fit map": 1, "largest context": 2, "best quant": 2}
    assert _shown(at) == first


def test_a_rerun_with_nothing_changed_computes_nothing(counted):
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.query_params.update({"hw": "custom", "mem": "48"})
    at.run()
    before = dict(counted)
    at.run()
    assert not at.exception and dict(counted) == before and before["estimate"] == 1


# --- uploads: parsed once per content, in a bounded cache --------------------------------


@pytest.fixture()
def parses(monkeypatch):
    """Count the real header parses behind ``services.read_gguf_header``."""
    calls: Counter[str] = Counter()
    real = services._parse_upload

    def counting(data, name):
        calls[name] += 1
        return real(data, name)

    monkeypatch.setattr(services, "_parse_upload", counting)
    monkeypatch.setattr(services, "UPLOADS", services._UploadCache(max_entries=4, max_bytes=1 << 20))
    return calls


def test_the_same_upload_is_parsed_once_and_a_refused_one_is_remembered(parses):
    from crafted_gguf import tiny_llama

    from sizing.errors import SizingError

    first = services.read_gguf_header(tiny_llama(), "tiny.gguf")
    again = services.read_gguf_header(bytes(tiny_llama()), "tiny.gguf")  # equal bytes, another object
    assert again is first and parses["tiny.gguf"] == 1
    for _ in range(2):
        with pytest.raises(SizingError, match="not a GGUF file"):
            services.read_gguf_header(b"not a model", "bad.gguf")
    assert parses["bad.gguf"] == 1


def test_the_upload_cache_is_bounded_by_entries_and_bytes(parses):
    from crafted_gguf import tiny_llama

    for i in range(10):  # ten different models (their context length differs)
        services.read_gguf_header(tiny_llama(context_length=(4, 256 + i)), f"m{i}.gguf")
    assert len(services.UPLOADS) == 4
    services.read_gguf_header(tiny_llama(context_length=(4, 256)), "m0.gguf")  # evicted: parsed again
    assert parses["m0.gguf"] == 2
    for name in ("big1.gguf", "big2.gguf"):  # headers with room after them: 0.6 of the byte bound each
        services.read_gguf_header(tiny_llama() + b"\0" * (600 << 10), name)
    assert len(services.UPLOADS) == 1  # over the bytes bound together: only the newest is kept
    services.read_gguf_header(tiny_llama() + b"\0" * (600 << 10), "big2.gguf")
    assert parses["big2.gguf"] == 1 and parses["big1.gguf"] == 1


def test_estimates_of_uploads_are_kept_no_more_than_their_parses():
    """Each estimate of a file carries the file's tensor list (tens of MB for a large
    uploaded header): a dozen different uploads leave at most eight such estimates alive,
    as many as the upload cache keeps parsed."""
    import gc

    from crafted_gguf import tiny_llama

    from sizing.estimate import Estimate

    services._estimate_of_file.clear()
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.query_params["src"] = "file"
    at.query_params["hw"] = "custom"
    at.run()
    for i in range(12):
        at.get("file_uploader")[0].upload(f"m{i}.gguf", tiny_llama(context_length=(4, 300 + i))).run()
        assert not at.exception and not at.error
    gc.collect()
    kept = [o for o in gc.get_objects() if isinstance(o, Estimate) and o.scenario.tensors is not None]
    assert 1 <= len(kept) <= 8, len(kept)


def test_the_limits_are_sized_with_the_pages_load_settings():
    """The largest context and the best quant on the page are the solver's for the page's own
    --mlock / --no-mmap / --no-repack: locked pages cannot be dropped, so on this machine's RAM
    a locked model holds less context (the limits had been asked for with the defaults)."""
    from sizing.ui.inputs import HardwareChoice, ModelChoice

    choice = ModelChoice(spec="meta-llama/Llama-3.1-8B-Instruct", label="meta-llama/Llama-3.1-8B-Instruct")
    hw = HardwareChoice("machine", [], 1, 24.0, 1000.0, 64.0)
    h, cal = services.hardware_and_calibration(hw)
    arch = services.catalog_get(choice.spec)
    seen = set()
    for load in ({}, {"mlock": True}, {"mmap": False}, {"repack": False}):
        values = {"quant": "Q4_K_M", "ctx": 8192, "kv": "f16", "np": 1, "fa": True, **load}
        core = solver.largest_context(arch, "Q4_K_M", h, cal, **load)
        shown = services.limits(choice, values, hw)
        assert shown["max_ctx_with_offload"] == core.with_offload and shown["max_ctx_on_gpu"] == core.on_gpu
        assert shown["best_quant"] == solver.best_quant_name(arch, 8192, h, **load)
        seen.add(core.with_offload)
    if len(seen) == 1:  # a machine with RAM to spare: the settings move nothing here
        pytest.skip(f"every load setting holds the same context on this machine ({seen})")

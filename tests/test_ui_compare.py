"""'Compare' through real Streamlit (AppTest): one model across GPUs and many models on
one GPU, each row the solver's answer; inputs live in the URL."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from sizing.core.speed.calibration import load_calibration
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog
from sizing.core.machine import machine_from_gpu
from sizing.core.solver import solve
from sizing.ui import fmt

PAGE = "from sizing.ui.pages.compare import render\nrender()"


def _core(model: str, gpu: str, quant: str = "Q4_K_M", ctx: int = 8192):
    return solve(load_catalog().get(model), quant, ctx, machine_from_gpu(load_gpus().get(gpu)), load_calibration())


def test_one_model_across_gpus_matches_the_solver():
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.query_params.update({"model": "Qwen/Qwen3-8B", "gpus": "nvidia-rtx-3090,nvidia-rtx-4090,apple-m4-10c-16gb"})
    at.run()
    assert not at.exception and not at.warning
    table = at.dataframe[0].value
    assert list(table[""]) == [
        load_gpus().get(g).name for g in ("nvidia-rtx-3090", "nvidia-rtx-4090", "apple-m4-10c-16gb")
    ]
    plan = _core("Qwen/Qwen3-8B", "nvidia-rtx-4090")
    assert table["tokens/s"][1] == fmt.rate(plan.speed.decode_tokens_per_s.expected)
    assert at.get("plotly_chart")


def test_many_models_on_one_gpu_and_url_round_trip():
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.query_params.update(
        {
            "mode": "models",
            "gpu": "nvidia-rtx-3090",
            "models": "Qwen/Qwen3-8B,meta-llama/Llama-3.1-70B-Instruct",
            "ctx": "4096",
        }
    )
    at.run()
    assert not at.exception and not at.warning
    table = at.dataframe[0].value
    big = _core("meta-llama/Llama-3.1-70B-Instruct", "nvidia-rtx-3090", ctx=4096)
    expected = ("yes" if big.placement.all_on_gpu else "with offload") if big.fits else "no"
    assert table["fits"][1] == expected
    assert dict(at.query_params)["gpu"] == "nvidia-rtx-3090"
    at.number_input(key="compare.ctx").set_value(16384).run()
    assert at.query_params["ctx"] == "16384"
    at.number_input(key="compare.ctx").set_value(8192).run()  # the default: left out of the link
    assert "ctx" not in at.query_params


def test_unknown_gpu_in_link_warns():
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.query_params["gpus"] = "nvidia-rtx-4090,quantum-gpu-9000"
    at.run()
    assert not at.exception
    assert any("`gpus`" in w.value for w in at.warning)

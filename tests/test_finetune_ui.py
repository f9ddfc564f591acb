"""The fine-tuning page through real Streamlit (AppTest): it shows what the core answers,
draws the breakdown, keeps every input in the URL, and turns bad input into a message."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from sizing.core.finetune.scenario import FinetuneScenario
from sizing.core.finetune.report import finetune_report
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog
from sizing.ui import fmt

PAGE = "from sizing.ui.pages.finetune import render\nrender()"


def run(params: dict[str, str]) -> AppTest:
    at = AppTest.from_string(PAGE, default_timeout=120)
    at.query_params.update({"hw": "db", **params})
    return at.run()


@pytest.fixture(scope="module")
def qlora_h100() -> AppTest:
    return run(
        {
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "method": "qlora",
            "rank": "32",
            "seq": "4096",
            "gc": "1",
            "gpu": "nvidia-h100-sxm5-80gb",
            "tokens": "50",
        }
    )


def test_page_shows_the_cores_answer(qlora_h100):
    at = qlora_h100
    assert not at.exception and not at.error
    s = FinetuneScenario.build(
        model=load_catalog().get("meta-llama/Llama-3.1-8B-Instruct"),
        method="qlora",
        rank=32,
        seq_len=4096,
        grad_checkpointing=True,
    )
    rep = finetune_report(s, [load_gpus().get("nvidia-h100-sxm5-80gb")], 50_000_000)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Memory per GPU"] == fmt.gb(rep.gpus[0].needed_bytes)
    assert metrics["Training tokens/s"] == fmt.num(rep.gpus[0].throughput.tokens_per_s["expected"])
    assert metrics["Largest micro-batch"] == str(rep.largest_micro_batch)
    assert at.success and "fits" in at.success[0].value
    dl = at.get("download_button")
    assert dl and dl[0].proto.label == "Fine-tune estimate as JSON"


def test_breakdown_chart_has_every_part(qlora_h100):
    chart = qlora_h100.get("plotly_chart")[0]
    fig = json.loads(chart.proto.spec)
    names = [t["name"] for t in fig["data"]]
    assert names[:5] == ["Weights", "Gradients", "Optimizer", "Activations", "Overhead"]
    assert "GPU memory" in names


def test_inputs_round_trip_through_the_url(qlora_h100):
    at = qlora_h100
    assert at.number_input(key="finetune.rank").value == 32
    assert at.number_input(key="finetune.seq").value == 4096
    assert at.toggle(key="finetune.gc").value is True
    assert at.query_params["method"] == "qlora" and at.query_params["seq"] == "4096"
    at.number_input(key="finetune.mb").set_value(4).run()
    assert at.query_params["mb"] == "4"
    assert not at.exception


def test_ranking_lists_only_gpus_that_fit():
    at = run({"model": "Qwen/Qwen3-0.6B", "method": "lora", "seq": "1024", "gpu": "nvidia-rtx-4090"})
    assert not at.exception
    table = at.dataframe[-1].value
    assert len(table) > 3 and list(table["rank"][:3]) == [1, 2, 3]


def test_bad_url_values_warn_and_fall_back():
    at = run({"model": "Qwen/Qwen3-0.6B", "rank": "-3", "method": "<script>", "gpu": "nvidia-rtx-4090"})
    assert not at.exception
    warned = " ".join(w.value for w in at.warning)
    assert "`rank`" in warned and "`method`" in warned
    assert at.number_input(key="finetune.rank").value == 16


def test_sequence_beyond_the_model_limit_is_one_message():
    at = run({"model": "Qwen/Qwen3-0.6B", "seq": "100000", "gpu": "nvidia-rtx-4090"})
    assert not at.exception
    assert any("beyond Qwen/Qwen3-0.6B's limit" in e.value for e in at.error)


def test_qlora_on_apple_is_flagged_not_sized_silently():
    at = run({"model": "meta-llama/Llama-3.1-8B-Instruct", "method": "qlora", "gpu": "apple-m3-max-40c-128gb"})
    assert not at.exception
    assert any("bitsandbytes" in w.value for w in at.warning)
    assert any("cannot run on Apple M3 Max" in e.value for e in at.error)


def test_several_cards_are_sharded_as_chosen():
    at = run(
        {
            "model": "meta-llama/Llama-3.1-8B-Instruct",
            "method": "full",
            "gpu": "nvidia-h100-sxm5-80gb",
            "count": "4",
            "shard": "zero3",
            "gc": "1",
        }
    )
    assert not at.exception and not at.error
    s = FinetuneScenario.build(
        model=load_catalog().get("meta-llama/Llama-3.1-8B-Instruct"),
        method="full",
        grad_checkpointing=True,
        n_gpus=4,
        sharding="zero3",
    )
    rep = finetune_report(s, [load_gpus().get("nvidia-h100-sxm5-80gb")], 10_000_000)
    assert {m.label: m.value for m in at.metric}["Memory per GPU"] == fmt.gb(rep.gpus[0].needed_bytes)
    assert at.query_params["shard"] == "zero3" and at.query_params["count"] == "4"


def test_custom_memory_gives_a_verdict_without_speed():
    at = run({"model": "Qwen/Qwen3-0.6B", "hw": "custom", "mem": "1"})
    assert not at.exception
    labels = {m.label for m in at.metric}
    assert "Memory per GPU" in labels and "Training tokens/s" not in labels
    assert any("does not fit" in e.value for e in at.error)


def test_this_machine_mode_never_raises():
    """The detected machine (real detection): a verdict with its GPUs, or a notice without one."""
    at = run({"model": "Qwen/Qwen3-0.6B", "hw": "machine"})
    assert not at.exception
    notices = [i.value for i in at.info] + [s.value for s in at.success] + [e.value for e in at.error]
    assert any("No GPU detected" in n or "fit" in n for n in notices)
    assert {m.label for m in at.metric} >= {"Memory per GPU"}

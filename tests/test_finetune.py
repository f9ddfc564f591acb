"""Fine-tuning estimator: bad input, flags, planner and CLI behaviour.

The numbers themselves are checked against real PyTorch training steps in
tests/test_finetune_truth.py; here we check what must hold for any model: bad input
gets one clear message, QLoRA without bitsandbytes is flagged, more sharding never
costs more per GPU, the planner's "largest that fits" is a real boundary, and the CLI
exits 2 with one line on bad input.
"""

from __future__ import annotations

import json

import pytest

from sizing.cli import main
from sizing.errors import SizingError
from sizing.core.finetune.memory import estimate_finetune_memory
from sizing.core.finetune.scenario import FinetuneScenario
from sizing.core.finetune.plan import (
    fits_in,
    largest_micro_batch,
    largest_seq_len,
    methods_that_fit,
    rank_gpus,
)
from sizing.core.finetune.time import training_throughput
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog

GIB = 2**30


@pytest.fixture(scope="module")
def llama8b():
    return load_catalog().get("meta-llama/Llama-3.1-8B-Instruct")


@pytest.fixture(scope="module")
def qwen06():
    return load_catalog().get("Qwen/Qwen3-0.6B")


def scenario(model, **kw) -> FinetuneScenario:
    return FinetuneScenario.build(model=model, **kw)


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize("rank", [0, -4])
def test_rank_must_be_positive(qwen06, rank):
    with pytest.raises(SizingError, match="rank must be a positive integer"):
        scenario(qwen06, method="lora", rank=rank)


def test_seq_len_beyond_model_limit(qwen06):
    with pytest.raises(SizingError, match=r"beyond Qwen/Qwen3-0.6B's limit of 40960"):
        scenario(qwen06, seq_len=qwen06.max_context + 1)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"method": "dora"}, "unknown fine-tuning method 'dora'"),
        ({"optimizer": "adafactor"}, "unknown optimizer 'adafactor'"),
        ({"sharding": "zero4", "n_gpus": 2}, "unknown sharding 'zero4'"),
        ({"target_modules": ("q", "lm_head")}, "unknown LoRA target module"),
        ({"micro_batch": 0}, "micro-batch must be positive"),
        ({"n_gpus": 4}, "need a sharding"),
        ({"seq_len": -1}, "sequence length must be positive"),
    ],
)
def test_bad_input_one_clear_message(qwen06, kw, message):
    with pytest.raises(SizingError, match=message):
        scenario(qwen06, **kw)


@pytest.mark.parametrize("backend", ["cpu", "metal", "vulkan"])
def test_qlora_without_bitsandbytes_is_flagged(llama8b, backend):
    m = estimate_finetune_memory(scenario(llama8b, method="qlora", backend=backend))
    assert not m.supported
    assert any("bitsandbytes" in w for w in m.warnings)


def test_qlora_on_cuda_is_supported(llama8b):
    m = estimate_finetune_memory(scenario(llama8b, method="qlora", backend="cuda"))
    assert m.supported and not m.warnings


def test_qlora_flag_reaches_gpu_verdict(llama8b):
    apple = load_gpus().get("apple-m2-ultra-76c-192gb")
    from sizing.core.finetune.plan import verdict

    v = verdict(scenario(llama8b, method="qlora"), apple)
    assert not v.fits and not v.supported
    assert any("bitsandbytes" in r for r in v.reasons)


# --- structure that holds for any model --------------------------------------------------


def test_parts_sum_to_total(llama8b):
    for method in ("full", "lora", "qlora"):
        m = estimate_finetune_memory(scenario(llama8b, method=method))
        assert sum(m.parts().values()) == m.total_bytes


def test_methods_order_weights_and_trainable(llama8b):
    full, lora, qlora = (estimate_finetune_memory(scenario(llama8b, method=x)) for x in ("full", "lora", "qlora"))
    assert qlora.weights_bytes < lora.weights_bytes < full.weights_bytes
    assert lora.trainable_params == qlora.trainable_params < full.trainable_params / 100
    assert full.optimizer_bytes > 100 * lora.optimizer_bytes


def test_sharding_never_costs_more_per_gpu(llama8b):
    totals = [
        estimate_finetune_memory(scenario(llama8b, method="full", n_gpus=8, sharding=sh)).total_bytes
        for sh in ("ddp", "zero1", "zero2", "zero3")
    ]
    assert totals == sorted(totals, reverse=True)
    z3 = estimate_finetune_memory(scenario(llama8b, method="full", n_gpus=8, sharding="zero3"))
    one = estimate_finetune_memory(scenario(llama8b, method="full", sharding="none"))
    assert z3.weights_bytes < one.weights_bytes / 4


def test_checkpointing_is_on_by_default_for_adapters_only(qwen06):
    # the LoRA/QLoRA recipes people use (PEFT, TRL, Unsloth, Axolotl) turn it on
    assert scenario(qwen06, method="lora").grad_checkpointing
    assert scenario(qwen06, method="qlora").grad_checkpointing
    assert not scenario(qwen06, method="full").grad_checkpointing
    assert not scenario(qwen06, method="lora", grad_checkpointing=False).grad_checkpointing


def test_checkpointing_and_flash_cut_activations(qwen06):
    base = estimate_finetune_memory(scenario(qwen06, method="lora", seq_len=4096, grad_checkpointing=False))
    gc = estimate_finetune_memory(scenario(qwen06, method="lora", seq_len=4096, grad_checkpointing=True))
    eager = estimate_finetune_memory(
        scenario(qwen06, method="lora", seq_len=4096, flash_attn=False, grad_checkpointing=False)
    )
    assert gc.activations.saved_bytes < base.activations.saved_bytes / 2
    assert eager.activations.saved_bytes > base.activations.saved_bytes


def test_optimizers_order(qwen06):
    opt = {
        o: estimate_finetune_memory(scenario(qwen06, method="full", optimizer=o)).optimizer_bytes
        for o in ("adamw", "adamw8bit", "sgd")
    }
    assert opt["adamw8bit"] < opt["sgd"] < opt["adamw"]


# --- planner ---------------------------------------------------------------------------


def test_largest_micro_batch_is_a_boundary(qwen06):
    s = scenario(qwen06, method="lora", seq_len=1024)
    cap = 24 * GIB
    b = largest_micro_batch(s, cap)
    assert b >= 1
    assert fits_in(s.model_copy(update={"micro_batch": b}), cap)
    assert not fits_in(s.model_copy(update={"micro_batch": b + 1}), cap)


def test_largest_seq_len_is_a_boundary(llama8b):
    s = scenario(llama8b, method="qlora")
    cap = 16 * GIB
    n = largest_seq_len(s, cap)
    assert 0 < n < llama8b.max_context
    assert fits_in(s.model_copy(update={"seq_len": n}), cap)
    assert not fits_in(s.model_copy(update={"seq_len": n + 1}), cap)


def test_methods_that_fit_on_a_24gb_card(llama8b):
    fits = {f.method: f.fits for f in methods_that_fit(scenario(llama8b, seq_len=512), 24 * GIB)}
    assert fits == {"full": False, "lora": True, "qlora": True}


def test_rank_gpus_by_time_and_cost(qwen06):
    gpus = load_gpus().all
    s = scenario(qwen06, method="lora", seq_len=1024)
    by_time = rank_gpus(s, gpus, 10_000_000)
    assert len(by_time) > 5 and all(r.fits for r in by_time)
    times = [r.epoch_s["expected"] for r in by_time]
    assert times == sorted(times)
    by_cost = rank_gpus(s, gpus, 10_000_000, by="cost")
    prices = [r.price_usd for r in by_cost if r.price_usd is not None]
    assert prices == sorted(prices)


def test_lora_trains_faster_than_full(qwen06):
    full = training_throughput(scenario(qwen06, method="full"), 100).tokens_per_s["expected"]
    lora = training_throughput(scenario(qwen06, method="lora", grad_checkpointing=False), 100).tokens_per_s["expected"]
    gc = training_throughput(scenario(qwen06, method="lora", grad_checkpointing=True), 100)
    assert lora > full and gc.tokens_per_s["expected"] < lora
    assert gc.tokens_per_s["low"] < gc.tokens_per_s["expected"] < gc.tokens_per_s["high"]


# --- CLI -------------------------------------------------------------------------------


def test_cli_json(capsys):
    rc = main(
        [
            "finetune",
            "--model",
            "Qwen/Qwen3-0.6B",
            "--method",
            "lora",
            "--rank",
            "8",
            "--seq-len",
            "1024",
            "--gpu",
            "RTX 4090",
            "--json",
            "--dataset-tokens",
            "1000000",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    parts = ("weights_bytes", "gradients_bytes", "optimizer_bytes", "activations_bytes", "overhead_bytes")
    assert sum(out[p] for p in parts) == out["total_bytes_per_gpu"]
    assert out["fits"] is True and out["gpus"][0]["fits"] is True
    assert set(out["tokens_per_s"]) == {"low", "expected", "high"}
    assert out["epoch_s"]["expected"] > 0
    assert out["largest_micro_batch"] >= 1


def test_cli_text(capsys):
    assert main(["finetune", "--model", "Qwen/Qwen3-0.6B", "--method", "full", "--grad-checkpointing"]) == 0
    out = capsys.readouterr().out
    assert "full fine-tuning" in out and "total/GPU" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--method", "lora", "--rank", "0"], "rank must be a positive integer"),
        (["--method", "bogus"], "unknown fine-tuning method"),
        (["--seq-len", "99999999"], "beyond"),
        (["--gpu", "RTX 9999 Hyper"], "unknown device"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(capsys, argv, message):
    rc = main(["finetune", "--model", "Qwen/Qwen3-0.6B", *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and message in err


def test_cli_rank_gpus_json(capsys):
    rc = main(
        [
            "finetune",
            "--model",
            "Qwen/Qwen3-1.7B",
            "--method",
            "lora",
            "--rank-gpus",
            "cost",
            "--top",
            "5",
            "--dataset-tokens",
            "20000000",
            "--json",
        ]
    )
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)["ranked_gpus"]
    assert len(rows) == 5
    assert all(r["total_bytes"] <= r["memory_bytes"] for r in rows)
    prices = [r["price_usd"] for r in rows]
    assert None not in prices and prices == sorted(prices)


def test_bf16_adapters_halve_adapter_state(qwen06):
    fp32 = estimate_finetune_memory(scenario(qwen06, method="lora", adapter_dtype="fp32"))
    bf16 = estimate_finetune_memory(scenario(qwen06, method="lora", adapter_dtype="bf16"))
    assert bf16.optimizer_bytes * 2 == pytest.approx(fp32.optimizer_bytes, rel=1e-6)


def test_foreach_adamw_needs_more_than_fused_on_gpu(llama8b):
    fused = estimate_finetune_memory(scenario(llama8b, method="full", backend="cuda"))
    foreach = estimate_finetune_memory(scenario(llama8b, method="full", backend="cuda", fused_optimizer=False))
    assert foreach.total_bytes > fused.total_bytes


def test_cli_gpu_counts_shard_per_option(capsys):
    rc = main(
        [
            "finetune",
            "--model",
            "meta-llama/Llama-3.1-8B-Instruct",
            "--method",
            "full",
            "--gpu",
            "8x H100 SXM",
            "RTX 4090",
            "--sharding",
            "zero3",
            "--grad-checkpointing",
            "--json",
        ]
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    h100, rtx = out["gpus"]
    assert (h100["count"], rtx["count"]) == (8, 1)
    assert h100["fits"] is True and rtx["fits"] is False
    assert h100["total_bytes"] < rtx["total_bytes"] / 4  # ZeRO-3 over 8 against one unsharded card
    assert out["fits"] is False  # not on every option


# --- data/finetune.yaml ------------------------------------------------------------------


def test_shipped_finetune_data_loads_with_sources():
    from sizing.core.finetune.data import load_finetune_data

    d = load_finetune_data()
    assert d.mfu.low < d.mfu.expected < d.mfu.high <= 1
    assert all(x.source for x in (d.mfu, d.qlora_slowdown, d.cuda_context_mib))


@pytest.mark.parametrize(
    "text, field",
    [
        (
            "mfu: {low: 0.5, expected: 0.3, high: 0.4, source: x}\nqlora_slowdown: {value: 1.4, source: x}\n"
            "cuda_context_mib: {value: 700, source: x}\n",
            "field mfu",
        ),
        (
            "mfu: {low: 0.2, expected: 0.3, high: 0.4, source: x}\nqlora_slowdown: {value: 1.4}\n"
            "cuda_context_mib: {value: 700, source: x}\n",
            "field qlora_slowdown.source",
        ),
        ("mfu: [1, 2\n", "not valid YAML"),
    ],
)
def test_bad_finetune_data_names_file_and_field(tmp_path, text, field):
    from sizing.core.finetune.data import load_finetune_data_file

    path = tmp_path / "finetune.yaml"
    path.write_text(text)
    with pytest.raises(SizingError, match=field) as exc:
        load_finetune_data_file(path)
    assert str(path) in str(exc.value)

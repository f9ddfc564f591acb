"""`llm-sizing fit` and `plan` (and the hardware flags) through the real CLI entry point."""

from __future__ import annotations

import json

import pytest

from sizing.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_fit_one_model_json(capsys):
    code, out, err = run(
        capsys,
        "fit",
        "--gpu",
        "RTX 4090",
        "--model",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--ctx",
        "8192",
        "--min-tps",
        "30",
        "--json",
    )
    assert code == 0, err
    d = json.loads(out)
    assert d["fits"] and d["best_quant"] in ("F16", "Q8_0")
    lo, ex, hi = (d["decode_tokens_per_s"][k] for k in ("low", "expected", "high"))
    assert 0 < lo <= ex <= hi
    assert d["largest_context"]["on_gpu"] >= 8192
    assert d["parallel_users"]["users"] >= 1 and d["parallel_users"]["per_user_tokens_per_s"] >= 30


def test_fit_catalog_ranking_json(capsys):
    code, out, err = run(capsys, "fit", "--gpu", "2x RTX 3090", "--limit", "5", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["hardware"].startswith("2×") and len(d["models"]) == 5
    assert all(m["fits"] for m in d["models"])


def test_custom_hardware_and_table(capsys):
    code, out, err = run(capsys, "fit", "--memory-gb", "16", "--bandwidth-gbs", "500", "--model", "Qwen/Qwen3-8B")
    assert code == 0, err
    assert "best quant" in out and "tok/s" in out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (("fit", "--memory-gb", "16", "--bandwidth-gbs", "0"), "bandwidth"),
        (("fit", "--memory-gb", "16"), "bandwidth"),
        (("fit", "--gpu", "Voodoo 9000"), "Voodoo"),
        (("fit", "--hardware", "that"), "this"),
        (("fit",), "no hardware"),
        (("plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--budget", "0"), "budget"),
        (("plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--budget", "-5"), "budget"),
        (("plan", "--model", "meta-llama/Llama-3.1-8B-Instruct", "--ctx", "0"), "ctx"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, needle):
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and needle.lower() in err.lower()
    assert "Traceback" not in err


def test_plan_json_ranked(capsys):
    code, out, err = run(
        capsys,
        "plan",
        "--model",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--ctx",
        "8192",
        "--target-tps",
        "50",
        "--budget",
        "3000",
        "--json",
    )
    assert code == 0, err
    d = json.loads(out)
    assert d["met"] and d["options"]
    assert all(o["decode_tokens_per_s"] >= 50 and o["price_usd"] <= 3000 for o in d["options"])


def test_plan_impossible_target(capsys):
    code, out, err = run(
        capsys, "plan", "--model", "meta-llama/Llama-3.1-405B-Instruct", "--target-tps", "1000", "--budget", "500"
    )
    assert code == 0, err
    assert "no configuration meets this" in out


def test_plan_with_cloud_comparison(capsys):
    code, out, err = run(
        capsys,
        "plan",
        "--model",
        "meta-llama/Llama-3.1-8B-Instruct",
        "--budget",
        "2000",
        "--tokens-in-per-day",
        "5000000",
        "--tokens-out-per-day",
        "1000000",
        "--json",
    )
    assert code == 0, err
    cost = json.loads(out)["cost"]
    assert cost["cloud_monthly_usd"] > 0 and cost["local_monthly_usd"] > 0


def test_estimate_with_a_gpu_adds_fit_speed_and_commands(capsys):
    code, out, err = run(
        capsys, "estimate", "-m", "meta-llama/Llama-3.1-8B-Instruct", "-c", "8192", "--gpu", "RTX 4090", "--json"
    )
    assert code == 0, err
    d = json.loads(out)
    assert d["fits"] is True and d["gpu_layers"] == 33 and d["backend"] == "cuda"
    for key in ("decode_tokens_per_s", "prefill_tokens_per_s"):
        assert 0 < d[key]["low"] <= d[key]["expected"] <= d[key]["high"]
    assert d["ttft_s"] > 0
    gpu = d["devices"][0]
    assert gpu["total_bytes"] <= gpu["capacity_bytes"]
    assert "llama-server" in d["commands"]["llama_server"] and "-ngl 33" in d["commands"]["llama_server"]


def test_estimate_multi_gpu_and_offload(capsys):
    code, out, err = run(
        capsys,
        "estimate",
        "-m",
        "meta-llama/Llama-3.1-70B-Instruct",
        "-c",
        "8192",
        "--gpu",
        "RTX 3090",
        "--gpu",
        "RTX 3060 12GB",
        "--json",
    )
    assert code == 0, err
    d = json.loads(out)
    assert len([x for x in d["devices"] if x["kind"] == "gpu"]) == 2
    assert d["fits"] and d["gpu_layers"] < 81  # 36 GB of cards cannot hold ~40 GiB: some layers in RAM
    assert "-ts" in d["commands"]["llama_server"]


def test_estimate_without_hardware_is_unchanged(capsys):
    code, out, err = run(capsys, "estimate", "-m", "meta-llama/Llama-3.2-1B-Instruct", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["fits"] is None and d["backend"] == "cpu"


def test_estimate_bad_hardware_exits_2(capsys):
    code, out, err = run(
        capsys, "estimate", "-m", "meta-llama/Llama-3.2-1B-Instruct", "--memory-gb", "8", "--bandwidth-gbs", "0"
    )
    assert code == 2 and "bandwidth" in err and len(err.strip().splitlines()) == 1


def test_estimate_on_this_machine(capsys):
    """--hardware this: detection (no GPU here) gives a CPU-only plan with measured bandwidth."""
    code, out, err = run(
        capsys, "estimate", "-m", "HuggingFaceTB/SmolLM2-135M-Instruct", "-c", "2048", "--hardware", "this", "--json"
    )
    assert code == 0, err
    d = json.loads(out)
    assert d["fits"] and d["backend"] in ("cpu", "cuda", "rocm", "metal", "vulkan", "sycl")
    if d["backend"] == "cpu":
        assert d["gpu_layers"] == 0 and [x["kind"] for x in d["devices"]] == ["cpu"]
        assert any("bandwidth measured" in n for n in d["hardware_notes"])
        assert "-ngl 0" in d["commands"]["llama_server"]


def test_fit_on_a_cpu_only_server_counts_resident_ram_and_says_ram(capsys):
    """DeepSeek-R1 on a 512 GB CPU server: Q4_K_M fits on what must stay resident (the repacked
    copy's file pages are reclaimable), and the context line speaks of RAM, not a GPU."""
    argv = ["fit", "--ram-gb", "512", "--model", "deepseek-ai/DeepSeek-R1", "--ctx", "8192", "--quant", "Q4_K_M"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if "largest context" in ln)
    assert "in RAM" in line and "GPU" not in line
    code, out, err = run(capsys, *argv, "--json")
    d = json.loads(out)
    assert d["fits"] and d["largest_context"]["with_offload"] >= 8192

"""`llm-sizing plan`: whole builds by objective, used prices, region, overrides and buy-or-rent."""

from __future__ import annotations

import json

import pytest

from sizing.cli import main

M8B = "meta-llama/Llama-3.1-8B-Instruct"


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "argv, needle",
    [
        (("--budget", "0"), "--budget"),
        (("--budget", "-100"), "--budget"),
        (("--region", "Atlantis"), "unknown region"),
        (("--price", "nvidia-rtx-3090=0"), "positive"),
        (("--price", "nvidia-rtx-3090=-20"), "positive"),
        (("--price", "nvidia-rtx-3090=cheap"), "positive"),
        (("--price", "no-such-card=100"), "nothing is priced"),
        (("--hours-per-day", "25"), "hours-per-day"),
        (("--objective", "prettiest"), "objective"),
        (("--tokens-out-per-day", "1000", "--build", "nope"), "--build"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, needle):
    with pytest.raises(SystemExit) if argv[0] == "--objective" else _nothing():
        code, out, err = run(capsys, "plan", "--model", M8B, *argv)
        assert code == 2, (out, err)
        assert len(err.strip().splitlines()) == 1 and needle.lower() in err.lower(), err
        assert "Traceback" not in err
    if argv[0] == "--objective":  # argparse's own refusal: exit 2, usage + one error line
        err = capsys.readouterr().err
        assert "invalid choice" in err and "prettiest" in err


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_plan_cli_objectives_used_region_json(capsys):
    code, out, err = run(
        capsys,
        "plan",
        "--model",
        M8B,
        "--objective",
        "cost-per-token",
        "--used",
        "--region",
        "DE",
        "--hours-per-day",
        "8",
        "--target-tps",
        "30",
        "--limit",
        "5",
        "--json",
    )
    assert code == 0, err
    d = json.loads(out)
    assert d["met"] and d["objective"] == "cost-per-token" and d["region"] == "DE"
    assert 0.3 < d["usd_per_kwh"] < 0.6
    rows = d["options"]
    costs = [o["usd_per_m_tokens"] for o in rows]
    assert costs == sorted(costs)
    for o in rows:
        assert o["decode_tokens_per_s"] >= 30 and o["why"] and o["speed_basis"] and o["calibration"]["label"]
        assert 0 < o["decode_at_ctx_tokens_per_s"] < o["decode_tokens_per_s"]  # the cache read at the chosen context
        assert o["models"][0]["llama_server"].startswith("llama-server")
        assert all(
            ln["source"].startswith("https://") and ln["kind"] in ("msrp", "street", "used") for ln in o["lines"]
        )


def test_plan_price_override_is_used(capsys):
    code, out, err = run(
        capsys,
        "plan",
        "--model",
        M8B,
        "--price",
        "nvidia-rtx-3060-12gb=1",
        "--limit",
        "50",
        "--target-tps",
        "20",
        "--json",
    )
    assert code == 0, err
    rows = [o for o in json.loads(out)["options"] if o["gpu_id"] == "nvidia-rtx-3060-12gb"]
    assert rows and all(ln["unit_usd"] == 1 for o in rows for ln in o["lines"] if ln["id"] == "nvidia-rtx-3060-12gb")


def test_plan_target_nobody_meets_is_answered_with_the_closest(capsys):
    code, out, err = run(
        capsys, "plan", "--model", "meta-llama/Llama-3.1-405B-Instruct", "--target-tps", "1000", "--budget", "500"
    )
    assert code == 0, err
    assert "no configuration meets this" in out and "#" in out
    # the table's two speeds, and what each one is
    assert "at ctx" in out.splitlines()[1] and "at ctx: decode averaged as the chosen context fills" in out


def test_buy_or_rent_like_for_like_keeps_the_build(capsys):
    code, out, err = run(
        capsys,
        "plan",
        "--model",
        "Qwen/Qwen3-30B-A3B",
        "--ctx",
        "8192",
        "--target-tps",
        "30",
        "--tokens-in-per-day",
        "2000000",
        "--tokens-out-per-day",
        "500000",
        "--json",
    )
    assert code == 0, err
    d = json.loads(out)
    top = d["options"][0]["build_id"]
    cost = d["cost"]
    assert cost["build_id"] == top and cost["model"] == "Qwen/Qwen3-30B-A3B"
    names = [o["name"] for o in cost["rent"]]
    assert any("Qwen3-30B-A3B" in n for n in names)  # an API serving the same model
    assert any(o["kind"].startswith("gpu-") for o in cost["rent"])  # a GPU by the hour
    assert not cost["cloud_name"].startswith("OpenAI")  # proprietary only as reference
    assert all(o["reference_only"] == o["kind"].endswith("proprietary") for o in cost["rent"])
    for _rent, b in zip(cost["rent"], cost["break_even"]):
        assert b["months"] is None or (b["months"] > 0 and b["tokens"] > 0)
    # the same comparison for another build, named by id
    other = d["options"][1]["build_id"]
    code, out, err = run(
        capsys,
        "plan",
        "--model",
        "Qwen/Qwen3-30B-A3B",
        "--ctx",
        "8192",
        "--target-tps",
        "30",
        "--tokens-out-per-day",
        "500000",
        "--build",
        other,
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["cost"]["build_id"] == other


def test_offload_build_ram_line_says_its_gigabytes_once(capsys):
    """The '1 GPU + N GB RAM' build's RAM line reads 'N × <RAM> (per GB): $N·price',
    not 'N × N GB ...' (which reads as N sticks of N GB)."""
    code, out, _ = run(capsys, "plan", "--model", "openai/gpt-oss-120b", "--ctx", "32768", "--target-tps", "20")
    assert code == 0
    ram = [ln.strip() for ln in out.splitlines() if "RAM (per GB)" in ln]
    assert ram, out
    for ln in ram:
        qty, _, rest = ln.partition(" × ")
        assert qty.isdigit() and not rest.split(":")[0][0].isdigit(), ln
    code, out, _ = run(capsys, "plan", "--model", "openai/gpt-oss-120b", "--ctx", "32768", "--json")
    lines = [x for o in json.loads(out)["options"] for x in o["lines"] if x["id"].startswith("ram-")]
    assert lines and all(x["usd"] == pytest.approx(x["qty"] * x["unit_usd"]) for x in lines)

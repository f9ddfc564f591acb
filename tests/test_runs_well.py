"""What runs well on a machine (sizing.core.runs_well): the ranking's rules checked against the
solver's own answers for the same model, quant and machine (real catalog, GPU database and
public calibration)."""

from __future__ import annotations

import json

import pytest

from sizing.core.speed.calibration import load_calibration
from sizing.cli import main
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog
from sizing.core.machine import cpu_hardware, machine_from_gpu
from sizing.core.runs_well import GOOD_QUANTS, rank_for_hardware
from sizing.core.solver import QUANT_LADDER, solve
from sizing.sources.releases import load_releases

GIB = 1024**3


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


@pytest.fixture(scope="module")
def calib():
    return load_calibration()


@pytest.fixture(scope="module")
def dates():
    return load_releases().dates()


@pytest.fixture(scope="module")
def rtx3090_rows(cat, calib, dates):
    return rank_for_hardware(cat.models, machine_from_gpu(load_gpus().get("nvidia-rtx-3090")), calib, released_of=dates)


def _order_ok(rows, floor):
    """Usable rows first (good quants, then low-bit), then below the floor, then no fit;
    usable rows by their date-weighed size."""

    def group(r):
        if not r.fits:
            return 3
        if not r.meets_floor:
            return 2
        return 0 if r.quant in GOOD_QUANTS else 1

    groups = [group(r) for r in rows]
    assert groups == sorted(groups)
    usable = [float(f"{r.rank_params_b:.3g}") for r in rows if group(r) == 0]
    assert usable == sorted(usable, reverse=True)


def test_nothing_under_the_floor_ranks_above_a_usable_model(rtx3090_rows):
    rows = rtx3090_rows
    _order_ok(rows, 10)
    for r in rows:
        if r.meets_floor:
            assert r.decode_tokens_per_s >= 10
    assert rows[0].meets_floor and rows[0].quant in GOOD_QUANTS


def test_the_chosen_quant_is_the_best_that_keeps_the_speed(cat, calib, rtx3090_rows):
    hw = machine_from_gpu(load_gpus().get("nvidia-rtx-3090"))
    for r in rtx3090_rows[:12]:
        arch = cat.get(r.model_id)
        i = QUANT_LADDER.index(r.quant)
        chosen = solve(arch, r.quant, 4096, hw, calib)
        assert chosen.speed.decode_tokens_per_s.expected == pytest.approx(r.decode_tokens_per_s)
        if i > 0:  # one step up the ladder: slower than the floor, or offloaded above Q4_K_M
            better = solve(arch, QUANT_LADDER[i - 1], 4096, hw, calib)
            too_slow = not better.fits or better.speed.decode_tokens_per_s.expected < 10
            offloaded_big = not better.placement.all_on_gpu and QUANT_LADDER.index(
                QUANT_LADDER[i - 1]
            ) < QUANT_LADDER.index("Q4_K_M")
            assert too_slow or offloaded_big, r.model_id


def test_cpu_only_rows_say_cpu_and_never_pick_a_quant_that_does_not_move(cat, calib, dates):
    hw = cpu_hardware("test CPU", ram_bytes=32 * GIB, bandwidth_gbs=40.0, threads=8)
    rows = rank_for_hardware(cat.models, hw, calib, released_of=dates)
    assert {r.where for r in rows if r.fits} == {"CPU"}
    for r in rows:
        if r.fits:
            assert r.decode_tokens_per_s and r.decode_tokens_per_s > 0
        if r.fits and not r.meets_floor:  # the fastest quant that fits, checked against the solver
            speeds = {q: solve(cat.get(r.model_id), q, 4096, hw, calib) for q in QUANT_LADDER}
            best = max(p.speed.decode_tokens_per_s.expected for p in speeds.values() if p.fits)
            assert r.decode_tokens_per_s == pytest.approx(best)
    _order_ok(rows, 10)


def test_the_floor_is_the_users(cat, calib):
    hw = machine_from_gpu(load_gpus().get("apple-m4-max-40c-64gb"))
    low = rank_for_hardware(cat.models, hw, calib, min_tps=5)
    high = rank_for_hardware(cat.models, hw, calib, min_tps=40)
    assert {r.where for r in low if r.fits} == {"unified"}
    assert sum(r.meets_floor for r in high) < sum(r.meets_floor for r in low)
    for r in high:
        if r.meets_floor:
            assert r.decode_tokens_per_s >= 40


def test_task_filter_keeps_only_tagged_models(cat, calib):
    hw = machine_from_gpu(load_gpus().get("nvidia-rtx-3090"))
    coders = {"Qwen/Qwen3-8B": ("chat", "code"), "microsoft/phi-4": ("chat",)}
    rows = rank_for_hardware(cat.models, hw, calib, task="code", tasks_of=coders)
    assert [r.model_id for r in rows] == ["Qwen/Qwen3-8B"]
    assert rows[0].tasks == ("chat", "code")


def test_bad_floor_is_refused(cat, calib):
    hw = machine_from_gpu(load_gpus().get("nvidia-rtx-3090"))
    with pytest.raises(ValueError):
        rank_for_hardware(cat.models[:1], hw, calib, min_tps=-1)


def _cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_fit_ranks_by_usefulness(capsys, rtx3090_rows):
    code, out, err = _cli(capsys, "fit", "--gpu", "RTX 3090", "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["min_tps"] == 10 and [m["model_id"] for m in d["models"]] == [r.model_id for r in rtx3090_rows]
    code, out, err = _cli(capsys, "fit", "--gpu", "RTX 3090", "--min-tps", "60", "--limit", "3")
    assert code == 0, err
    assert "at least 60 tok/s" in out and "GPU+RAM" not in out.splitlines()[3]


def test_cli_fit_on_a_cpu_only_machine_says_cpu(capsys):
    code, out, err = _cli(
        capsys, "fit", "--memory-gb", "32", "--bandwidth-gbs", "40", "--backend", "cpu", "--limit", "5"
    )
    assert code == 0, err
    rows = out.splitlines()[3:]
    assert rows and all(" CPU " in line for line in rows) and "GPU+RAM" not in out


def test_the_code_filter_finds_the_catalogs_coder_models(capsys):
    cat = load_catalog()
    code, out, err = _cli(capsys, "fit", "--gpu", "RTX 3090", "--task", "code", "--json")
    assert code == 0, err
    ids = [m["model_id"] for m in json.loads(out)["models"]]
    assert ids and set(ids) == set(cat.ids_for("code"))
    # usable on a 24 GB card, and the newer, better coder ranks above the older, slightly larger
    # Code Llama 34B pair; only coders released after it stand above it
    newer = ids.index("Qwen/Qwen2.5-Coder-32B-Instruct")
    assert newer < ids.index("codellama/CodeLlama-34b-Instruct-hf")
    assert newer < ids.index("codellama/CodeLlama-34b-hf")
    dates = load_releases().dates()
    assert all(dates[m] >= dates["Qwen/Qwen2.5-Coder-32B-Instruct"] for m in ids[:newer])


def test_newer_never_ranks_below_older_of_the_same_or_smaller_size(rtx3090_rows, dates):
    usable = [r for r in rtx3090_rows if r.meets_floor and r.quant in GOOD_QUANTS]
    assert all(r.released == dates[r.model_id] for r in usable)
    for i, above in enumerate(usable):
        for below in usable[i + 1 :]:
            tie = f"{above.rank_params_b:.3g}" == f"{below.rank_params_b:.3g}"  # then the faster first
            assert tie or not (above.released < below.released and above.params_b <= below.params_b), (above, below)
    reason = usable[0].reason
    assert reason.endswith(f"released {usable[0].released:%Y-%m}")


def test_without_dates_size_alone_ranks_and_an_undated_model_counts_as_old(cat, calib, dates):
    hw = machine_from_gpu(load_gpus().get("nvidia-rtx-3090"))
    coders = [cat.get(m) for m in ("Qwen/Qwen2.5-Coder-32B-Instruct", "codellama/CodeLlama-34b-Instruct-hf")]
    by_size = rank_for_hardware(coders, hw, calib)
    assert [r.model_id for r in by_size] == ["codellama/CodeLlama-34b-Instruct-hf", "Qwen/Qwen2.5-Coder-32B-Instruct"]
    assert all(r.released is None and r.rank_params_b == r.params_b for r in by_size)
    by_quality = rank_for_hardware(coders, hw, calib, released_of=dates)
    assert [r.model_id for r in by_quality] == [
        "Qwen/Qwen2.5-Coder-32B-Instruct",
        "codellama/CodeLlama-34b-Instruct-hf",
    ]
    # 15 months older at a 3.5-month doubling: its size counts for 2^(-15/3.5), about 1/19
    old, new = by_quality[1], by_quality[0]
    months = (new.released - old.released).days / (365.25 / 12)
    assert old.rank_params_b / new.rank_params_b == pytest.approx(old.params_b / new.params_b / 2 ** (months / 3.5))
    undated = rank_for_hardware(
        coders,
        hw,
        calib,
        released_of={
            "Qwen/Qwen2.5-Coder-32B-Instruct": dates["Qwen/Qwen2.5-Coder-32B-Instruct"],
            "meta-llama/Llama-2-7b-hf": dates["meta-llama/Llama-2-7b-hf"],
        },
    )
    code_llama = next(r for r in undated if r.model_id.startswith("codellama"))
    assert code_llama.released is None and code_llama.reason.endswith("release date unknown")
    assert undated[0].model_id == "Qwen/Qwen2.5-Coder-32B-Instruct"


def test_what_runs_here_keeps_experts_in_ram_where_the_card_cannot_hold_them(cat, calib, dates):
    """gpt-oss-120b (~60 GiB) on a 24 GB card with 128 GB of RAM: the row is the solver's
    expert-offload placement (experts of N layers in RAM), not 'does not fit' or whole layers
    on the CPU; the CLI names it and the dense 70B beside it gets no such placement."""
    from sizing.core.machine import host_spec

    models = [cat.get("openai/gpt-oss-120b"), cat.get("meta-llama/Llama-3.1-70B-Instruct")]
    hw = machine_from_gpu(load_gpus().get("nvidia-rtx-3090"), host=host_spec(128, None, None))
    rows = {r.model_id: r for r in rank_for_hardware(models, hw, calib, released_of=dates, min_tps=0)}
    oss = rows["openai/gpt-oss-120b"]
    assert oss.fits and oss.n_cpu_moe and 0 < oss.n_cpu_moe <= 36
    plan = solve(models[0], oss.quant, 4096, hw, calib)
    assert plan.placement.n_cpu_moe == oss.n_cpu_moe and "all 36 layers on GPU" in oss.how
    assert not rows["meta-llama/Llama-3.1-70B-Instruct"].n_cpu_moe

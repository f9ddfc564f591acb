"""Every page's whole state in its link (real Streamlit, AppTest): lists element by element,
the GPU picker's cards and counts, the machine weighed in "Buy or rent?", the "What runs
well" page; and each new parameter tampered with. Numbers are the core's own."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from sizing.core.speed.calibration import load_calibration
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog
from sizing.core.machine import machine_from_gpu, machine_from_gpus
from sizing.core.runs_well import rank_for_hardware
from sizing.sources.releases import load_releases
from sizing.core.solver import solve
from sizing.ui import fmt

RUN = "from sizing.ui.pages.run import render\nrender()"
COMPARE = "from sizing.ui.pages.compare import render\nrender()"
PLAN = "from sizing.ui.pages.plan import render\nrender()"
RUNS_WELL = "from sizing.ui.pages.runs_well import render\nrender()"


@pytest.fixture(autouse=True)
def _local(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("LLM_SIZING_WEB_MODE", raising=False)


def _app(page: str, **params) -> AppTest:
    at = AppTest.from_string(page, default_timeout=180)
    at.query_params.update(params)
    return at.run()


def _texts(at: AppTest) -> str:
    kinds = ("success", "warning", "error", "info", "markdown", "caption")
    return "\n".join(str(e.value) for k in kinds for e in at.get(k))


def _all(at: AppTest, key: str) -> list[str]:
    """A parameter's values (AppTest hands a single value back as a plain string)."""
    v = at.query_params.get(key)
    return [] if v is None else [v] if isinstance(v, str) else list(v)


def _gen(at: AppTest) -> str:
    return {m.label: m.value for m in at.metric}["Generation (tok/s)"]


def test_database_mode_preselects_no_gpu():
    at = _app(RUN, hw="db")
    assert not at.exception
    assert at.selectbox(key="run.gpu#new").value is None
    assert "Pick a GPU" in _texts(at) and "Verdict" not in _texts(at)


def test_one_gpu_model_with_two_cards_is_a_two_card_machine():
    at = _app(RUN, hw="db", gpu="nvidia-rtx-3090", count="2")
    assert not at.exception and not at.warning
    assert at.selectbox(key="run.gpu#0").value == "nvidia-rtx-3090"
    assert at.number_input(key="run.count#0").value == 2
    assert "= 2 cards" in _texts(at)
    plan = solve(
        load_catalog().get("Qwen/Qwen3-8B"),
        "Q4_K_M",
        4096,
        machine_from_gpu(load_gpus().get("nvidia-rtx-3090"), 2),
        load_calibration(),
    )
    assert _gen(at) == fmt.num(plan.speed.decode_tokens_per_s.expected)
    assert _all(at, "gpu") == ["nvidia-rtx-3090"] and _all(at, "count") == ["2"]


def test_picking_adds_one_card_and_the_count_is_per_card():
    at = _app(RUN, hw="db")
    at.selectbox(key="run.gpu#new").select("nvidia-rtx-3090").run()
    assert not at.exception
    assert at.selectbox(key="run.gpu#0").value == "nvidia-rtx-3090"
    assert at.selectbox(key="run.gpu#new").value is None  # the add box is empty again
    assert _all(at, "gpu") == ["nvidia-rtx-3090"] and "count" not in at.query_params
    at.number_input(key="run.count#0").set_value(2).run()
    assert _all(at, "count") == ["2"] and "= 2 cards" in _texts(at)
    at.button(key="run.rm#0").click().run()
    assert "gpu" not in at.query_params and "Pick a GPU" in _texts(at)


def test_repeated_gpu_parameters_are_all_kept():
    at = _app(RUN, hw="db", gpu=["nvidia-rtx-3090", "nvidia-rtx-4090"], count=["2", "1"])
    assert not at.exception and not at.warning
    assert [at.selectbox(key=f"run.gpu#{i}").value for i in (0, 1)] == ["nvidia-rtx-3090", "nvidia-rtx-4090"]
    assert "= 3 cards" in _texts(at)
    db = load_gpus()
    hw = machine_from_gpus([db.get("nvidia-rtx-3090"), db.get("nvidia-rtx-3090"), db.get("nvidia-rtx-4090")])
    plan = solve(load_catalog().get("Qwen/Qwen3-8B"), "Q4_K_M", 4096, hw, load_calibration())
    assert _gen(at) == fmt.num(plan.speed.decode_tokens_per_s.expected)
    assert _all(at, "gpu") == ["nvidia-rtx-3090", "nvidia-rtx-4090"]
    assert _all(at, "count") == ["2", "1"]


def test_no_launch_commands_when_the_verdict_is_no():
    at = _app(RUN, model="meta-llama/Llama-3.1-70B-Instruct", quant="Q8_0", hw="custom", mem="8", ram="16")
    assert at.error and at.error[0].value.startswith("**No")
    assert not any("llama-server" in c.value for c in at.code)


def test_a_context_above_the_maximum_is_named_in_plain_digits():
    at = _app(RUN, hw="custom", ctx="99999999")
    w = " ".join(x.value for x in at.warning)
    assert "`ctx`" in w and "16,777,216" in w and "e+07" not in w


def test_compare_keeps_a_list_of_hub_repo_ids():
    models = ["Qwen/Qwen3-30B-A3B", "Qwen/Qwen3-32B"]
    at = _app(COMPARE, mode="models", gpu="apple-m4-max-40c-64gb", models=",".join(models))
    assert not at.exception and not at.warning
    assert at.multiselect(key="compare.models").value == models
    assert at.query_params["models"] == models  # written back element by element


def test_plan_keeps_the_build_weighed_in_buy_or_rent():
    at = _app(PLAN, models=["Qwen/Qwen3-8B", "google/gemma-3-4b-it"])
    other = at.dataframe[0].value["build id"][1]  # the second-ranked build
    at.selectbox(key="plan.pick").set_value(other).run()
    assert not at.exception
    pick = at.query_params["pick"]
    assert pick == other
    again = _app(PLAN, models=["Qwen/Qwen3-8B", "google/gemma-3-4b-it"], pick=pick)
    assert not again.exception and not [w for w in again.warning if "URL parameter" in w.value]
    assert again.selectbox(key="plan.pick").index == 1
    assert _all(again, "models") == ["Qwen/Qwen3-8B", "google/gemma-3-4b-it"]

    def metrics(a):
        return {m.label: m.value for m in a.metric}

    assert metrics(again) == metrics(at)


def test_runs_well_page_is_the_cores_ranking_and_round_trips():
    at = _app(RUNS_WELL, hw="db", gpu="nvidia-rtx-3090", tps="20", ctx="4096")
    assert not at.exception and not at.warning
    core = rank_for_hardware(
        load_catalog().models,
        machine_from_gpu(load_gpus().get("nvidia-rtx-3090")),
        load_calibration(),
        ctx=4096,
        min_tps=20,
        released_of=load_releases().dates(),
    )
    table = at.dataframe[0].value
    assert list(table["model"]) == [r.name for r in core]
    assert table["best quant"][0] == core[0].quant
    assert "gpu=nvidia-rtx-3090" in table["open"][0] and "model=" in table["open"][0]
    assert _all(at, "gpu") == ["nvidia-rtx-3090"]
    assert {k: at.query_params[k] for k in ("hw", "tps", "ctx")} == {"hw": "db", "tps": "20", "ctx": "4096"}


@pytest.mark.parametrize(
    "page,params,name",
    [
        (RUN, {"hw": "db", "gpu": ["nvidia-rtx-3090", "not-a-gpu"]}, "gpu"),
        (RUN, {"hw": "db", "gpu": "nvidia-rtx-3090", "count": ["2", "99"]}, "count"),
        (RUN, {"hw": "db", "gpu": "nvidia-rtx-3090", "count": "two"}, "count"),
        (RUN, {"hw": "custom", "uni": "perhaps"}, "uni"),
        (RUN, {"hw": ["custom", "db"]}, "hw"),
        (COMPARE, {"models": ["Qwen/Qwen3-8B", "/etc/passwd"]}, "models"),
        (COMPARE, {"gpu": ["nvidia-rtx-3090", "nvidia-rtx-4090"]}, "gpu"),
        (PLAN, {"pick": "../../etc/passwd"}, "pick"),
        (PLAN, {"pick": "<img src=x onerror=alert(1)>"}, "pick"),
        (PLAN, {"models": ["Qwen/Qwen3-8B", "a/b/c"]}, "models"),
        (RUNS_WELL, {"hw": "custom", "tps": "-3"}, "tps"),
        (RUNS_WELL, {"hw": "custom", "task": "<b>poetry</b>"}, "task"),
        (RUNS_WELL, {"hw": "custom", "ctx": "nan"}, "ctx"),
    ],
)
def test_tampered_new_parameters_warn_and_the_page_answers(page, params, name):
    at = _app(page, **params)
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any(f"`{name}`" in w for w in warnings), warnings
    assert at.query_params.get(name) != params[name]  # the tampered value is not in the link
    assert "<b>" not in " ".join(warnings).replace("`<b>", "")


def test_runs_well_task_filter_uses_the_catalog_tags():
    at = _app(RUNS_WELL, hw="db", gpu="nvidia-rtx-3090", task="code")
    assert not at.exception and not at.warning
    names = set(at.dataframe[0].value["model"])
    cat = load_catalog()
    assert names == {cat.get(i).name for i in cat.ids_for("code")}


def test_runs_well_page_says_when_experts_sit_in_ram():
    """A 24 GB card: the rows whose placement keeps experts in RAM say so, with the count
    the core chose, instead of the bare 'GPU+RAM' of layers left on the CPU."""
    at = _app(RUNS_WELL, hw="db", gpu="nvidia-rtx-3090", tps="0", ctx="4096")
    assert not at.exception
    core = rank_for_hardware(
        load_catalog().models,
        machine_from_gpu(load_gpus().get("nvidia-rtx-3090")),
        load_calibration(),
        ctx=4096,
        min_tps=0,
        released_of=load_releases().dates(),
    )
    moe = [r for r in core if r.n_cpu_moe]
    assert moe, "no catalog model keeps experts in RAM on a 24 GB card"
    table = at.dataframe[0].value
    where = dict(zip(table["model"], table["where"]))
    for r in moe:
        assert where[r.name] == f"GPU, experts of {r.n_cpu_moe} layers in RAM"

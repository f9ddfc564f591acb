"""'Can I run it?' through real Streamlit (AppTest): inputs in, verdict/numbers/charts out,
URL parameters round-trip, tampered links warn. Numbers are checked against the core's
own estimate() for the same inputs: the page must show what the core computed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from sizing.core.speed.calibration import load_calibration
from sizing.estimate import estimate
from sizing.sources.catalog import load_catalog
from sizing.core.machine import DEFAULT_HOST, custom_machine
from sizing.core.solver import solve
from sizing.ui import fmt
from sizing.ui.echo import inert
from sizing.answer import DecodeRead

PAGE = "from sizing.ui.pages.run import render\nrender()"


def _run(**params: str) -> AppTest:
    at = AppTest.from_string(PAGE, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def _core_plan(model: str, quant: str, ctx: int, mem_gb: float = 24.0, bw: float = 1000.0, kv: str = "f16"):
    """What the core says for a custom GPU, asked directly (not through the UI)."""
    hw = custom_machine(memory_gb=mem_gb, bandwidth_gbs=bw, host=DEFAULT_HOST)
    return solve(load_catalog().get(model), quant, ctx, hw, load_calibration(), kv_type_k=kv, kv_type_v=kv)


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _texts(at: AppTest) -> str:
    parts = [e.value for kind in ("success", "warning", "error", "info", "markdown", "caption") for e in at.get(kind)]
    return "\n".join(str(p) for p in parts)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("LLM_SIZING_WEB_MODE", raising=False)


def test_default_view_shows_verdict_chart_and_core_numbers():
    at = _run(hw="custom")
    assert not at.exception
    est = estimate("Qwen/Qwen3-8B", "Q4_K_M", 4096, backend="cuda")
    plan = _core_plan("Qwen/Qwen3-8B", "Q4_K_M", 4096)
    text = _texts(at)
    assert "Verdict" in text and "Yes" in text and plan.fits
    assert fmt.gb(est.total_bytes) in text
    assert _metrics(at)["Generation (tok/s)"] == fmt.num(plan.speed.decode_tokens_per_s.expected)
    # the figure's parts: what each device reads a token, at what rate, and why
    (part,) = (DecodeRead.of(t) for t in plan.speed.per_device)
    assert f"Each token reads: {inert(part.device)} {fmt.gb(part.read_bytes)} at {fmt.num(part.read_gbs)} GB/s" in text
    assert part.basis.startswith("memory binds") and inert(part.basis) in text
    assert len(at.get("plotly_chart")) >= 2, "memory chart or fit map missing"
    assert any("llama-server" in c.value for c in at.code), "launch command missing"
    assert not at.warning
    assert dict(at.query_params) == {"hw": "custom"}  # defaults stay out of the link


def test_shared_link_reproduces_the_view():
    params = {
        "model": "meta-llama/Llama-3.1-8B-Instruct",
        "quant": "Q8_0",
        "ctx": "16384",
        "kv": "q8_0",
        "hw": "custom",
        "mem": "48",
    }
    at = _run(**params)
    assert not at.exception and not at.warning
    assert at.selectbox(key="run.model").value == params["model"]
    assert at.selectbox(key="run.quant").value == "Q8_0"
    assert at.number_input(key="run.ctx").value == 16384
    assert at.selectbox(key="run.kv").value == "q8_0"
    assert at.number_input(key="run.mem").value == 48.0
    assert dict(at.query_params) == params
    est = estimate(params["model"], "Q8_0", 16384, kv_type="q8_0", backend="cuda")
    assert fmt.gb(est.total_bytes) in _texts(at)
    plan = _core_plan(params["model"], "Q8_0", 16384, mem_gb=48, kv="q8_0")
    assert _metrics(at)["Generation (tok/s)"] == fmt.num(plan.speed.decode_tokens_per_s.expected)


def test_changing_an_input_changes_the_numbers_and_the_url():
    at = _run(hw="custom")
    before = _texts(at)
    at.selectbox(key="run.quant").select("Q8_0").run()
    assert at.query_params["quant"] == "Q8_0"
    after = _texts(at)
    est = estimate("Qwen/Qwen3-8B", "Q8_0", 4096, backend="cuda")
    assert fmt.gb(est.total_bytes) in after and after != before
    at.number_input(key="run.ctx").set_value(32768).run()
    assert at.query_params["ctx"] == "32768"
    assert fmt.gb(estimate("Qwen/Qwen3-8B", "Q8_0", 32768, backend="cuda").total_bytes) in _texts(at)


def test_a_model_too_big_for_the_hardware_says_no_and_why():
    at = _run(model="meta-llama/Llama-3.1-70B-Instruct", quant="Q8_0", hw="custom", mem="8", ram="16")
    assert not at.exception
    plan = solve(
        load_catalog().get("meta-llama/Llama-3.1-70B-Instruct"),
        "Q8_0",
        4096,
        custom_machine(
            memory_gb=8, bandwidth_gbs=1000, host=DEFAULT_HOST.model_copy(update={"ram_bytes": 16 * 1024**3})
        ),
        load_calibration(),
    )
    assert not plan.fits
    assert at.error and at.error[0].value.startswith("**No")
    assert "Generation (tok/s)" not in _metrics(at)


@pytest.mark.parametrize(
    "params,name",
    [
        ({"model": "no-such/model"}, "model"),
        ({"ctx": "-5"}, "ctx"),
        ({"quant": "<script>alert(1)</script>"}, "quant"),
        ({"model": "x" * 10_000}, "model"),
        ({"hw": "mainframe"}, "hw"),
        ({"gpu": "nvidia-rtx-4090,not-a-gpu"}, "gpu"),
        ({"model": "/home/me/models/secret.gguf"}, "model"),
        ({"model": "[click me](https://evil.example)"}, "model"),
    ],
)
def test_tampered_link_falls_back_with_a_warning(params, name):
    at = _run(**params)
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any(f"`{name}`" in w for w in warnings), warnings
    assert "Verdict" in _texts(at)  # the page still answers, with the default
    assert name not in at.query_params
    assert "evil.example" not in " ".join(warnings)  # nothing clickable is echoed back


def test_gguf_header_upload_is_sized_and_never_enters_the_link(smollm2_gguf: Path):
    header = smollm2_gguf.read_bytes()[: 8 * 1024 * 1024]
    at = _run(src="file", hw="custom")
    at.get("file_uploader")[0].upload("SmolLM2-135M-Instruct.Q4_1.gguf", header).run()
    assert not at.exception
    text = _texts(at)
    # the file's own quant and parameter count, as the core reads the full file
    full = estimate(str(smollm2_gguf), None, 4096, backend="cuda")
    assert "Q4_1" in text
    # another quant of the same file: re-typed by the core's recipe
    at.selectbox(key="run.fq").select("Q8_0").run()
    assert at.query_params["fq"] == "Q8_0"
    assert fmt.gb(estimate(str(smollm2_gguf), "Q8_0", 4096, backend="cuda").total_bytes) in _texts(at)
    assert fmt.count(full.params) in text
    assert fmt.gb(full.total_bytes) in text  # header-only read sizes exactly like the whole file
    assert "gguf" not in str(dict(at.query_params)).lower().replace("src", "")
    assert "/" not in at.query_params.get("model", "")


def test_a_file_that_is_not_gguf_gets_one_clear_message():
    at = _run(src="file", hw="custom")
    at.get("file_uploader")[0].upload("notes.gguf", b"hello world, not a model").run()
    assert not at.exception
    assert any("not a GGUF file" in e.value for e in at.error)


def test_unknown_hugging_face_repo_offline_is_a_message_not_a_traceback():
    at = _run(src="hf", repo="nobody-here/definitely-not-a-model", hw="custom")
    assert not at.exception
    assert at.error and "nobody-here/definitely-not-a-model" in at.error[0].value


def test_web_mode_hides_this_machine(monkeypatch):
    monkeypatch.setenv("LLM_SIZING_WEB_MODE", "1")
    at = _run(hw="machine")
    assert not at.exception
    assert "machine" not in at.radio(key="run.hw").options
    assert any("`hw`" in w.value for w in at.warning)


def test_web_mode_reads_model_files_only_from_configured_directories(monkeypatch, tmp_path, smollm2_gguf):
    allowed = tmp_path / "models"
    allowed.mkdir()
    shutil.copyfile(smollm2_gguf, allowed / "small.gguf")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copyfile(smollm2_gguf, outside / "secret.gguf")
    (allowed / "escape.gguf").symlink_to(outside / "secret.gguf")  # a link out of the directory
    monkeypatch.setenv("LLM_SIZING_WEB_MODE", "1")
    monkeypatch.setenv("LLM_SIZING_MODEL_DIRS", str(allowed))
    at = _run(src="file", gpu="nvidia-rtx-3090")
    assert not at.exception
    box = at.selectbox(key="run.localfile")
    names = [str(o) for o in box.options]
    assert any("small.gguf" in n for n in names)
    assert not any("secret" in n or "escape" in n for n in names)
    at.selectbox(key="run.localfile").select_index(1).run()
    assert not at.exception
    text = _texts(at)
    assert "Verdict" in text and "Q4_1" in text
    assert str(tmp_path) not in text  # no server path on the page
    assert all(str(tmp_path) not in v for v in at.query_params.values())


def test_every_number_shows_its_basis():
    from sizing.hardware.db import load_gpus

    at = _run(hw="db", gpu="nvidia-rtx-4090")
    assert not at.exception
    basis = next(df.value for df in at.dataframe if "number" in df.value.columns)
    rows = {r["number"]: r for _, r in basis.iterrows()}
    gpu = load_gpus().get("nvidia-rtx-4090")
    assert rows[gpu.name]["source"] == gpu.sources.memory
    assert rows["Speed"]["calibration"] not in ("", "—")
    assert rows["Weights"]["source"] == load_catalog().get("Qwen/Qwen3-8B").source
    assert set(basis["kind"]) <= {"measured", "estimated"}
    # the per-buffer detail lists what llama.cpp allocates
    assert any("buffer" in df.value.columns for df in at.dataframe)


def test_unknown_model_in_a_link_suggests_the_closest():
    at = _run(model="Qwen/Qwen3-8", hw="custom")
    w = [x.value for x in at.warning]
    assert w and "unknown model “Qwen/Qwen3-8”" in w[0] and "closest" in w[0]


def test_speed_at_your_context_is_the_cores_with_a_chart():
    """The run page shows decode as the context fills, when full, and the first token for
    the prompt (a quarter of the context by default, or the one in the link)."""
    from sizing.core.speed.context import context_speed

    plan = _core_plan("Qwen/Qwen3-8B", "Q4_K_M", 16384)
    core = context_speed(plan.placement.works, load_calibration(), ctx=16384)
    at = _run(hw="custom", ctx="16384")
    assert not at.exception
    m = _metrics(at)
    assert m["Generation, average"] == fmt.num(core.decode_mean.expected)
    assert m["Generation, context full"] == fmt.num(core.decode_full.expected)
    assert m["First token, your prompt"] == fmt.seconds(core.ttft_s.expected)
    assert "a quarter of the context (4,096 of 16,384 tokens)" in _texts(at)
    charts = at.get("plotly_chart")
    assert any("tokens in the context" in c.proto.spec for c in charts)
    set_prompt = _run(hw="custom", ctx="16384", prompt="12000")
    core_12k = context_speed(plan.placement.works, load_calibration(), ctx=16384, prompt_tokens=12000)
    assert "set: 12,000 tokens" in _texts(set_prompt)
    assert _metrics(set_prompt)["First token, your prompt"] == fmt.seconds(core_12k.ttft_s.expected)
    assert set_prompt.query_params["prompt"] in ("12000", ["12000"])


def test_cpu_fit_map_explains_the_repacked_copy_and_the_ram_options_reach_the_command():
    """On this (CPU-only) machine a Q4_K model gets a CPU_REPACK copy: the page says why
    Q4_K_M can need more RAM than Q6_K, and --no-repack reaches the verdict and command."""
    from sizing.ui import services

    at = _run(hw="machine", model="meta-llama/Llama-3.2-1B-Instruct", quant="Q4_K_M", ctx="2048")
    assert not at.exception
    from sizing.ui.inputs import HardwareChoice

    if services.backend_of(HardwareChoice("machine", [], 1, 24.0, 1000.0, 64.0)) != "cpu":
        pytest.skip("this machine has a GPU backend: no CPU repack to explain")
    text = _texts(at)
    assert "Q4_K_M can need more RAM than Q6_K" in text and "reclaimable" in text
    codes = "\n".join(c.value for c in at.get("code"))
    assert "--no-repack" not in codes
    off = _run(hw="machine", model="meta-llama/Llama-3.2-1B-Instruct", quant="Q4_K_M", ctx="2048", repack="false")
    assert not off.exception
    assert "--no-repack" in "\n".join(c.value for c in off.get("code"))
    assert "CPU repack off" in _texts(off)


def test_a_header_without_file_type_is_sized_at_the_quant_its_tensors_hold(smollm2_gguf: Path, tmp_path: Path):
    """It failed with "unknown quant 'mostly F32'": a header lacking general.file_type (here the
    real SmolLM2 file stripped of the key by gguf's own metadata tool) now reads as the quant
    whose recipe its tensor types follow, and the page answers."""
    import subprocess
    import sys

    stripped = tmp_path / "SmolLM2-nokey.gguf"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gguf.scripts.gguf_new_metadata",
            str(smollm2_gguf),
            str(stripped),
            "--remove-metadata",
            "general.file_type",
            "--force",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    at = _run(src="file", hw="custom")
    at.get("file_uploader")[0].upload("SmolLM2-nokey.gguf", stripped.read_bytes()[: 8 * 1024 * 1024]).run()
    assert not at.exception
    text = _texts(at)
    assert "unknown quant" not in text and "mostly" not in text
    assert "Q4_1" in text and "Verdict" in text


def test_a_big_moe_on_one_card_runs_with_experts_in_ram_and_says_so():
    """gpt-oss-120b on a 24 GB card with 128 GB of RAM: the page's verdict is the core's
    expert-offload placement, memory on both sides, and the command carries --n-cpu-moe."""
    at = _run(model="openai/gpt-oss-120b", quant="Q4_K_M", ctx="32768", hw="custom", mem="24", ram="128")
    assert not at.exception
    from sizing.core.machine import host_spec

    hw = custom_machine(memory_gb=24.0, bandwidth_gbs=1000.0, host=host_spec(128, None, None))
    plan = solve(load_catalog().get("openai/gpt-oss-120b"), "Q4_K_M", 32768, hw, load_calibration())
    n = plan.placement.n_cpu_moe
    assert plan.fits and n
    text = _texts(at)
    assert f"experts of {n} layers in system RAM" in text
    cmd = next(c.value for c in at.code if "llama-server" in c.value)
    assert f"--n-cpu-moe {n}" in cmd


def test_a_model_shipping_quantized_experts_offers_the_requantized_file():
    """gpt-oss keeps MXFP4 experts in the common files; the requantized file some publishers
    make is its own choice on the page (and in the link), sized as the core sizes it."""
    at = _run(model="openai/gpt-oss-20b", quant="Q8_0", hw="custom")
    assert not at.exception
    opts = at.selectbox(key="run.quant").options
    assert "Q8_0" in opts and "Q8_0+requant" in opts
    at = _run(model="openai/gpt-oss-20b", quant="Q8_0+requant", hw="custom")
    assert not at.exception and not at.warning
    est = estimate("openai/gpt-oss-20b", "Q8_0+requant", 4096, backend="cuda")
    assert est.weights_bytes > 1.7 * estimate("openai/gpt-oss-20b", "Q8_0", 4096, backend="cuda").weights_bytes
    assert fmt.gb(est.total_bytes) in _texts(at)
    # a dense model ships nothing quantized: no such variants to pick
    at = _run(model="meta-llama/Llama-3.1-8B-Instruct", hw="custom")
    assert not any(o.endswith("+requant") for o in at.selectbox(key="run.quant").options)

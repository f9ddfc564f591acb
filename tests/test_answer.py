"""One answer, one composition: the CLI's `estimate --json` and the UI's answer for the same
inputs are the same object (one shape, equal numbers), and it matches the published schema."""

from __future__ import annotations

import json

import pytest

from sizing.answer import SCHEMA_VERSION, Answer, json_schema
from sizing.cli import main
from sizing.ui import services
from sizing.ui.inputs import HardwareChoice, ModelChoice


def _cli(capsys, *argv: str) -> dict:
    assert main(["estimate", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("users, gpus", [(1, 1), (2, 2)])
def test_cli_json_and_ui_answer_are_one_object(capsys, users, gpus):
    """Per-user context 8192 with N users on the page is llama.cpp -c 8192·N on the CLI."""
    cli = _cli(
        capsys,
        "--model",
        "Qwen/Qwen3-8B",
        "--quant",
        "Q4_K_M",
        "--ctx",
        str(8192 * users),
        "--parallel",
        str(users),
        "--gpu",
        f"{gpus}x RTX 3090",
        "--ram-gb",
        "64",
    )
    ui = services.answer(
        ModelChoice(spec="Qwen/Qwen3-8B", label="Qwen/Qwen3-8B"),
        {"quant": "Q4_K_M", "ctx": 8192, "kv": "f16", "np": users, "fa": True},
        HardwareChoice("db", ["nvidia-rtx-3090"], gpus, 24.0, 1000.0, 64.0),
    )
    ui = json.loads(json.dumps(ui))
    assert set(cli) == set(ui) == set(Answer.model_fields)
    assert cli == ui
    assert cli["schema_version"] == SCHEMA_VERSION and cli["fits"] is True
    assert cli["ctx"] == 8192 * users and cli["n_parallel"] == users
    assert len([d for d in cli["devices"] if d["kind"] == "gpu"]) == gpus
    assert {"what": "NVIDIA GeForce RTX 3090"}.items() <= next(b for b in cli["basis"] if b["what"]).items()


def test_without_hardware_the_machine_fields_are_empty(capsys):
    j = _cli(capsys, "--model", "SmolLM2-135M", "--ctx", "2048")
    assert set(j) == set(Answer.model_fields)
    assert j["fits"] is None and j["devices"] is None and j["commands"] is None and j["decode_tokens_per_s"] is None
    Answer.model_validate(j)


def test_schema_command_prints_the_answers_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == json.loads(json.dumps(json_schema()))
    assert set(schema["properties"]) == set(Answer.model_fields)
    assert schema["properties"]["schema_version"]["default"] == SCHEMA_VERSION
    # the typed fields are typed in the schema too: no free-form objects
    assert schema["properties"]["ttft_s"]["anyOf"][0]["type"] == "number"
    assert "$ref" in schema["properties"]["decode_tokens_per_s"]["anyOf"][0]


def test_json_round_trips_through_the_answer_type(capsys):
    j = _cli(capsys, "--model", "llama-3.1-8b", "--gpu", "RTX 4090", "--ctx", "8192")
    again = Answer.model_validate(j)
    assert again.to_json() == j
    assert again.decode_tokens_per_s is not None and again.decode_tokens_per_s.low <= again.decode_tokens_per_s.high


def test_each_device_says_what_it_reads_a_token_and_what_sets_its_rate(capsys):
    """The decode figure's parts: per device, the bytes a token reads, the rate it streams
    them at and why; the parts' times stay within the whole step. A GPU with its experts'
    overflow in RAM names both sides, the RAM side's share for routed experts too."""
    # sixteen threads: enough to drain dual-channel RAM even at the plain MXFP4 kernel's speed
    j = _cli(capsys, "--model", "openai/gpt-oss-120b", "--gpu", "RTX 3090", "--ram-gb", "96", "--threads", "16")
    reads = j["decode_reads"]
    assert j["n_cpu_moe"] and len(reads) == 2
    step = 1 / j["decode_tokens_per_s"]["expected"]
    assert sum(r["seconds"] for r in reads) <= step * 1.0001
    for r in reads:
        assert r["read_bytes"] > 0 and r["seconds"] >= r["read_bytes"] / (r["read_gbs"] * 1e9) * 0.999
        assert r["basis"].startswith("memory binds")
    gpu, host = (next(r for r in reads if "3090" in r["device"]), next(r for r in reads if "3090" not in r["device"]))
    assert "routed experts" in host["basis"] and "routed experts" not in gpu["basis"]
    assert gpu["read_gbs"] > 5 * host["read_gbs"]


def test_a_cpu_whose_threads_bind_names_its_kernel_table():
    """Two threads of a 12-channel server cannot drain its RAM: the rate is the threads', the
    model's weight types at the table of the CPU's maker (the name a live check records);
    with all its threads, the RAM binds."""
    from sizing.core.speed.calibration import load_calibration
    from sizing.core.speed.estimate import decode_kernel_table, estimate_speed, kernel_table_base, work_bandwidth
    from sizing.core.tensors import tensors_for
    from sizing.core.quant import apply_recipe
    from sizing.core.traffic import DeviceRate, model_traffic, single_device_work
    from sizing.sources.catalog import load_catalog

    calib = load_calibration()
    arch = load_catalog().get("meta-llama/Llama-3.1-8B-Instruct")
    tr = model_traffic(arch, apply_recipe(arch, tensors_for(arch), "Q4_K_M"))
    for threads, vendor, bound in (
        (2, "GenuineIntel", "threads bind"),
        (2, "AuthenticAMD", "threads bind"),
        (128, "AuthenticAMD", "memory binds"),
    ):
        cpu = DeviceRate(
            name="EPYC",
            kind="cpu",
            backend="cpu",
            bandwidth_gbs=460.8,
            threads=threads,
            family="avx512",
            clock_ghz=3.7,
            cpu_vendor=vendor,
        )
        work = single_device_work(tr, cpu)
        (part,) = estimate_speed([work], calib, ctx=4096).per_device
        assert part.read_basis.startswith(bound), (threads, vendor, part.read_basis)
        assert part.read_gbs * 1e9 == pytest.approx(work_bandwidth(work, calib))
        if bound == "threads bind":
            assert f"({kernel_table_base(decode_kernel_table(cpu, calib)[0])} kernel table)" in part.read_basis
            assert f"{threads} × " in part.read_basis

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

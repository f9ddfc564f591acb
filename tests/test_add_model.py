"""scripts/add_model.py: a cited catalog entry from a local config.json or the Hub (a loopback
server speaking the Hub's protocol, and a hub cache laid out by huggingface_hub's rules)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import huggingface_hub.constants  # noqa: F401  (the fake_hub fixture patches it)
import pytest
import yaml

from sizing.sources.catalog import DEFAULT_PATH, parse_catalog
from test_hf import SMOL_CONFIG, fake_hub, hub_cache, make_hub_cache  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "add_model.py"


def _module():
    spec = importlib.util.spec_from_file_location("add_model", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def add_model():
    return _module()


FULL_CONFIG = {  # a published config carries much the converter does not read
    **SMOL_CONFIG,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "initializer_range": 0.02,
    "rms_norm_eps": 1e-5,
    "hidden_act": "silu",
    "use_cache": True,
    "transformers_version": "4.42.3",
    "torch_dtype": "bfloat16",
}


def _catalog_with(tmp_path: Path) -> Path:
    cat = tmp_path / "models.yaml"
    cat.write_text(DEFAULT_PATH.read_text())
    return cat


def test_local_config_gives_an_entry_the_catalog_loads(tmp_path, add_model):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(FULL_CONFIG))
    cat = _catalog_with(tmp_path)
    rc = add_model.main(
        [
            str(cfg),
            "--id",
            "someone/Smol-Copy",
            "--task",
            "chat",
            "--alias",
            "smol-copy",
            "--write",
            "--catalog",
            str(cat),
        ]
    )
    assert rc == 0
    loaded = parse_catalog(cat)
    entry = loaded.entries["someone/Smol-Copy"]
    assert entry.tasks == ["chat"] and entry.aliases == ["smol-copy"]
    assert entry.source == "https://huggingface.co/someone/Smol-Copy/blob/main/config.json"
    assert "sha256" in entry.verified
    # only the fields the converter reads are stored, and they give the same model as the file
    assert "initializer_range" not in entry.config and "bos_token_id" not in entry.config
    assert entry.config["torch_dtype"] == "bfloat16"
    from sizing.sources.config_json import arch_from_config

    whole = arch_from_config(FULL_CONFIG, repo_id="someone/Smol-Copy", source=entry.source)
    assert entry.to_arch().model_dump(exclude={"name", "aliases"}) == whole.model_dump(exclude={"name", "aliases"})
    # the same id again is refused by the loader's own duplicate check, file untouched
    before = cat.read_text()
    assert add_model.main([str(cfg), "--id", "someone/Smol-Copy", "--write", "--catalog", str(cat)]) == 2
    assert cat.read_text() == before


@pytest.mark.parametrize("model_id", ["LiquidAI/LFM2-8B-A1B", "tencent/Hunyuan-A13B-Instruct"])
def test_the_fields_2025_families_are_read_by_are_kept(tmp_path, add_model, model_id):
    """LFM2-MoE and Hunyuan-MoE read fields of their own (num_dense_layers, use_expert_bias,
    moe_topk, num_shared_expert, use_cla...): an entry written from their config.json keeps
    them, so it gives the same model as the whole file (the script refuses one that does not)."""
    from sizing.sources.catalog import load_catalog
    from sizing.sources.config_json import arch_from_config

    full = {**load_catalog().entries[model_id].config, "bos_token_id": 1, "initializer_range": 0.02}
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(full))
    cat = _catalog_with(tmp_path)
    assert add_model.main([str(cfg), "--id", "someone/Copy", "--write", "--catalog", str(cat)]) == 0
    entry = parse_catalog(cat).entries["someone/Copy"]
    assert "bos_token_id" not in entry.config
    whole = arch_from_config(full, repo_id="someone/Copy", source=entry.source)
    assert entry.to_arch().model_dump(exclude={"name", "aliases"}) == whole.model_dump(exclude={"name", "aliases"})


def test_printed_entry_is_yaml_for_the_catalog(tmp_path, add_model, capsys):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(FULL_CONFIG))
    assert add_model.main([str(tmp_path), "--id", "org/x", "--task", "chat", "--task", "code"]) == 0
    entry = yaml.safe_load(capsys.readouterr().out)[0]
    assert entry["id"] == "org/x" and entry["tasks"] == ["chat", "code"]
    assert entry["config"]["num_hidden_layers"] == 30


@pytest.mark.parametrize(
    "args, message",
    [
        (["nothing-here"], "neither a config.json file nor a Hugging Face repo id"),
        (["{cfg}"], "needs --id ORG/NAME"),
        (["{bad}", "--id", "a/b"], "not valid JSON"),
        (
            ["{unsupported}", "--id", "a/b"],
            "'model_type' is 'mamba', which is not modelled here (closest supported: llama)",
        ),
        (["{cfg}", "--id", "not a repo"], "is not a Hugging Face repo id"),
        (["{cfg}", "--id", "a/b", "--task", "poetry"], "invalid choice: 'poetry'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps(FULL_CONFIG))
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "u.json").write_text(json.dumps({"model_type": "mamba", "hidden_size": 8}))
    argv = [a.format(cfg=cfg, bad=tmp_path / "bad.json", unsupported=tmp_path / "u.json") for a in args]
    r = subprocess.run([sys.executable, str(SCRIPT), *argv], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert r.stdout == ""
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert message in r.stderr


def test_from_the_hub_records_the_revision(fake_hub, add_model, capsys):  # noqa: F811
    assert add_model.main(["HuggingFaceTB/SmolLM2-135M", "--task", "chat"]) == 0
    entry = yaml.safe_load(capsys.readouterr().out)[0]
    assert entry["id"] == "HuggingFaceTB/SmolLM2-135M"
    assert "revision " + "b" * 40 in entry["verified"]
    assert entry["config"]["hidden_size"] == 576


def test_from_the_hub_cache_offline(hub_cache, add_model, capsys):  # noqa: F811
    make_hub_cache(hub_cache, "org/cached", {"config.json": json.dumps(FULL_CONFIG).encode()}, commit="c" * 40)
    assert add_model.main(["org/cached", "--offline"]) == 0
    entry = yaml.safe_load(capsys.readouterr().out)[0]
    assert "revision " + "c" * 40 in entry["verified"]
    assert add_model.main(["org/not-cached", "--offline"]) == 2
    assert "not in the Hugging Face cache" in capsys.readouterr().err

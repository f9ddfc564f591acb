"""resolve_model: every kind of model spec a user can type, and the bad ones."""

from __future__ import annotations

import json

import pytest

from sizing.errors import SizingError
from sizing.sources.resolve import resolve_model
from test_hf import SMOL_CONFIG, make_hub_cache


def test_catalog_id_and_alias():
    r = resolve_model("Qwen/Qwen3-0.6B")
    assert r.kind == "catalog" and r.arch.id == "Qwen/Qwen3-0.6B" and r.tensors is None
    assert resolve_model("qwen3-0.6b").arch == r.arch


def test_config_json_file_and_folder(tmp_path):
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(SMOL_CONFIG))
    for spec in (str(folder), str(folder / "config.json")):
        r = resolve_model(spec)
        assert r.kind == "config" and r.arch.n_layers == 30 and r.arch.id == "my-model"


def test_hf_repo_from_the_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    make_hub_cache(cache, "someone/tiny-llama", {"config.json": json.dumps(SMOL_CONFIG).encode()})
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    r = resolve_model("someone/tiny-llama", offline=True)
    assert r.kind == "hf" and r.arch.id == "someone/tiny-llama" and r.arch.hidden_size == 576


def test_catalog_wins_over_the_hub_for_known_ids(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))  # empty: the Hub would fail offline
    assert resolve_model("meta-llama/Llama-3.1-8B-Instruct", offline=True).kind == "catalog"


def test_uncached_repo_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(SizingError, match="offline.*catalog ids that work offline"):
        resolve_model("google/gemma-2-9b-itx", offline=True)


def test_gguf_file(smollm2_gguf):
    r = resolve_model(str(smollm2_gguf))
    assert r.kind == "gguf" and r.file_type and r.tensors
    assert r.arch.n_layers == 30


@pytest.mark.parametrize(
    "spec, message",
    [
        ("", "no model given"),
        ("   ", "no model given"),
        ("llama-3.1-8", "unknown model 'llama-3.1-8'; closest catalog matches: meta-llama/Llama-3.1-8B-Instruct"),
        ("gpt5", "unknown model 'gpt5'"),
        ("/nonexistent/model.gguf", "no such GGUF file"),
        ("./nope/config.json", "no such file"),
        ("nope/config.json", "no such file"),  # shaped like org/name, but a file name: never sent to the Hub
        ("./some/dir/model", "no such file or folder; unknown model"),
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(SizingError, match=message.replace(".", r"\.").replace("(", r"\(")):
        resolve_model(spec, offline=True)


def test_existing_file_that_is_neither(tmp_path):
    p = tmp_path / "weights.bin"
    p.write_bytes(b"\0" * 8)
    with pytest.raises(SizingError, match="not a .gguf file or a config.json"):
        resolve_model(str(p))

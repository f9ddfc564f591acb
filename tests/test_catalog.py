"""The embedded catalog: validation, lookup, and agreement with independent truth."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sizing.errors import SizingError
from sizing.models.catalog import DEFAULT_PATH, load_catalog, parse_catalog

MIN_MODELS = 15


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_catalog_loads_and_covers_the_kinds(catalog):
    assert len(catalog) >= MIN_MODELS
    kinds = {
        "moe": any(m.is_moe for m in catalog.models),
        "swa": any(m.is_swa for m in catalog.models),
        "dense": any(not m.is_moe for m in catalog.models),
    }
    assert all(kinds.values()), kinds
    assert load_catalog() is catalog  # cached


def test_every_entry_cites_its_own_config(catalog):
    for model_id, entry in catalog.entries.items():
        assert entry.source == f"https://huggingface.co/{model_id}/blob/main/config.json"
        assert entry.verified.strip()


def test_lookup_by_id_and_alias_is_case_insensitive(catalog):
    a = catalog.get("meta-llama/Llama-3.1-8B-Instruct")
    assert catalog.get("META-LLAMA/llama-3.1-8b-instruct") is a
    assert catalog.get("llama3.1-8b") is a
    assert catalog.get("  SmolLM2-135M ").id == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_unknown_model_names_closest_matches(catalog):
    with pytest.raises(SizingError) as e:
        catalog.get("llama-3.1-8")
    msg = str(e.value)
    assert msg.startswith("unknown model 'llama-3.1-8'; closest catalog matches:")
    assert "meta-llama/Llama-3.1-8B-Instruct" in msg
    assert catalog.suggest("gemma2-9b", n=3)[0] == "google/gemma-2-9b-it"
    assert catalog.suggest("") == []


def _write(tmp_path: Path, models) -> Path:
    p = tmp_path / "models.yaml"
    p.write_text(yaml.safe_dump({"models": models}))
    return p


def _good(**over):
    entry = yaml.safe_load(DEFAULT_PATH.read_text())["models"][0]
    entry.update(over)
    return entry


def test_bad_entries_fail_naming_file_entry_and_field(tmp_path):
    p = _write(tmp_path, [_good(), _good(id="x/y", aliases=[], verified="")])
    with pytest.raises(SizingError, match=r"models\.yaml: entry 1 \(x/y\): field verified"):
        parse_catalog(p)

    bad_cfg = _good()
    bad_cfg["config"] = {**bad_cfg["config"]}
    del bad_cfg["config"]["num_hidden_layers"]
    p = _write(tmp_path, [bad_cfg])
    with pytest.raises(SizingError, match=r"entry 0 \(HuggingFaceTB/SmolLM2-135M-Instruct\).*'num_hidden_layers' is missing"):
        parse_catalog(p)

    p = _write(tmp_path, [_good(colour="blue")])
    with pytest.raises(SizingError, match=r"entry 0 .*field colour: Extra inputs"):
        parse_catalog(p)

    p = _write(tmp_path, [_good(), _good(id="a/b", source="https://huggingface.co/a/b/blob/main/config.json")])
    with pytest.raises(SizingError, match=r"entry 1 \(a/b\): field aliases: 'smollm2-135m' already names"):
        parse_catalog(p)

    p = _write(tmp_path, [_good(llama_cpp={"n_layers": 3}, llama_cpp_note="why")])
    with pytest.raises(SizingError, match="field llama_cpp"):
        parse_catalog(p)

    p = tmp_path / "broken.yaml"
    p.write_text("models: [\n")
    with pytest.raises(SizingError, match="broken.yaml: not valid YAML"):
        parse_catalog(p)


# --- independent truth: real GGUF headers written by llama.cpp's converter -------------------

def _gguf_hparams(path: Path) -> dict:
    import gguf

    r = gguf.GGUFReader(path)
    arch = r.fields["general.architecture"].contents()
    kv = {k.split(".", 1)[1]: f.contents() for k, f in r.fields.items() if k.startswith(arch + ".")}
    names = {t.name for t in r.tensors}
    tok_embd = next(t for t in r.tensors if t.name == "token_embd.weight")
    return dict(arch=arch, kv=kv, tied="output.weight" not in names,
                vocab=int(tok_embd.shape[1]))


def _check_against_gguf(model, h):
    kv = h["kv"]
    assert model.arch == h["arch"]
    assert model.n_layers == kv["block_count"]
    assert model.hidden_size == kv["embedding_length"]
    assert model.ffn_size == kv["feed_forward_length"]
    assert model.n_heads == kv["attention.head_count"]
    assert model.n_kv_heads == kv["attention.head_count_kv"]
    assert model.head_dim_k == kv.get("attention.key_length", model.hidden_size // model.n_heads)
    assert model.max_context == kv["context_length"]
    assert model.vocab_size == h["vocab"]
    assert model.tied_embeddings == h["tied"]
    assert model.sliding_window == kv.get("attention.sliding_window")


def test_smollm2_entry_matches_the_real_gguf_header(catalog, smollm2_gguf):
    _check_against_gguf(catalog.get("smollm2-135m"), _gguf_hparams(smollm2_gguf))

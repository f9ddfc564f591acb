"""The embedded catalog: validation, lookup, and agreement with independent truth."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from sizing.errors import SizingError
from sizing.sources.catalog import DEFAULT_PATH, load_catalog, parse_catalog

MIN_MODELS = 40


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def test_catalog_loads_and_covers_the_kinds(catalog):
    assert len(catalog) >= MIN_MODELS
    kinds = {
        "moe": any(m.is_moe for m in catalog.models),
        "swa": any(m.is_swa for m in catalog.models),
        "mla": any(m.is_mla for m in catalog.models),
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


def test_task_tags_filter_the_catalog(catalog):
    from sizing.sources.catalog import TASKS

    assert TASKS == ("chat", "code", "reasoning", "vision")
    assert catalog.tasks("google/gemma-3-27b-it") == ("chat", "vision")
    assert catalog.tasks("meta-llama/Llama-2-7b-hf") == ()  # a base checkpoint
    vision = catalog.ids_for("vision")
    assert "google/gemma-3-4b-it" in vision and "google/gemma-3-1b-it" not in vision
    both = catalog.ids_for("chat", "reasoning")
    assert "openai/gpt-oss-20b" in both and "Qwen/Qwen2.5-7B-Instruct" not in both
    assert set(catalog.ids_for()) == set(catalog.ids)
    for task in TASKS:  # every tag is in use, so a filter never comes up empty
        assert catalog.ids_for(task), task
    assert "Qwen/Qwen3-Coder-30B-A3B-Instruct" in catalog.ids_for("code")
    with pytest.raises(SizingError, match="unknown task 'poetry'; known tasks: chat, code, reasoning, vision"):
        catalog.ids_for("poetry")


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
    with pytest.raises(
        SizingError, match=r"entry 0 \(HuggingFaceTB/SmolLM2-135M-Instruct\).*'num_hidden_layers' is missing"
    ):
        parse_catalog(p)

    p = _write(tmp_path, [_good(colour="blue")])
    with pytest.raises(SizingError, match=r"entry 0 .*field colour: Extra inputs"):
        parse_catalog(p)

    p = _write(tmp_path, [_good(), _good(id="a/b", source="https://huggingface.co/a/b/blob/main/config.json")])
    with pytest.raises(SizingError, match=r"entry 1 \(a/b\): field aliases: 'smollm2-135m' already names"):
        parse_catalog(p)

    p = _write(tmp_path, [_good(id="a/c")])
    with pytest.raises(SizingError, match=r"entry 0 \(a/c\): Value error, source must be this repo's config.json"):
        parse_catalog(p)

    p = _write(tmp_path, [_good(llama_cpp={"vocab_size": 3})])
    with pytest.raises(SizingError, match="llama_cpp_note"):
        parse_catalog(p)

    p = _write(tmp_path, [_good(llama_cpp={"n_layers": 3}, llama_cpp_note="why")])
    with pytest.raises(SizingError, match="field llama_cpp"):
        parse_catalog(p)

    p = _write(tmp_path, [_good(tasks=["chat", "poetry"])])
    with pytest.raises(
        SizingError, match=r"entry 0 .*field tasks\.1: Input should be 'chat', 'code', 'reasoning' or 'vision'"
    ):
        parse_catalog(p)

    p = _write(tmp_path, [_good(tasks=["chat", "chat"])])
    with pytest.raises(SizingError, match=r"entry 0 .*field tasks: Value error, a task is listed twice"):
        parse_catalog(p)

    no_tasks = _good()
    del no_tasks["tasks"]
    p = _write(tmp_path, [no_tasks])
    with pytest.raises(SizingError, match=r"entry 0 .*field tasks: Field required"):
        parse_catalog(p)

    p = tmp_path / "broken.yaml"
    p.write_text("models: [\n")
    with pytest.raises(SizingError, match="broken.yaml: not valid YAML"):
        parse_catalog(p)


# --- independent truth: real GGUF headers written by llama.cpp's converter -------------------


def _gguf(path: Path) -> dict:
    """Hyper-parameters and tensor shapes as the gguf package reads them (not our reader)."""
    from gguf_header import header_tensors, reader

    r = reader(path)
    arch = r.fields["general.architecture"].contents()
    kv = {k.split(".", 1)[1]: f.contents() for k, f in r.fields.items() if k.startswith(arch + ".")}
    tensors = header_tensors(path)
    return dict(
        arch=arch, kv=kv, tensors=tensors, tied="output.weight" not in tensors, vocab=tensors["token_embd.weight"][1]
    )


@pytest.mark.parametrize(
    "alias, fixture",
    [
        ("smollm2-135m", "smollm2_gguf"),
        ("gemma3-270m", "gemma3_gguf"),
    ],
)
def test_entry_matches_the_real_gguf_header(catalog, alias, fixture, request):
    """The catalog's config.json-derived architecture is the one llama.cpp wrote to the file."""
    from sizing.core.tensors import param_counts, tensors_for

    model = catalog.get(alias)
    h = _gguf(request.getfixturevalue(fixture))
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
    # every tensor llama.cpp wrote, with its shape, follows from the catalog entry
    assert {t.name: t.shape for t in tensors_for(model)} == h["tensors"]
    total, _ = param_counts(model)
    assert total == sum(math.prod(s) for s in h["tensors"].values())


def test_entry_matches_our_gguf_reader(catalog, smollm2_gguf):
    from sizing.sources.gguf_reader import read_gguf

    from_file = read_gguf(smollm2_gguf).arch
    entry = catalog.get("smollm2-135m")
    for field in (
        "arch",
        "n_layers",
        "hidden_size",
        "n_heads",
        "n_kv_heads",
        "head_dim_k",
        "head_dim_v",
        "ffn_size",
        "vocab_size",
        "tied_embeddings",
        "max_context",
        "sliding_window",
        "n_experts",
    ):
        assert getattr(from_file, field) == getattr(entry, field), field


# --- independent truth: parameter counts the model publishers state --------------------------

TOTAL_TOLERANCE = 0.01  # published totals are exact counts or rounded to 3 significant digits
ACTIVE_TOLERANCE = 0.02  # MoE "active" figures are quoted to 2-3 digits


def _with_params(catalog):
    return [m for m in catalog.models if catalog.entries[m.id].params]


def test_enough_entries_carry_a_published_count(catalog):
    assert len(_with_params(catalog)) >= 35


@pytest.mark.parametrize("model_id", [m.id for m in _with_params(load_catalog())])
def test_parameter_count_matches_the_published_one(catalog, model_id):
    """Our tensor list (tensors_for over the catalog entry) against the publisher.

    A wrong layer count, FFN size, vocabulary, tie or expert count moves these by far
    more than the tolerance.
    """
    from sizing.core.tensors import count_params, tensors_for

    model = catalog.get(model_id)
    pub = catalog.entries[model_id].params
    tensors = tensors_for(model)
    if pub.excludes_nextn:  # the MTP blocks are the ones numbered past the main stack
        mtp = {f"blk.{i}." for i in range(model.n_layers, model.n_layers + model.extra["nextn_predict_layers"])}
        assert any(t.name.startswith(tuple(mtp)) for t in tensors), model_id
        tensors = [t for t in tensors if not t.name.startswith(tuple(mtp))]
    total, active = count_params(tensors, model.n_experts, model.n_experts_used)
    assert total == pytest.approx(pub.total, rel=TOTAL_TOLERANCE), pub.source
    if pub.active:
        if pub.active_excludes_embedding:
            active -= model.vocab_size * model.hidden_size
        assert active == pytest.approx(pub.active, rel=ACTIVE_TOLERANCE), pub.source


def test_every_entry_has_a_llama_cpp_tensor_layout(catalog):
    from sizing.core.tensors import tensors_for

    for model in catalog.models:
        names = {t.name for t in tensors_for(model)}
        assert "token_embd.weight" in names, model.id
        assert ("output.weight" in names) != model.tied_embeddings, model.id

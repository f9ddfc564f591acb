"""The memoised tensor and recipe path (what makes a catalog sweep fast) gives exactly
what a cold, uncached computation gives, and never serves one model's or one list's
result for another.

"Cold" here means every cache emptied and every input a fresh, fully validated copy;
"warm" is the same call again, served from the caches.
"""

from __future__ import annotations

import pytest

import sizing.core.memory.estimate as memory
import sizing.core.tensors as tensors_mod
import sizing.core.quant as quant
import sizing.core.traffic as traffic
from sizing.core.memory.estimate import estimate_memory
from sizing.sources.catalog import load_catalog
from sizing.core.tensors import TensorSpec, tensors_for
from sizing.core.quant import FILE_QUANTS, apply_recipe, tensor_bytes, weights_bytes
from sizing.core.scenario import Scenario


def _clear_caches() -> None:
    tensors_mod._tensors.cache_clear()
    tensors_mod.shared_spec.cache_clear()
    tensors_mod.layer_of.cache_clear()
    quant._prepare.cache_clear()
    quant._prepare_large.cache_clear()
    quant._nbytes.cache_clear()
    quant._category.cache_clear()
    quant._quantizable_name.cache_clear()
    memory._file_weights.cache_clear()
    memory.recipe_weights.cache_clear()
    quant.recipe_tensors.cache_clear()
    quant._prepared_for.cache_clear()
    quant.recipe_types.cache_clear()
    tensors_mod.tensor_role.cache_clear()
    traffic._recipe_bytes.cache_clear()


def _rows(specs):
    return [(t.name, t.shape, t.ggml_type, tensor_bytes(t)) for t in specs]


def _fresh(specs):
    """Validated copies: equal values, new identities."""
    return [TensorSpec(name=t.name, shape=t.shape, ggml_type=t.ggml_type) for t in specs]


def test_every_catalog_model_and_file_quant_types_the_same_cold_and_warm():
    models = load_catalog().models
    cold: dict[tuple[str, str], list] = {}
    for arch in models:
        for q in FILE_QUANTS:
            _clear_caches()
            fresh_arch = arch.model_copy()
            try:
                cold[arch.id, q] = _rows(apply_recipe(fresh_arch, _fresh(tensors_for(fresh_arch)), q))
            except Exception as exc:  # e.g. a quant whose blocks fit no tensor: same error warm
                cold[arch.id, q] = repr(exc)
    for arch in models:
        untyped = tensors_for(arch)
        for q in FILE_QUANTS:
            try:
                warm = _rows(apply_recipe(arch, untyped, q))
                warm_bytes = weights_bytes(arch, q)
            except Exception as exc:
                warm = warm_bytes = repr(exc)
            assert warm == cold[arch.id, q], (arch.id, q)
            if not isinstance(warm, str):
                assert warm_bytes == sum(r[3] for r in warm)


def test_the_recipe_summary_and_traffic_equal_those_of_the_typed_tensors():
    """recipe_weights and recipe_traffic read the recipe's types without building a
    TensorSpec per tensor (and keep per-layer bytes, not tensor lists): for every catalog
    model they give what the typed tensor list itself gives."""
    _clear_caches()
    for arch in load_catalog().models:
        untyped = _fresh(tensors_for(arch))
        for q in ("F16", "Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q3_K_M", "Q2_K", "IQ4_XS", "MXFP4"):
            try:
                typed = apply_recipe(arch, untyped, q)
            except Exception as exc:  # a quant whose blocks fit no tensor: the same error
                with pytest.raises(type(exc)):
                    memory.recipe_weights(arch, q)
                continue
            assert memory.recipe_weights(arch, q) == memory.summarize_weights(arch, typed, "recipe"), (arch.id, q)
            for kv in (("f16", "f16"), ("q8_0", "q4_0")):
                assert traffic.recipe_traffic(arch, q, *kv) == traffic.model_traffic(arch, typed, *kv), (arch.id, q)


def test_tensor_list_cache_follows_the_architecture_not_its_name():
    arch = load_catalog().get("meta-llama/Llama-3.1-8B-Instruct")
    full = tensors_for(arch)
    smaller = arch.model_copy(update={"n_layers": 2})
    assert len(tensors_for(smaller)) < len(full)
    assert len(tensors_for(arch)) == len(full)
    # the caller owns the list it gets: changing it leaves the next answer alone
    full.pop()
    full.reverse()
    assert tensors_for(arch) == sorted(tensors_for(arch), key=lambda t: (t.layer, t.name))
    assert len(tensors_for(arch)) == len(full) + 1


def test_recipe_cache_keys_on_the_list_given():
    arch = load_catalog().get("Qwen/Qwen3-30B-A3B")
    base = tensors_for(arch)
    typed = apply_recipe(arch, base, "Q4_K_M")
    # a list missing its output matrix is a different (tied) model to the recipe
    without_output = [t for t in base if t.name != "output.weight"]
    typed_tied = apply_recipe(arch, without_output, "Q4_K_M")
    assert len(typed_tied) == len(typed) - 1
    embd = {t.name: t.ggml_type for t in typed_tied}["token_embd.weight"]
    assert embd == "Q6_K"  # tied: the embedding doubles as output and gets its type
    assert {t.name: t.ggml_type for t in typed}["token_embd.weight"] == "Q4_K"
    # order of the input does not matter: llama.cpp's order is restored
    assert apply_recipe(arch, list(reversed(base)), "Q4_K_M") == typed


@pytest.mark.parametrize("backend", ["cpu", "cuda"])
def test_memory_of_given_tensors_changes_when_one_tensor_does(backend):
    arch = load_catalog().get("meta-llama/Llama-3.1-8B-Instruct")
    typed = tuple(apply_recipe(arch, tensors_for(arch), "Q4_K_M"))
    first = estimate_memory(Scenario(model=arch, quant="Q4_K_M", tensors=typed, ctx=4096, backend=backend))
    again = estimate_memory(
        Scenario(model=arch, quant="Q4_K_M", tensors=tuple(_fresh(typed)), ctx=4096, backend=backend)
    )
    assert again == first
    i = next(k for k, t in enumerate(typed) if t.name == "output.weight")
    changed = typed[:i] + (TensorSpec(name="output.weight", shape=typed[i].shape, ggml_type="Q8_0"),) + typed[i + 1 :]
    other = estimate_memory(Scenario(model=arch, quant="Q4_K_M", tensors=changed, ctx=4096, backend=backend))
    delta = tensor_bytes(changed[i]) - tensor_bytes(typed[i])
    assert delta > 0
    assert other.parts.weights_bytes == first.parts.weights_bytes + delta


def test_built_objects_share_no_state_a_caller_can_change():
    """fastmodel.build shares one all-fields set per class; copies and edits stay apart."""
    from pydantic import BaseModel

    from sizing.core.fastmodel import build

    class Mutable(BaseModel):
        a: int
        b: str = "x"

    one, two = build(Mutable, a=1, b="y"), build(Mutable, a=2, b="z")
    one.a = 5  # assignment on a non-frozen model
    copied = two.model_copy(update={"a": 7})
    assert (one.a, two.a, copied.a) == (5, 2, 7)
    assert one.model_fields_set == two.model_fields_set == copied.model_fields_set == {"a", "b"}
    partial = build(Mutable, a=3)  # not every field given: its own set
    assert partial.model_fields_set == {"a"}
    assert Mutable.model_validate(one.model_dump()) == one
    spec = build(TensorSpec, name="w", shape=(32, 2), ggml_type="Q8_0")
    assert spec == TensorSpec(name="w", shape=(32, 2), ggml_type="Q8_0")
    assert hash(spec) == hash(TensorSpec(name="w", shape=(32, 2), ggml_type="Q8_0"))


def test_long_tensor_lists_are_typed_alike_and_few_are_kept():
    """A list longer than any catalog model's (an uploaded header's) is typed exactly as
    when cold, and a stream of different ones keeps at most a few prepared: each holds
    its whole list, so the sweep cache's 256 entries would be gigabytes of them."""
    cat = load_catalog()
    assert max(len(tensors_for(m)) for m in cat.models) <= quant.PREPARED_SMALL  # the catalog stays in the other
    arch = cat.get("Qwen/Qwen3-8B")
    base = tensors_for(arch)
    lists = [  # the model's tensors plus enough uniquely named 1-D ones
        base + [TensorSpec(name=f"blk.0.extra_{i}_{j}.weight", shape=(4096,)) for j in range(quant.PREPARED_SMALL)]
        for i in range(6)
    ]
    cold = []
    for specs in lists:
        _clear_caches()
        cold.append(_rows(apply_recipe(arch, _fresh(specs), "Q4_K_M")))
    _clear_caches()
    for specs, rows in zip(lists, cold):
        assert _rows(apply_recipe(arch, _fresh(specs), "Q4_K_M")) == rows
        assert _rows(apply_recipe(arch, _fresh(specs), "Q8_0")) != rows  # served for its quant
        assert _rows(apply_recipe(arch, _fresh(specs), "Q4_K_M")) == rows  # warm
    assert quant._prepare.cache_info().currsize == 0
    assert quant._prepare_large.cache_info().currsize == 4

"""Quant recipes against the per-tensor types of real GGUF files made by llama-quantize."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import gguf
import pytest
import yaml
from gguf_header import arch_from_header, reader
from pydantic import BaseModel, ConfigDict

from sizing.errors import SizingError
from sizing.core.quant import (
    FILE_QUANTS,
    GGML_TYPES,
    KV_TYPES,
    apply_recipe,
    kv_bytes_per_element,
    stock_floor_bytes,
    tensor_bytes,
    weights_bytes,
)
from sizing.core.tensors import TensorSpec, tensors_for


@pytest.mark.parametrize("fixture,quant", [("smollm2_gguf", "Q4_1"), ("gemma3_gguf", "Q4_K_M")])
def test_recipe_reproduces_every_tensor_type_and_size(fixture, quant, request):
    path = request.getfixturevalue(fixture)
    r = reader(path)
    real = {t.name: (t.tensor_type.name, int(t.n_bytes)) for t in r.tensors}
    arch = arch_from_header(path)
    mine = {t.name: (t.ggml_type, tensor_bytes(t)) for t in apply_recipe(arch, tensors_for(arch), quant)}
    assert mine == real
    assert weights_bytes(arch, quant) == sum(b for _, b in real.values())


def test_ggml_types_come_from_gguf():
    for t, (bs, ts) in gguf.constants.GGML_QUANT_SIZES.items():
        assert GGML_TYPES[t.name] == (bs, ts)
    assert TensorSpec(name="x", shape=(256, 10), ggml_type="Q4_K").n_elements == 2560
    assert tensor_bytes(TensorSpec(name="x", shape=(256, 10), ggml_type="Q4_K")) == 1440


def test_kv_types():
    assert kv_bytes_per_element("f16") == 2
    assert kv_bytes_per_element("Q8_0") == 34 / 32
    assert set(KV_TYPES) >= {"f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"}
    with pytest.raises(SizingError, match="q8_0"):
        kv_bytes_per_element("q7")


def test_unknown_quant_lists_valid_names():
    with pytest.raises(SizingError, match="Q4_K_M"):
        weights_bytes(None, "Q4_K_Z")  # type: ignore[arg-type]


def test_every_file_quant_types_a_model(smollm2_gguf):
    arch = arch_from_header(smollm2_gguf)
    sizes = {q: weights_bytes(arch, q) for q in FILE_QUANTS}
    assert sizes["F32"] > sizes["F16"] == sizes["BF16"] > sizes["Q8_0"] > sizes["Q4_K_M"] > sizes["Q2_K"]


# --- published GGUF sizes ------------------------------------------------------------------

PUBLISHED = Path(__file__).parent / "data" / "published_sizes.yaml"
HEADER_BYTES_PER_TOKEN = 40  # see the file's header comment


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quant: str
    file: str
    size: float
    recipe: Literal["stock", "off-stock"] = "stock"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    repo: str
    quantizer: str
    imatrix: bool
    fused_qkv_own_rule: bool = False
    check: Literal["test", "bench"] = "test"
    own_mix: bool = False
    llama_cpp: str | None = None
    source: str
    source_note: str | None = None
    unit: Literal["B", "GB", "GiB"]
    resolution: float
    files: list[_File]


def _all_published() -> list[tuple[_Entry, _File]]:
    raw = yaml.safe_load(PUBLISHED.read_text())
    entries = [_Entry.model_validate(e) for e in raw["entries"]]
    return [(e, f) for e in entries for f in e.files]


_ALL_ROWS = _all_published()
_ROWS = [(e, f) for e, f in _ALL_ROWS if e.check == "test" and f.recipe == "stock"]


def test_published_table_is_broad():
    quants = {f.quant for _, f in _ROWS}
    assert {"Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K", "IQ4_XS", "MXFP4"} <= quants
    assert len({e.model for e, _ in _ROWS}) >= 6


@pytest.mark.parametrize("entry,row", _ROWS, ids=[f"{e.model.split('/')[-1]}-{f.quant}" for e, f in _ROWS])
def test_weights_match_published_file_sizes(entry, row):
    from sizing.sources.catalog import load_catalog

    arch = load_catalog().get(entry.model)
    unit = {"B": 1, "GB": 1e9, "GiB": 2**30}[entry.unit]
    published = row.size * unit
    weights = weights_bytes(arch, row.quant, imatrix=entry.imatrix, fused_qkv_own_rule=entry.fused_qkv_own_rule)
    expected = weights + HEADER_BYTES_PER_TOKEN * arch.vocab_size
    tolerance = 0.005 * published + entry.resolution * unit / 2
    assert abs(expected - published) <= tolerance, (
        f"{entry.repo}/{row.file}: ours {expected / unit:.3f} {entry.unit}, published {row.size}"
    )


def _bench_rows(repo: str) -> list[tuple[_Entry, _File]]:
    return [(e, f) for e, f in _ALL_ROWS if e.repo == repo]


@pytest.mark.parametrize("repo", ["ggml-org/gemma-3n-E2B-it-GGUF", "ggml-org/gemma-3n-E4B-it-GGUF"])
def test_matrices_llama_quantize_leaves_alone_keep_the_converters_16_bits(repo):
    """llama-quantize returns a tensor it may not quantize with the type it has in the converted
    file, and the converter writes F32 only for 1-D tensors, norms and a short list (routers,
    conv kernels, AltUp's coefficient tables). Gemma 3n's AltUp projections, LAuReL matrices
    and per_layer_model_proj are 16-bit matrices: typing them F32 put ggml-org's Q8_0 files
    1.5-2.1 % over their published byte counts."""
    from sizing.sources.catalog import load_catalog

    [(entry, row)] = _bench_rows(repo)
    arch = load_catalog().get(entry.model)
    typed = {t.name: t.ggml_type for t in apply_recipe(arch, tensors_for(arch), row.quant)}
    assert {typed[n] for n in ("altup_proj.weight", "per_layer_model_proj.weight", "blk.0.laurel_l.weight")} == {"F16"}
    assert {typed[n] for n in ("blk.0.altup_predict_coef.weight", "blk.0.altup_router_norm.weight")} == {"F32"}
    assert typed["blk.0.altup_router.weight"] == "F16"
    f32_file = {t.name: t.ggml_type for t in apply_recipe(arch, tensors_for(arch), "F32")}
    assert f32_file["altup_proj.weight"] == "F32"  # an F32 conversion keeps everything F32
    published = row.size * {"B": 1, "GB": 1e9, "GiB": 2**30}[entry.unit]
    expected = weights_bytes(arch, row.quant) + HEADER_BYTES_PER_TOKEN * arch.vocab_size
    assert abs(expected - published) <= 0.005 * published


def test_converter_keeps_conv_kernels_and_routers_f32():
    """Mamba-2 and short-convolution kernels and MoE routers stay F32 at any quant."""
    from sizing.sources.catalog import load_catalog

    cat = load_catalog()
    for model, names in (
        ("ibm-granite/granite-4.0-h-tiny", ("blk.0.ssm_conv1d.weight", "blk.0.ffn_gate_inp.weight")),
        ("LiquidAI/LFM2-8B-A1B", ("blk.0.shortconv.conv.weight",)),
    ):
        arch = cat.get(model)
        typed = {t.name: t.ggml_type for t in apply_recipe(arch, tensors_for(arch), "Q4_K_M")}
        assert {typed[n] for n in names} == {"F32"}, model


# --- the stock recipe's floor: which published rows no llama.cpp recipe can explain ----------


@pytest.mark.parametrize(
    "model", ["meta-llama/Llama-4-Scout-17B-16E-Instruct", "Qwen/Qwen3-30B-A3B", "microsoft/phi-4"]
)
def test_stock_floor_is_at_most_the_recipe_and_equal_where_nothing_is_upgraded(model):
    from sizing.sources.catalog import load_catalog

    arch = load_catalog().get(model)
    for quant in FILE_QUANTS:
        assert stock_floor_bytes(arch, quant) <= weights_bytes(arch, quant), quant
    for quant in ("F32", "F16", "BF16", "Q8_0"):  # every tensor at the base type (or F32)
        assert stock_floor_bytes(arch, quant) == weights_bytes(arch, quant), quant
    # the IQ2 recipe upgrades attn_v, ffn_down and the embedding: the floor drops them
    assert stock_floor_bytes(arch, "IQ2_XS") < weights_bytes(arch, "IQ2_XS")


@pytest.mark.parametrize(
    "entry,row", _ALL_ROWS, ids=[f"{e.model.split('/')[-1]}-{f.quant}-{f.size}" for e, f in _ALL_ROWS]
)
def test_off_stock_marks_exactly_the_rows_below_the_stock_floor(entry, row):
    """A row is marked off-stock iff its published size (header included) is below the
    stock recipe's floor for the weights alone by more than the size test's tolerance, so
    the mark can neither hide a row we merely predict badly nor be left off one no recipe
    can reach."""
    from sizing.sources.catalog import load_catalog

    arch = load_catalog().get(entry.model)
    unit = {"B": 1, "GB": 1e9, "GiB": 2**30}[entry.unit]
    published = row.size * unit
    floor = stock_floor_bytes(arch, row.quant, imatrix=entry.imatrix, fused_qkv_own_rule=entry.fused_qkv_own_rule)
    below = published + entry.resolution * unit / 2 < floor - 0.005 * published
    assert below == (row.recipe == "off-stock"), (
        f"{entry.repo}/{row.file}: published {row.size} {entry.unit}, stock floor {floor / unit:.3f}"
    )

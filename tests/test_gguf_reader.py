"""read_gguf on real files (checked against gguf's own GGUFReader) and on hostile ones."""

from __future__ import annotations

import os
import struct

import pytest
from gguf_header import reader

from sizing.errors import SizingError
from sizing.sources.gguf_reader import GGUFArray, read_gguf
from sizing.core.tensors import param_counts, tensors_for
from sizing.core.quant import apply_recipe


@pytest.mark.parametrize("fixture,quant", [("smollm2_gguf", "Q4_1"), ("gemma3_gguf", "Q4_K_M")])
def test_real_file_matches_gguf_reader(fixture, quant, request):
    path = request.getfixturevalue(fixture)
    m = read_gguf(path)
    r = reader(path)
    assert m.file_type == quant
    assert m.file_size == os.path.getsize(path)
    assert m.data_offset == r.data_offset
    ref = {t.name: (tuple(int(x) for x in t.shape), t.tensor_type.name) for t in r.tensors}
    assert {t.name: (t.shape, t.ggml_type) for t in m.tensors} == ref
    for key, field in r.fields.items():
        if key.startswith("GGUF."):
            continue
        mine = m.metadata[key]
        if isinstance(mine, GGUFArray):
            assert mine.length == len(field.data)
            if mine.values is not None:
                assert list(mine.values) == list(field.contents())
        elif isinstance(mine, float):
            assert mine == pytest.approx(field.contents())
        else:
            assert mine == field.contents()


def test_gemma3_header_maps_to_its_architecture(gemma3_gguf):
    a = read_gguf(gemma3_gguf).arch
    # values published in google/gemma-3-270m config.json
    assert (a.arch, a.n_layers, a.hidden_size, a.n_heads, a.n_kv_heads) == ("gemma3", 18, 640, 4, 1)
    assert (a.head_dim_k, a.ffn_size, a.vocab_size, a.sliding_window) == (256, 2048, 262144, 512)
    assert a.swa_flags.count(False) == 3  # layers 5, 11, 17 are global
    assert a.tied_embeddings and a.qk_norm and a.post_norms


@pytest.mark.parametrize("fixture", ["smollm2_gguf", "gemma3_gguf"])
def test_generated_layout_and_recipe_equal_the_file(fixture, request):
    m = read_gguf(request.getfixturevalue(fixture))
    assert tuple(apply_recipe(m.arch, tensors_for(m.arch), m.file_type)) == m.tensors
    assert param_counts(m.arch)[0] == sum(t.n_elements for t in m.tensors)


# --- hostile input -----------------------------------------------------------------------


def _s(text: str | bytes) -> bytes:
    b = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(b)) + b


def _header(n_tensors: int = 0, n_kv: int = 1, body: bytes | None = None, version: int = 3) -> bytes:
    if body is None:
        body = _s("general.architecture") + struct.pack("<I", 8) + _s("llama")
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + body + b"\0" * 64


def _expect(tmp_path, name: str, data: bytes, match: str) -> None:
    p = tmp_path / name
    p.write_bytes(data)
    with pytest.raises(SizingError, match=match) as e:
        read_gguf(p)
    assert str(p) in str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(SizingError, match="no such file"):
        read_gguf(tmp_path / "nope.gguf")


def test_directory(tmp_path):
    with pytest.raises(SizingError, match="directory"):
        read_gguf(tmp_path)


def test_empty_file(tmp_path):
    _expect(tmp_path, "empty.gguf", b"", "empty")


def test_random_bytes(tmp_path):
    _expect(tmp_path, "random.gguf", os.urandom(4096).replace(b"GGUF", b"GGUX"), "not a GGUF file")


def test_text_file(tmp_path):
    _expect(tmp_path, "config.gguf", b'{"model_type": "llama"}', "not a GGUF file")


def test_bad_version(tmp_path):
    _expect(tmp_path, "v9.gguf", _header(version=9), "version 9")


def test_10_to_the_12_tensors(tmp_path):
    _expect(tmp_path, "many.gguf", _header(n_tensors=10**12), "1000000000000 tensors")


def test_huge_kv_count(tmp_path):
    _expect(tmp_path, "kv.gguf", _header(n_kv=2**62), "metadata entries")


def test_2_to_the_60_byte_string(tmp_path):
    body = _s("general.architecture") + struct.pack("<I", 8) + struct.pack("<Q", 2**60) + b"llama"
    _expect(tmp_path, "string.gguf", _header(body=body), "truncated or corrupt")


def test_2_to_the_60_byte_key(tmp_path):
    body = struct.pack("<Q", 2**60) + b"general"
    _expect(tmp_path, "key.gguf", _header(body=body), "limit")


def test_huge_array(tmp_path):
    body = _s("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2**61)
    _expect(tmp_path, "array.gguf", _header(body=body), "items of")


def test_unknown_value_type(tmp_path):
    body = _s("general.architecture") + struct.pack("<I", 77) + _s("llama")
    _expect(tmp_path, "type.gguf", _header(body=body), "unknown value type 77")


def test_truncated_header(smollm2_gguf, tmp_path):
    _expect(tmp_path, "cut.gguf", smollm2_gguf.read_bytes()[:5000], "truncated")


def test_truncated_data(smollm2_gguf, tmp_path):
    data = smollm2_gguf.read_bytes()
    _expect(tmp_path, "short.gguf", data[: len(data) - 4096], "truncated GGUF file: tensor")


def test_absurd_tensor_dims(tmp_path):
    meta = _s("general.architecture") + struct.pack("<I", 8) + _s("llama")
    info = _s("token_embd.weight") + struct.pack("<I", 9) + struct.pack("<Q", 1) * 9 + struct.pack("<IQ", 0, 0)
    _expect(tmp_path, "dims.gguf", _header(n_tensors=1, body=meta + info), "9 dimensions")


def test_tensor_beyond_file(tmp_path):
    meta = _s("general.architecture") + struct.pack("<I", 8) + _s("llama")
    info = _s("token_embd.weight") + struct.pack("<I", 2) + struct.pack("<QQ", 4096, 2**40) + struct.pack("<IQ", 0, 0)
    _expect(tmp_path, "big.gguf", _header(n_tensors=1, body=meta + info), "impossibly large|truncated")


def test_split_model_is_read_whole(tmp_path):
    """gguf-split layout (written by gguf's own writer): any part gives the whole model."""
    import numpy as np
    from gguf import GGUFWriter

    w = GGUFWriter(tmp_path / "tiny.gguf", "llama", split_max_tensors=2)
    for k, v in {
        "block_count": 1,
        "embedding_length": 64,
        "attention.head_count": 2,
        "attention.head_count_kv": 2,
        "feed_forward_length": 128,
        "context_length": 256,
    }.items():
        w.add_uint32(f"llama.{k}", v)
    names = ["token_embd.weight", "output_norm.weight", "blk.0.attn_norm.weight", "blk.0.attn_q.weight"]
    shapes = [(100, 64), (64,), (64,), (64, 64)]  # numpy order
    for n, sh in zip(names, shapes):
        w.add_tensor(n, np.zeros(sh, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    parts = sorted(tmp_path.glob("tiny-*-of-*.gguf"))
    assert len(parts) == 2
    for part in parts:
        m = read_gguf(part)
        assert {t.name for t in m.tensors} == set(names)
        assert m.file_size == sum(q.stat().st_size for q in parts)
        assert m.arch.hidden_size == 64 and m.arch.vocab_size == 100
    parts[1].unlink()
    with pytest.raises(SizingError, match="missing part"):
        read_gguf(parts[0])


# --- a header without general.file_type --------------------------------------------------


def _without_file_type(src, dst):
    """A copy of a real GGUF with general.file_type removed, by gguf's own metadata tool."""
    import subprocess
    import sys

    subprocess.run(
        [
            sys.executable,
            "-m",
            "gguf.scripts.gguf_new_metadata",
            str(src),
            str(dst),
            "--remove-metadata",
            "general.file_type",
            "--force",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return dst


@pytest.mark.parametrize("fixture,quant", [("smollm2_gguf", "Q4_1"), ("gemma3_gguf", "Q4_K_M")])
def test_missing_file_type_is_read_from_the_tensor_types(fixture, quant, request, tmp_path):
    """The run page failed on such a file with "unknown quant 'mostly F32'": the quant
    is now the one its weight matrices are mostly in, as llama.cpp guesses it."""
    path = _without_file_type(request.getfixturevalue(fixture), tmp_path / "nokey.gguf")
    assert "general.file_type" not in reader(path).fields
    m = read_gguf(path)
    assert m.file_type == quant


def test_cli_fit_accepts_a_file_without_file_type(smollm2_gguf, tmp_path):
    import subprocess
    import sys

    path = _without_file_type(smollm2_gguf, tmp_path / "nokey.gguf")
    proc = subprocess.run(
        [sys.executable, "-m", "sizing", "fit", "--model", str(path), "--gpu", "rtx-4090"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Q4_1" in proc.stdout


def test_every_closest_arch_hint_is_for_a_refused_arch_and_names_a_modelled_one():
    """A hint for an architecture we model would never be shown, and one that names a refused
    architecture would send the user to another refusal."""
    from sizing.sources.gguf_reader import _CLOSEST, closest_supported, supported_gguf_archs

    supported = set(supported_gguf_archs())
    assert not set(_CLOSEST) & supported
    assert set(_CLOSEST.values()) <= supported
    assert closest_supported("kimi-linear") == "qwen3next"

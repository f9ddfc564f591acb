"""Crafted GGUF headers: one clear message naming the field, never a traceback or a hang.

Each case is sent three ways: to the reader as uploaded bytes, to the CLI as a file,
and to the running page (Streamlit AppTest) as an upload. The hang guard is
pytest-timeout; nothing here measures speed.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from crafted_gguf import (
    ARRAY,
    F32,
    STRING,
    U32,
    U64,
    header,
    llama_kvs,
    llama_tensors,
    tensor,
    tiny_llama,
)
from streamlit.testing.v1 import AppTest

from sizing.errors import SizingError
from sizing.sources.gguf_reader import MAX_TENSORS, read_gguf, read_gguf_bytes

ROOT = Path(__file__).resolve().parents[1]


def _moe(**override) -> list[bytes]:
    return llama_kvs(expert_count=(U32, 4), expert_used_count=(U32, 2), **override)


# name -> (header bytes, what the message must name)
CASES: dict[str, tuple[bytes, str]] = {
    # 24 bytes: 0 tensors and 3e11 metadata entries; a stretched file would let the walk run
    "kv-count-3e11": (b"GGUF" + struct.pack("<IQQ", 3, 0, 300_000_000_000), "metadata entries"),
    # 2^62 layers and no ffn_up tensor: the dense-layer search must not walk range(block_count)
    "block-count-2^62": (header(llama_kvs(block_count=(U64, 2**62))), "llama.block_count"),
    "block-count-string": (tiny_llama(block_count=(STRING, "32")), "llama.block_count"),
    "block-count-float": (tiny_llama(block_count=(F32, 32.0)), "llama.block_count"),
    "head-count-string": (tiny_llama(attention__head_count=(STRING, "4")), "llama.attention.head_count"),
    "head-count-array-of-strings": (
        tiny_llama(attention__head_count=(ARRAY, ["4", "4"], STRING)),
        "llama.attention.head_count",
    ),
    "head-count-nested-arrays": (
        tiny_llama(attention__head_count=(ARRAY, [(U32, [4, 4]), (U32, [4])], ARRAY)),
        "llama.attention.head_count",
    ),
    "leading-dense-string": (
        header(_moe(leading_dense_block_count=(STRING, "1")), llama_tensors()),
        "llama.leading_dense_block_count",
    ),
    "ffn-up-exps-1d": (
        header(_moe(), llama_tensors() + [tensor("blk.0.ffn_up_exps.weight", (64,))]),
        "blk.0.ffn_up_exps.weight",
    ),
    "ffn-up-shexp-1d": (
        header(
            _moe(expert_feed_forward_length=(U32, 32)), llama_tensors() + [tensor("blk.0.ffn_up_shexp.weight", (64,))]
        ),
        "blk.0.ffn_up_shexp.weight",
    ),
    "tensor-count-over-cap": (
        header(llama_kvs(), [tensor(f"t{i}", (32,)) for i in range(10)], n_tensors=789_000),
        "tensors",
    ),
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("case", CASES)
def test_upload_is_refused_naming_the_field(case):
    data, needle = CASES[case]
    with pytest.raises(SizingError) as e:
        read_gguf_bytes(data, f"{case}.gguf")
    msg = str(e.value)
    assert needle in msg and f"{case}.gguf" in msg and "\n" not in msg


@pytest.mark.timeout(60)
def test_789k_tiny_tensors_are_refused_before_they_are_walked():
    """The 31 MB header of the report: 789k real tensor entries, refused by count."""
    infos = [tensor(f"blk.{i}.x", (32,)) for i in range(789_000)]
    data = header(llama_kvs(), infos)
    assert len(data) > 25 * 1024 * 1024
    with pytest.raises(SizingError, match=f"at most {MAX_TENSORS}"):
        read_gguf_bytes(data, "many.gguf")


def test_the_tiny_valid_header_is_read():
    """The crafted cases differ from this one valid header by one field each."""
    m = read_gguf_bytes(tiny_llama(), "tiny.gguf")
    assert (m.arch.n_layers, m.arch.hidden_size, m.arch.n_heads) == (2, 64, 4)


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    out = {}
    for case, (data, _) in CASES.items():
        data = data + b"\0" * 65536  # room for the (overlapping, zero) tensor data
        p = root / f"{case}.gguf"
        p.write_bytes(data)
        out[case] = subprocess.run(
            [sys.executable, "-m", "sizing", "estimate", "--model", str(p), "--ctx", "256"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
        )
    return out


@pytest.mark.parametrize("case", CASES)
def test_cli_exits_2_with_one_line(cli_results, case):
    r = cli_results[case]
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert CASES[case][1] in r.stderr


def test_file_reader_agrees_with_the_upload_reader(tmp_path):
    p = tmp_path / "block.gguf"
    p.write_bytes(CASES["block-count-string"][0] + b"\0" * 65536)
    with pytest.raises(SizingError, match="llama.block_count is str"):
        read_gguf(p)


PAGE = "from sizing.ui.pages.run import render\nrender()"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", ["kv-count-3e11", "block-count-2^62", "head-count-nested-arrays", "ffn-up-exps-1d"])
def test_page_upload_gets_one_message(monkeypatch, case):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = AppTest.from_string(PAGE, default_timeout=60)
    at.query_params["src"] = "file"
    at.query_params["hw"] = "custom"
    at.run()
    at.get("file_uploader")[0].upload(f"{case}.gguf", CASES[case][0]).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "internal error" not in errors[0], errors

"""Smaller holes from the hostile review, through the real CLI and core."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from crafted_gguf import header, llama_kvs, tensor

from sizing.sources.gguf_reader import read_gguf_bytes

ROOT = Path(__file__).resolve().parents[1]


def _cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sizing", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )


def test_a_newline_in_a_file_name_adds_no_line_to_the_modelfile(tmp_path, smollm2_gguf):
    evil = tmp_path / "m\nPARAMETER num_ctx 1\nFROM evil.gguf\n.gguf"
    shutil.copyfile(smollm2_gguf, evil)
    r = _cli("estimate", "--model", str(evil), "--gpu", "RTX 4090", "--json")
    assert r.returncode == 0, r.stderr
    cmds = json.loads(r.stdout).get("commands") or {}
    modelfile = cmds.get("ollama_modelfile") or ""
    assert "FROM evil.gguf" not in modelfile and "num_ctx 1\n" not in modelfile, modelfile
    assert "llama_server" in cmds  # the other commands are still given (shell-quoted)


def test_a_repo_id_over_96_characters_is_one_line():
    r = _cli("estimate", "--model", "org/" + "m" * 100)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert "96 characters" in r.stderr


def test_a_large_models_header_is_accepted_as_an_upload():
    """An upload holds only the header: tensors far larger than the upload are normal
    (DeepSeek-V3's expert tensors: 7168 x 2048 x 256)."""
    kvs = llama_kvs(
        block_count=(4, 1),
        embedding_length=(4, 7168),
        feed_forward_length=(4, 18432),
        attention__head_count=(4, 128),
        attention__head_count_kv=(4, 128),
    )
    tensors = [
        tensor("token_embd.weight", (7168, 129280), 12),
        tensor("blk.0.ffn_up.weight", (7168, 18432), 12),
        tensor("blk.0.ffn_gate.weight", (7168, 18432), 12),
        tensor("blk.0.ffn_down_exps.weight", (2048, 7168, 256), 12),
    ]
    m = read_gguf_bytes(header(kvs, tensors), "big.gguf")
    assert m.arch.hidden_size == 7168 and len(m.tensors) == 4


def test_control_characters_in_a_flag_stay_off_the_terminal():
    """Form feeds, record separators and escape sequences in an argument do not break
    the one-line error or reach the terminal as control codes."""
    r = _cli("finetune", "--model", "Qwen/Qwen3-8B", "x\x0cy\x1ez\x1b[2J")
    assert r.returncode == 2
    assert len(r.stderr.splitlines()) == 1 and "\x1b" not in r.stderr and "\x0c" not in r.stderr, repr(r.stderr)

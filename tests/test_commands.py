"""Launch commands, checked against llama.cpp's own argument table and parameter struct.

No llama-server binary is installed here, so the flags are checked against the option
names compiled into xllamacpp's copy of llama.cpp (common/arg.cpp), and the values are
loaded into llama.cpp's own ``common_params`` (xllamacpp.CommonParams)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from sizing.core.speed.calibration import load_calibration
from sizing.core.commands import launch_commands, llama_server_argv, vllm_argv, weights_for, weights_sources
from sizing.errors import SizingError
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog
from sizing.core.placement import PlacementOptions
from sizing.units import GIB
from sizing.core.machine import HostSpec, machine_from_gpu
from sizing.core.solver import solve

HOST = HostSpec(name="test host", ram_bytes=64 * GIB, bandwidth_gbs=89.6, threads=8)


class _Flags:
    """Option names as NUL-terminated strings in llama.cpp's compiled argument table.

    The linker merges a string into the tail of a longer one (``-ngl`` may be stored
    inside ``…-ngl``), so membership is "appears NUL-terminated", not "starts a string"."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __contains__(self, flag: str) -> bool:
        return flag.encode() + b"\x00" in self.data


@pytest.fixture(scope="module")
def llama_flags() -> _Flags:
    import xllamacpp

    so = next(Path(xllamacpp.__file__).parent.glob("xllamacpp*.so"))
    flags = _Flags(so.read_bytes())
    assert "--n-gpu-layers" in flags and "--no-such-flag-xyz" not in flags
    return flags


def _flags(argv):
    return [a for a in argv[1:] if a.startswith("-") and not re.fullmatch(r"-\d.*", a)]


def _plan(model, gpu, n=1, ctx=8192, **kw):
    db = load_gpus()
    hw = machine_from_gpu(db.match(gpu).gpu, n, host=HOST)
    return solve(load_catalog().get(model), "Q4_K_M", ctx, hw, load_calibration(), **kw)


def test_every_llama_server_flag_exists_in_llama_cpp(llama_flags):
    p = _plan("Qwen/Qwen3-30B-A3B", "RTX 4060 Ti 16GB")
    assert p.placement.n_cpu_moe > 0  # exercises --n-cpu-moe
    c = launch_commands(
        "Qwen/Qwen3-30B-A3B", "Q4_K_M", p.placement, ctx=8192, n_parallel=2, kv_type_k="q8_0", kv_type_v="q8_0"
    )
    multi = _plan("meta-llama/Llama-3.1-70B-Instruct", "RTX 3090", 2)
    c2 = launch_commands("meta-llama/Llama-3.1-70B-Instruct", "Q4_K_M", multi.placement, ctx=8192)
    allm = _plan("Qwen/Qwen3-30B-A3B", "RTX 4060 Ti 16GB", options=PlacementOptions(cpu_moe=True))
    c3 = launch_commands("Qwen/Qwen3-30B-A3B", "Q4_K_M", allm.placement, ctx=8192, model_path="/models/my model.gguf")
    seen = set()
    for argv in (c.llama_server_argv, c2.llama_server_argv, c3.llama_server_argv):
        for f in _flags(argv):
            assert f in llama_flags, f
            seen.add(f)
    assert {"-hf", "-m", "-c", "-ngl", "-ts", "-ctk", "-ctv", "-fa", "--n-cpu-moe", "-ot", "-np"} <= seen


def test_values_load_into_llama_cpp_common_params():
    import xllamacpp

    p = _plan("meta-llama/Llama-3.1-70B-Instruct", "RTX 3090", 2)
    argv = llama_server_argv(p.placement, hf_spec="org/repo:Q4_K_M", ctx=8192, kv_type_k="q8_0", kv_type_v="q8_0")
    opts = dict(zip(argv[1::2], argv[2::2]))
    cp = xllamacpp.CommonParams()
    cp.n_ctx = int(opts["-c"])
    cp.n_gpu_layers = int(opts["-ngl"])
    split = [float(x) for x in opts["-ts"].split(",")]
    cp.tensor_split = split + [0.0] * (128 - len(split))  # llama_max_devices() wide
    cp.cache_type_k = getattr(xllamacpp.ggml_type, "GGML_TYPE_" + opts["-ctk"].upper())
    cp.cache_type_v = getattr(xllamacpp.ggml_type, "GGML_TYPE_" + opts["-ctv"].upper())
    fa = {"on": "ENABLED", "off": "DISABLED", "auto": "AUTO"}[opts["-fa"]]  # arg.cpp's -fa values
    cp.flash_attn_type = getattr(xllamacpp.llama_flash_attn_type, "LLAMA_FLASH_ATTN_TYPE_" + fa)
    assert cp.n_ctx == 8192 and cp.n_gpu_layers == p.placement.gpu_layers
    assert cp.tensor_split[0] > 0 and cp.tensor_split[1] > 0


def test_quoting_keeps_a_path_with_spaces_one_argument():
    p = _plan("meta-llama/Llama-3.1-8B-Instruct", "RTX 4090")
    c = launch_commands(
        "meta-llama/Llama-3.1-8B-Instruct", "Q4_K_M", p.placement, ctx=8192, model_path="/my models/it's.gguf"
    )
    assert shlex.split(c.llama_server) == list(c.llama_server_argv)
    assert "/my models/it's.gguf" in shlex.split(c.llama_server)


def test_parallel_slots_share_the_context():
    p = _plan("meta-llama/Llama-3.1-8B-Instruct", "RTX 4090", n_parallel=4, ctx=4096)
    argv = llama_server_argv(p.placement, hf_spec="a/b:Q4_K_M", ctx=4096, n_parallel=4)
    opts = dict(zip(argv[1::2], argv[2::2]))
    assert opts["-c"] == str(4 * 4096) and opts["-np"] == "4"


def test_weights_and_ollama(tmp_path):
    w = weights_for("meta-llama/Llama-3.1-8B-Instruct", "Q5_K_M")
    assert w.hf_spec.endswith(":Q5_K_M") and w.ollama_hf == f"hf.co/{w.hf_repo}:Q5_K_M" and w.ollama_tag
    p = _plan("meta-llama/Llama-3.1-8B-Instruct", "RTX 4090")
    c = launch_commands("meta-llama/Llama-3.1-8B-Instruct", "Q4_K_M", p.placement, ctx=8192)
    assert "PARAMETER num_ctx 8192" in c.ollama_modelfile
    assert f"PARAMETER num_gpu {p.placement.gpu_layers}" in c.ollama_modelfile
    unknown = weights_for("someone/unknown-model", "Q4_K_M")
    assert unknown.hf_spec is None and "search" in unknown.note
    for key, src in weights_sources().items():
        assert src.source.startswith("https://"), key


def test_vllm_for_plans_bigger_than_one_card():
    p = _plan("meta-llama/Llama-3.1-70B-Instruct", "RTX 3090", 4, options=PlacementOptions(split_mode="tensor"))
    c = launch_commands("meta-llama/Llama-3.1-70B-Instruct", "Q4_K_M", p.placement, ctx=8192, nodes=2)
    args = shlex.split(c.vllm)
    opts = dict(zip(args[3::2], args[4::2]))
    assert args[:3] == ["vllm", "serve", "meta-llama/Llama-3.1-70B-Instruct"]
    assert opts["--tensor-parallel-size"] == "4" and opts["--pipeline-parallel-size"] == "2"
    assert opts["--max-model-len"] == "8192" and opts["--kv-cache-dtype"] == "auto"
    assert float(opts["--gpu-memory-utilization"]) <= 1
    with pytest.raises(SizingError):
        vllm_argv("x/y", ctx=1, tensor_parallel=0)


def test_vllm_tensor_parallel_divides_the_heads():
    from sizing.core.commands import vllm_parallel

    assert vllm_parallel(3, 64, 8) == (1, 3)  # vLLM refuses TP 3 for 64 heads
    assert vllm_parallel(4, 64, 8) == (4, 1)
    assert vllm_parallel(6, 64, 8) == (2, 3)
    assert vllm_parallel(8, 32, 4) == (8, 1)  # 8 is a multiple of 4 KV heads: they replicate
    p = _plan("meta-llama/Llama-3.1-70B-Instruct", "RTX 3090", 3, options=PlacementOptions(split_mode="tensor"))
    c = launch_commands("meta-llama/Llama-3.1-70B-Instruct", "F16", p.placement, ctx=8192, n_heads=64, n_kv_heads=8)
    opts = dict(zip(c.vllm_argv[3::2], c.vllm_argv[4::2]))
    assert opts["--tensor-parallel-size"] == "1" and opts["--pipeline-parallel-size"] == "3"
    # the share our fit leaves free on each card (llama.cpp's 1 GiB margin), not a fixed 0.90
    cap = p.placement.devices[0].capacity_bytes
    assert float(opts["--gpu-memory-utilization"]) == pytest.approx(cap / (cap + GIB), abs=0.011)
    assert any("CUDA graphs" in n for n in c.notes)


def test_vllm_kv_dtype_is_honest():
    p = _plan("meta-llama/Llama-3.1-70B-Instruct", "RTX 3090", 2, options=PlacementOptions(split_mode="tensor"))
    c = launch_commands(
        "meta-llama/Llama-3.1-70B-Instruct",
        "F16",
        p.placement,
        ctx=8192,
        kv_type_k="q4_0",
        kv_type_v="q4_0",
        n_heads=64,
        n_kv_heads=8,
    )
    assert "fp8" in c.vllm and any("no q4_0 KV cache" in n for n in c.notes)


def test_ollama_environment_modelfile_and_library_tags():
    p = _plan("Qwen/Qwen3-30B-A3B", "RTX 4060 Ti 16GB")
    assert p.placement.n_cpu_moe > 0
    c = launch_commands(
        "Qwen/Qwen3-30B-A3B", "Q4_K_M", p.placement, ctx=8192, n_parallel=2, kv_type_k="q8_0", kv_type_v="q8_0"
    )
    # experts in RAM cannot be said to Ollama: num_gpu must not force them onto the card
    assert "num_gpu" not in c.ollama_modelfile and "num_gpu" not in c.ollama_options
    assert c.ollama_modelfile.startswith("FROM qwen3:30b")  # the library tag serves Q4_K_M
    assert c.ollama_env == {"OLLAMA_FLASH_ATTENTION": "1", "OLLAMA_KV_CACHE_TYPE": "q8_0", "OLLAMA_NUM_PARALLEL": "2"}
    assert c.ollama_serve.endswith("ollama serve") and "OLLAMA_KV_CACHE_TYPE=q8_0" in c.ollama_serve
    oss = launch_commands("openai/gpt-oss-120b", "MXFP4", p.placement, ctx=8192)
    assert "gpt-oss:120b" in oss.ollama_modelfile


def test_llama_server_spells_out_every_memory_setting():
    p = _plan("meta-llama/Llama-3.1-8B-Instruct", "RTX 4090")
    argv = llama_server_argv(p.placement, model_path="m.gguf", ctx=4096)
    opts = dict(zip(argv[1::2], argv[2::2]))
    assert opts["-np"] == "1" and opts["-ctk"] == "f16" and opts["-ctv"] == "f16" and opts["-fa"] == "on"
    argv = llama_server_argv(
        p.placement, model_path="m.gguf", ctx=4096, n_parallel=4, mmap=False, repack=False, mlock=True, n_ubatch=256
    )
    assert "--kv-unified" in argv and "--no-repack" in argv and "-ub" in argv
    assert argv[argv.index("--load-mode") + 1] == "mlock"  # no mmap, locked
    argv = llama_server_argv(p.placement, model_path="m.gguf", ctx=4096, n_parallel=4, kv_unified=False)
    assert "--kv-unified" not in argv


def test_new_flags_exist_in_llama_cpp(llama_flags):
    for f in ("--kv-unified", "--load-mode", "--no-repack", "-ub", "-b"):
        assert f in llama_flags, f


def test_mixed_kv_types_warn():
    from sizing.estimate import estimate

    est = estimate(
        "meta-llama/Llama-3.1-8B-Instruct", "Q4_K_M", 4096, kv_type_k="q8_0", kv_type_v="q4_0", backend="cuda"
    )
    assert any("mixed K/V cache types" in w for w in est.warnings)
    assert not any(
        "mixed" in w
        for w in estimate("meta-llama/Llama-3.1-8B-Instruct", "Q4_K_M", 4096, kv_type="q8_0", backend="cuda").warnings
    )


def test_vllm_asks_for_fp16_on_cards_without_bf16():
    """vLLM stops on BF16 weights below compute capability 8.0 ("use --dtype=half",
    vllm-project/vllm#946): the families we call BF16-less are exactly the database's
    NVIDIA cards below 8.0, and their printed vLLM command asks for FP16."""
    from sizing.answer import answer_for
    from sizing.core.commands import computes_bf16
    from sizing.core.machine import family_of
    from sizing.estimate import estimate

    nvidia = [g for g in load_gpus().by_vendor("nvidia") if g.compute_capability]
    assert any(float(g.compute_capability) < 8.0 for g in nvidia)
    for g in nvidia:
        assert computes_bf16([family_of(g.architecture)]) == (float(g.compute_capability) >= 8.0), g.id
    est = estimate("meta-llama/Llama-3.1-8B-Instruct", "F16", 4096, backend="cuda")
    for gpu, half in (("RTX 2080 Ti", True), ("RTX 3090", False)):
        hw = machine_from_gpu(load_gpus().match(gpu).gpu, 2, host=HOST)
        ans = answer_for(est, hw, options=PlacementOptions(split_mode="tensor"))
        assert ans.commands is not None and ans.commands.vllm
        argv = shlex.split(ans.commands.vllm)
        assert ("--dtype" in argv and argv[argv.index("--dtype") + 1] == "half") == half, gpu
        assert any("no BF16" in n for n in ans.commands.notes) == half

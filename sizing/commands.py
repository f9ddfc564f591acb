"""Runnable commands for a placement: llama-server, Ollama and vLLM, plus where the weights are.

A plan is only useful if it can be typed in. These functions turn a ``Placement`` into
argument vectors (and shell-quoted strings) for llama.cpp's ``llama-server``, an Ollama
Modelfile with ``num_ctx``/``num_gpu``, and, for plans bigger than one machine or one
card, ``vllm serve`` with tensor/pipeline parallelism. Every value comes from the plan;
every string is quoted with ``shlex`` so a path with spaces stays one argument.

Pure, except ``weights_sources()`` which reads ``data/weights_sources.yaml`` once.
"""

from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sizing import DATA_DIR
from sizing.datafile import read_yaml, validate
from sizing.errors import SizingError
from sizing.placement import Placement

SOURCES_FILE = DATA_DIR / "weights_sources.yaml"

# llama.cpp KV type -> vLLM --kv-cache-dtype (vLLM quantises the cache to fp8 only)
_VLLM_KV = {"f16": "auto", "bf16": "auto", "f32": "auto"}


class WeightsSource(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    gguf_repo: str | None = Field(None, pattern=r"^[\w.-]+/[\w.-]+$")
    ollama: str | None = Field(None, pattern=r"^[\w.-]+(:[\w.-]+)?$")
    source: str = Field(min_length=8)


@cache
def weights_sources(path: Path = SOURCES_FILE) -> dict[str, WeightsSource]:
    raw = read_yaml(path, "weights sources") or {}
    return {
        key: validate(WeightsSource, entry, f"{path}: model {key!r},")
        for key, entry in (raw.get("models") or {}).items()
    }


class Weights(BaseModel):
    """Where to download the weights for this quant."""

    model_config = ConfigDict(frozen=True)

    hf_repo: str | None = None
    hf_spec: str | None = Field(None, description="REPO:QUANT, as llama-server -hf takes it")
    hf_url: str | None = None
    ollama_tag: str | None = Field(None, description="Ollama library tag (library default quant)")
    ollama_hf: str | None = Field(None, description="hf.co/REPO:QUANT: this exact quant through Ollama")
    note: str | None = None


class LaunchCommands(BaseModel):
    """Commands for one plan; ``*_argv`` are the unquoted argument vectors."""

    model_config = ConfigDict(frozen=True)

    llama_server_argv: tuple[str, ...]
    llama_server: str
    ollama_modelfile: str | None = None
    ollama: str | None = None
    ollama_options: dict[str, int] = {}
    vllm_argv: tuple[str, ...] | None = None
    vllm: str | None = None
    weights: Weights
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "llama_server": self.llama_server,
            "ollama": self.ollama,
            "ollama_modelfile": self.ollama_modelfile,
            "ollama_options": self.ollama_options,
            "vllm": self.vllm,
            "weights": self.weights.model_dump(),
            "notes": list(self.notes),
        }


def weights_for(model_id: str, quant: str, sources: dict[str, WeightsSource] | None = None) -> Weights:
    src = (sources if sources is not None else weights_sources()).get(model_id)
    if src is None or not src.gguf_repo:
        return Weights(
            ollama_tag=src.ollama if src else None,
            note=(
                f"no known GGUF repository for {model_id}; search "
                f"https://huggingface.co/models?search={model_id.split('/')[-1]}%20gguf for a {quant} file"
            ),
        )
    return Weights(
        hf_repo=src.gguf_repo,
        hf_spec=f"{src.gguf_repo}:{quant}",
        hf_url=f"https://huggingface.co/{src.gguf_repo}",
        ollama_tag=src.ollama,
        ollama_hf=f"hf.co/{src.gguf_repo}:{quant}",
    )


def _fmt_split(split: tuple[float, ...]) -> str:
    """Tensor split as small whole numbers when possible (e.g. 24,24 -> 1,1)."""
    if not split:
        return ""
    lo = min(s for s in split if s > 0)
    ratios = [s / lo for s in split]
    if all(abs(r - round(r)) < 0.05 for r in ratios):
        return ",".join(str(int(round(r))) for r in ratios)
    return ",".join(f"{s / sum(split):.3f}" for s in split)


def llama_server_argv(
    placement: Placement,
    *,
    model_path: str | None = None,
    hf_spec: str | None = None,
    ctx: int,
    n_parallel: int = 1,
    kv_type_k: str = "f16",
    kv_type_v: str = "f16",
    flash_attn: bool = True,
    host: str | None = None,
    port: int | None = None,
    mmproj_path: str | None = None,
) -> list[str]:
    """``llama-server`` arguments reproducing the placement.

    ``-c`` is the whole KV cache, shared by the ``-np`` slots, so it is ctx × n_parallel.
    """
    if bool(model_path) == bool(hf_spec):
        raise SizingError("give exactly one of a model path (-m) or a Hugging Face REPO:QUANT (-hf)")
    argv = ["llama-server"]
    argv += ["-m", model_path] if model_path else ["-hf", hf_spec]  # type: ignore[list-item]
    argv += ["-c", str(ctx * n_parallel)]
    if n_parallel > 1:
        argv += ["-np", str(n_parallel)]
    gpus = [d for d in placement.devices if d.kind != "cpu"]
    argv += ["-ngl", str(placement.gpu_layers if gpus else 0)]
    if len(gpus) > 1 and placement.split_mode == "layer":
        argv += ["-ts", _fmt_split(placement.tensor_split)]
    if placement.cpu_moe:
        argv += ["-ot", "exps=CPU"]
    elif placement.n_cpu_moe:
        argv += ["--n-cpu-moe", str(placement.n_cpu_moe)]
    if kv_type_k != "f16":
        argv += ["-ctk", kv_type_k]
    if kv_type_v != "f16":
        argv += ["-ctv", kv_type_v]
    argv += ["-fa", "on" if flash_attn else "off"]
    if mmproj_path:
        argv += ["--mmproj", mmproj_path]
    if host:
        argv += ["--host", host]
    if port:
        argv += ["--port", str(port)]
    return argv


def ollama_modelfile(source: str, *, ctx: int, num_gpu: int, n_parallel: int = 1) -> str:
    """A Modelfile pinning context and offloaded layers (Ollama's num_ctx / num_gpu)."""
    lines = [f"FROM {source}", f"PARAMETER num_ctx {ctx}", f"PARAMETER num_gpu {num_gpu}"]
    return "\n".join(lines) + "\n"


def vllm_argv(
    model_id: str,
    *,
    ctx: int,
    tensor_parallel: int,
    pipeline_parallel: int = 1,
    gpu_memory_utilization: float = 0.9,
    kv_type: str = "f16",
) -> list[str]:
    """``vllm serve`` for Hugging Face weights split over TP × PP GPUs."""
    if tensor_parallel < 1 or pipeline_parallel < 1:
        raise SizingError("tensor and pipeline parallel sizes must be ≥ 1")
    if not 0 < gpu_memory_utilization <= 1:
        raise SizingError("gpu memory utilization must be in (0, 1]")
    kv = _VLLM_KV.get(kv_type.lower(), "fp8")
    return [
        "vllm",
        "serve",
        model_id,
        "--tensor-parallel-size",
        str(tensor_parallel),
        "--pipeline-parallel-size",
        str(pipeline_parallel),
        "--max-model-len",
        str(ctx),
        "--gpu-memory-utilization",
        f"{gpu_memory_utilization:.2f}",
        "--kv-cache-dtype",
        kv,
    ]


def launch_commands(
    model_id: str,
    quant: str,
    placement: Placement,
    *,
    ctx: int,
    model_path: str | None = None,
    n_parallel: int = 1,
    kv_type_k: str = "f16",
    kv_type_v: str = "f16",
    flash_attn: bool = True,
    nodes: int = 1,
    sources: dict[str, WeightsSource] | None = None,
    mmproj_path: str | None = None,
) -> LaunchCommands:
    """All commands for a plan. vLLM is included when the plan spans several GPUs or nodes."""
    w = weights_for(model_id, quant, sources)
    if model_path is None and w.hf_spec is None:
        model_path = f"./{model_id.split('/')[-1]}-{quant}.gguf"
    argv = llama_server_argv(
        placement,
        model_path=model_path,
        hf_spec=None if model_path else w.hf_spec,
        ctx=ctx,
        n_parallel=n_parallel,
        kv_type_k=kv_type_k,
        kv_type_v=kv_type_v,
        flash_attn=flash_attn,
        mmproj_path=mmproj_path,
    )
    gpus = [d for d in placement.devices if d.kind != "cpu"]
    num_gpu = placement.gpu_layers if gpus else 0
    src = w.ollama_hf or (model_path if model_path else None)
    modelfile = ollama_modelfile(src, ctx=ctx, num_gpu=num_gpu) if src else None
    name = shlex.quote(f"{model_id.split('/')[-1].lower()}-{quant.lower()}-{ctx}")
    ollama = f"ollama create {name} -f Modelfile && ollama run {name}" if modelfile else None
    v_argv = None
    if len(gpus) > 1 or nodes > 1 or placement.split_mode == "tensor":
        per_node = max(1, len(gpus))
        v_argv = vllm_argv(
            model_id,
            ctx=ctx,
            tensor_parallel=per_node,
            pipeline_parallel=max(1, nodes),
            kv_type=kv_type_k,
        )
    notes: list[str] = []
    if v_argv and quant.upper() not in ("F16", "BF16"):
        notes.append(
            f"vllm serves the Hugging Face weights ({model_id}, BF16 unless you point it at an "
            f"AWQ/GPTQ/FP8 repository), not the {quant} GGUF: size that plan with --quant F16"
        )
    return LaunchCommands(
        notes=tuple(notes),
        llama_server_argv=tuple(argv),
        llama_server=shlex.join(argv),
        ollama_modelfile=modelfile,
        ollama=ollama,
        ollama_options={"num_ctx": ctx, "num_gpu": num_gpu},
        vllm_argv=tuple(v_argv) if v_argv else None,
        vllm=shlex.join(v_argv) if v_argv else None,
        weights=w,
    )

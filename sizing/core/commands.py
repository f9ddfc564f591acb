"""Runnable commands for a placement: llama-server, Ollama and vLLM, plus where the weights are.

A plan is only useful if it can be typed in, and only honest if the command allocates
what we estimated. So every setting that changes memory is spelled out rather than left
to a default that differs from the estimate's: llama-server's slots (``-np``: without it
the server opens 4 slots over a unified cache, which multiplies a sliding-window cache),
the total context, ``--kv-unified``, both cache types, flash attention, expert offload,
the tensor split and how the weights are held (``--load-mode none|mlock|mmap+mlock``,
which older builds spell ``--no-mmap`` / ``--mlock``, and ``--no-repack``). Ollama gets its server environment (flash attention, KV type, parallel
slots) and a Modelfile; vLLM a tensor-parallel size its head counts allow and the memory
share our fit assumed. Every string is quoted with ``shlex``.

Pure, except ``weights_sources()`` which reads ``data/weights_sources.yaml`` once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
import shlex
from functools import cache
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from sizing.core.tables import data_file, read_yaml_mapping, validate
from sizing.errors import SizingError
from sizing.core.machine import FIT_MARGIN_BYTES
from sizing.core.placement import Placement
from sizing.core.quant import REQUANT_SUFFIX, split_quant

if TYPE_CHECKING:
    from sizing.core.tables import DataPath

SOURCES_FILE = data_file("weights_sources.yaml")


class WeightsSource(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    gguf_repo: str | None = Field(None, pattern=r"^[\w.-]+/[\w.-]+$")
    ollama: str | None = Field(None, pattern=r"^[\w.-]+(:[\w.-]+)?$")
    ollama_quant: str = Field("Q4_K_M", description="the quant the library tag serves")
    source: str = Field(min_length=8)


@cache
def weights_sources(path: DataPath = SOURCES_FILE) -> dict[str, WeightsSource]:
    raw = read_yaml_mapping(path, "weights sources")
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
    ollama_quant: str = Field("Q4_K_M", description="the quant the library tag serves")
    ollama_hf: str | None = Field(None, description="hf.co/REPO:QUANT: this exact quant through Ollama")
    note: str | None = None


class LaunchCommands(BaseModel):
    """Commands for one plan; ``*_argv`` are the unquoted argument vectors."""

    model_config = ConfigDict(frozen=True)

    llama_server_argv: tuple[str, ...]
    llama_server: str
    ollama_modelfile: str | None = None
    ollama: str | None = None
    ollama_serve: str | None = Field(None, description="the Ollama server with the environment the plan needs")
    ollama_env: dict[str, str] = {}
    ollama_options: dict[str, int] = {}
    vllm_argv: tuple[str, ...] | None = None
    vllm: str | None = None
    weights: Weights
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return {
            "llama_server": self.llama_server,
            "ollama_serve": self.ollama_serve,
            "ollama": self.ollama,
            "ollama_modelfile": self.ollama_modelfile,
            "ollama_env": self.ollama_env,
            "ollama_options": self.ollama_options,
            "vllm": self.vllm,
            "weights": self.weights.model_dump(),
            "notes": list(self.notes),
        }


def weights_for(model_id: str, quant: str, sources: dict[str, WeightsSource] | None = None) -> Weights:
    quant, requant = split_quant(quant)
    src = (sources if sources is not None else weights_sources()).get(model_id)
    if requant:  # the common repositories keep the native tensors: no known file
        return Weights(
            ollama_tag=None,
            note=(
                f"{quant}{REQUANT_SUFFIX}: the common {model_id.split('/')[-1]} GGUFs keep the natively "
                f"quantized experts; make this file with llama-quantize --allow-requantize or find a "
                f"publisher that requantizes them"
            ),
        )
    if src is None or not src.gguf_repo:
        return Weights(
            ollama_tag=src.ollama if src else None,
            ollama_quant=src.ollama_quant if src else "Q4_K_M",
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
        ollama_quant=src.ollama_quant,
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
    kv_unified: bool = True,
    n_batch: int = 2048,
    n_ubatch: int = 512,
    mmap: bool = True,
    repack: bool = True,
    mlock: bool = False,
    total_ctx: int | None = None,
    host: str | None = None,
    port: int | None = None,
    mmproj_path: str | None = None,
) -> list[str]:
    """``llama-server`` arguments that allocate what the plan estimated.

    ``ctx`` is per sequence; ``-c`` is the whole KV cache, ctx × n_parallel (or
    ``total_ctx``, the estimate's own, when it does not divide by the slots). ``-np`` is
    always given: llama-server's default (auto) opens 4 slots with a unified cache.
    ``--kv-unified`` is given when several slots share one cache, as estimated (with an
    explicit ``-np`` llama-server gives each slot its own stream otherwise).
    """
    if bool(model_path) == bool(hf_spec):
        raise SizingError("give exactly one of a model path (-m) or a Hugging Face REPO:QUANT (-hf)")
    argv = ["llama-server"]
    argv += ["-m", model_path] if model_path else ["-hf", hf_spec]  # type: ignore[list-item]
    argv += ["-c", str(total_ctx or ctx * n_parallel), "-np", str(n_parallel)]
    if kv_unified and n_parallel > 1:
        argv += ["--kv-unified"]
    gpus = [d for d in placement.devices if d.kind != "cpu"]
    argv += ["-ngl", str(placement.gpu_layers if gpus else 0)]
    if len(gpus) > 1 and placement.split_mode == "layer":
        argv += ["-ts", _fmt_split(placement.tensor_split)]
    if placement.cpu_moe:
        argv += ["-ot", "exps=CPU"]
    elif placement.n_cpu_moe:
        argv += ["--n-cpu-moe", str(placement.n_cpu_moe)]
    argv += ["-ctk", kv_type_k, "-ctv", kv_type_v]
    argv += ["-fa", "on" if flash_attn else "off"]
    if n_batch != 2048:
        argv += ["-b", str(n_batch)]
    if n_ubatch != 512:
        argv += ["-ub", str(n_ubatch)]
    if not (mmap and not mlock):
        # llama.cpp's --load-mode (llama_load_mode_from_str); builds before it spelled
        # these --no-mmap and --mlock
        argv += [
            "--load-mode",
            {(False, False): "none", (False, True): "mlock", (True, True): "mmap+mlock"}[(mmap, mlock)],
        ]
    if not repack:
        argv += ["--no-repack"]
    if mmproj_path:  # the multimodal projector llama-server loads next to the model
        argv += ["--mmproj", mmproj_path]
    if host:
        argv += ["--host", host]
    if port:
        argv += ["--port", str(port)]
    return argv


# what OLLAMA_KV_CACHE_TYPE accepts (ollama docs/faq.md, "How can I set the quantization type
# for the K/V cache?"): one type for K and V, and only with flash attention
OLLAMA_KV_TYPES = ("f16", "q8_0", "q4_0")


def ollama_modelfile(source: str, *, ctx: int, num_gpu: int | None, n_parallel: int = 1) -> str:
    """A Modelfile pinning the context per request (num_ctx) and, when whole layers say it
    all, the offloaded layers (num_gpu). ``num_gpu=None``: Ollama places layers itself."""
    lines = [f"FROM {source}", f"PARAMETER num_ctx {ctx}"]
    if num_gpu is not None:
        lines.append(f"PARAMETER num_gpu {num_gpu}")
    return "\n".join(lines) + "\n"


def ollama_env(
    *, n_parallel: int, kv_type_k: str, kv_type_v: str, flash_attn: bool
) -> tuple[dict[str, str], list[str]]:
    """The Ollama server environment that matches the plan, and what it cannot express."""
    env: dict[str, str] = {}
    notes: list[str] = []
    if flash_attn:
        env["OLLAMA_FLASH_ATTENTION"] = "1"
    if kv_type_k != "f16" or kv_type_v != "f16":
        if kv_type_k != kv_type_v:
            notes.append(f"Ollama has one KV type for K and V; {kv_type_k}/{kv_type_v} cannot be expressed")
        kv = kv_type_k if kv_type_k == kv_type_v else max(kv_type_k, kv_type_v, key=lambda t: t == "f16")
        if kv in OLLAMA_KV_TYPES:
            env["OLLAMA_KV_CACHE_TYPE"] = kv
            if not flash_attn:
                notes.append("Ollama quantizes the KV cache only with flash attention on")
        else:
            notes.append(f"Ollama's KV cache types are {', '.join(OLLAMA_KV_TYPES)}; {kv} cannot be expressed")
    if n_parallel > 1:
        env["OLLAMA_NUM_PARALLEL"] = str(n_parallel)  # Ollama allocates num_ctx × this
    return env, notes


def vllm_parallel(n_gpus: int, n_heads: int | None, n_kv_heads: int | None) -> tuple[int, int]:
    """(tensor, pipeline) parallel sizes vLLM accepts on ``n_gpus`` cards of one node.

    vLLM splits attention heads across tensor-parallel ranks: the size must divide the
    query heads, and divide the KV heads or be a multiple of them (KV heads replicate).
    The largest such size wins; the rest of the cards become pipeline stages when they
    divide evenly, else they stay unused."""
    if n_heads is None or n_kv_heads is None:
        return n_gpus, 1
    for tp in range(n_gpus, 0, -1):
        if n_heads % tp == 0 and (n_kv_heads % tp == 0 or tp % n_kv_heads == 0) and n_gpus % tp == 0:
            return tp, n_gpus // tp
    return 1, n_gpus


def _vllm_kv(kv_type: str) -> tuple[str, str | None]:
    """vLLM's --kv-cache-dtype for a llama.cpp KV type, and a note when it is not the same size."""
    k = kv_type.lower()
    if k in ("f16", "bf16", "f32"):
        return "auto", None
    if k == "q8_0":
        return "fp8", None
    return (
        "fp8",
        f"vLLM has no {k} KV cache; fp8 is its smallest, about {8 / (4.5 if k.startswith('q4') or k == 'iq4_nl' else 5.5):.1f}× the bytes of {k}",
    )


# NVIDIA architectures before Ampere (compute capability < 8.0) have no BF16: vLLM stops
# with "Bfloat16 is only supported on GPUs with compute capability of at least 8.0 ...
# use --dtype=half" (https://github.com/vllm-project/vllm/issues/946, 2023-09-05;
# https://github.com/vllm-project/vllm/issues/1157 on a T4)
NO_BF16_FAMILIES = frozenset({"kepler", "maxwell", "pascal", "volta", "turing"})


def computes_bf16(families: Iterable[str | None]) -> bool:
    """Can every one of these GPU architectures run BF16 weights in vLLM?"""
    return not any(f in NO_BF16_FAMILIES for f in families)


def vllm_argv(
    model_id: str,
    *,
    ctx: int,
    tensor_parallel: int,
    pipeline_parallel: int = 1,
    gpu_memory_utilization: float = 0.9,
    kv_type: str = "f16",
    bf16: bool = True,
) -> list[str]:
    """``vllm serve`` for Hugging Face weights split over TP × PP GPUs; ``bf16=False`` (cards
    before Ampere) asks for FP16, as vLLM refuses BF16 weights there."""
    if tensor_parallel < 1 or pipeline_parallel < 1:
        raise SizingError("tensor and pipeline parallel sizes must be ≥ 1")
    if not 0 < gpu_memory_utilization <= 1:
        raise SizingError("gpu memory utilization must be in (0, 1]")
    kv, _ = _vllm_kv(kv_type)
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
        *([] if bf16 else ["--dtype", "half"]),
    ]


def _ollama_name(model_id: str, quant: str, ctx: int) -> str:
    raw = f"{model_id.split('/')[-1].lower()}-{quant.lower().replace(REQUANT_SUFFIX, '-requant')}-{ctx}"
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in raw)


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
    kv_unified: bool = True,
    n_batch: int = 2048,
    n_ubatch: int = 512,
    mmap: bool = True,
    repack: bool = True,
    mlock: bool = False,
    total_ctx: int | None = None,
    nodes: int = 1,
    n_heads: int | None = None,
    n_kv_heads: int | None = None,
    sources: dict[str, WeightsSource] | None = None,
    mmproj_path: str | None = None,
    bf16: bool = True,
) -> LaunchCommands:
    """All commands for a plan (``ctx`` per sequence). vLLM is included when the plan
    spans several GPUs or nodes; ``n_heads``/``n_kv_heads`` choose its parallel sizes;
    ``bf16``: whether the cards compute in BF16 (see ``computes_bf16``)."""
    w = weights_for(model_id, quant, sources)
    if model_path is None and w.hf_spec is None:
        model_path = f"./{model_id.split('/')[-1]}-{quant.replace(REQUANT_SUFFIX, '-requant')}.gguf"
    argv = llama_server_argv(
        placement,
        model_path=model_path,
        hf_spec=None if model_path else w.hf_spec,
        ctx=ctx,
        n_parallel=n_parallel,
        kv_type_k=kv_type_k,
        kv_type_v=kv_type_v,
        flash_attn=flash_attn,
        kv_unified=kv_unified,
        n_batch=n_batch,
        n_ubatch=n_ubatch,
        mmap=mmap,
        repack=repack,
        mlock=mlock,
        total_ctx=total_ctx,
        mmproj_path=mmproj_path,
    )
    notes: list[str] = []
    gpus = [d for d in placement.devices if d.kind != "cpu"]
    # Ollama offloads whole layers (num_gpu); it has no per-layer expert override, so a plan
    # with experts in RAM cannot be pinned: leave num_gpu to Ollama's own placement
    experts_in_ram = placement.cpu_moe or placement.n_cpu_moe > 0
    num_gpu: int | None = (placement.gpu_layers if gpus else 0) if not experts_in_ram else None
    if experts_in_ram:
        notes.append(
            "Ollama cannot keep experts in RAM (no --n-cpu-moe equivalent): it offloads whole "
            "layers itself, so num_gpu is left unset; expect it slower than llama-server here"
        )
    src = w.ollama_hf or (model_path if model_path else None)
    base, _ = split_quant(quant)
    if w.ollama_tag and base == w.ollama_quant.upper():
        src = w.ollama_tag  # the library tag serves this very quant
    if src and not src.isprintable():
        # A Modelfile is line-based: a line break in a file name would add instructions.
        notes.append(
            "the model file's name holds a line break or control character: "
            "no Ollama Modelfile is written for it (rename the file)"
        )
        src = None
    modelfile = ollama_modelfile(src, ctx=ctx, num_gpu=num_gpu) if src else None
    env, env_notes = ollama_env(n_parallel=n_parallel, kv_type_k=kv_type_k, kv_type_v=kv_type_v, flash_attn=flash_attn)
    notes += env_notes
    name = _ollama_name(model_id, quant, ctx)
    ollama = f"ollama create {name} -f Modelfile && ollama run {name}" if modelfile else None
    serve = " ".join([*(f"{k}={shlex.quote(v)}" for k, v in env.items()), "ollama", "serve"])
    v_argv = None
    if len(gpus) > 1 or nodes > 1 or placement.split_mode == "tensor":
        per_node = max(1, len(gpus))
        tp, pp_node = vllm_parallel(per_node, n_heads, n_kv_heads)
        if tp != per_node:
            notes.append(
                f"vLLM: tensor parallel {tp} (it must divide the {n_heads} attention and "
                f"{n_kv_heads} KV heads), {pp_node} pipeline stage(s) per node"
            )
        # our fit keeps llama.cpp's margin free on each card; ask vLLM for the same share
        caps = [d.capacity_bytes for d in gpus] or [0]
        util = min(caps) / (min(caps) + FIT_MARGIN_BYTES) if min(caps) > 0 else 0.9
        v_argv = vllm_argv(
            model_id,
            ctx=ctx,
            tensor_parallel=tp,
            pipeline_parallel=pp_node * max(1, nodes),
            gpu_memory_utilization=math.floor(util * 100) / 100,
            kv_type=kv_type_k,
            bf16=bf16,
        )
        if not bf16:
            notes.append(
                "vLLM: these cards have no BF16 (NVIDIA before Ampere, compute capability < 8.0) and vLLM "
                "refuses BF16 weights there: the command asks for --dtype half (FP16, the same bytes; "
                "a model trained in BF16 can overflow in FP16)"
            )
        _, kv_note = _vllm_kv(kv_type_k)
        if kv_note:
            notes.append(kv_note)
        notes.append(
            "vLLM captures CUDA graphs (a few hundred MiB to ~1 GiB per GPU) and profiles "
            "activations at start-up; neither is in this estimate (--enforce-eager skips the graphs)"
        )
        if base not in ("F16", "BF16"):
            notes.append(
                f"vLLM serves the Hugging Face weights ({model_id}, BF16 unless you point it at an "
                f"AWQ/GPTQ/FP8 repository), not the {quant} GGUF: size that plan with --quant F16"
            )
    return LaunchCommands(
        notes=tuple(notes),
        llama_server_argv=tuple(argv),
        llama_server=shlex.join(argv),
        ollama_modelfile=modelfile,
        ollama=ollama,
        ollama_serve=serve,
        ollama_env=env,
        ollama_options={"num_ctx": ctx, **({"num_gpu": num_gpu} if num_gpu is not None else {})},
        vllm_argv=tuple(v_argv) if v_argv else None,
        vllm=shlex.join(v_argv) if v_argv else None,
        weights=w,
    )

"""Measure the peak memory of real training steps, to check the fine-tuning estimate.

An adapter, not core: it builds a randomly initialised model from a ``ModelArch`` with
``transformers`` (``peft`` for LoRA), runs training steps in a *fresh child process* and
reports the peak resident memory above the baseline taken just before the model is
built. A child process is needed because ``ru_maxrss`` is a per-process high-water mark.

The child runs with glibc's mmap threshold pinned at 64 KiB (``MALLOC_MMAP_THRESHOLD_``):
every tensor buffer is then its own mapping, returned to the OS when freed, so resident
memory follows what PyTorch holds instead of what glibc's heap kept from earlier steps.
Two steps run, so the peak is the steady state (the optimizer's states exist from the
first step on, and gradients are freed with ``zero_grad(set_to_none=True)``).

Where CUDA exists the same step runs on the GPU and ``torch.cuda.max_memory_allocated``
is reported as well.

Needs the ``finetune`` extra (torch, transformers, peft).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Literal

from pydantic import BaseModel, ConfigDict

from sizing.errors import SizingError
from sizing.models.arch import ModelArch

# llama.cpp arch name -> the transformers model type that lays it out the same way.
HF_MODEL_TYPES = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "mistral": "mistral"}


class ProbeSpec(BaseModel):
    """One measured training configuration (the inputs of a ``FinetuneScenario`` we can run)."""

    model_config = ConfigDict(frozen=True)

    arch: ModelArch
    method: Literal["full", "lora"] = "full"
    precision: Literal["fp32", "mixed_bf16"] = "fp32"
    rank: int = 8
    target_modules: tuple[str, ...] = ("q", "k", "v", "o")
    seq_len: int = 256
    micro_batch: int = 1
    optimizer: Literal["adamw", "sgd"] = "adamw"
    grad_checkpointing: bool = False
    flash_attn: bool = True
    steps: int = 2
    threads: int = 1
    device: Literal["cpu", "cuda"] = "cpu"


class ProbeResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    peak_bytes: int  # CPU: peak RSS above baseline; CUDA: max_memory_allocated
    baseline_bytes: int
    params: int
    trainable_params: int
    seconds: float
    device: str


def hf_config(arch: ModelArch) -> dict:
    """A transformers config dict with the same shapes as ``arch`` (dense archs only)."""
    model_type = HF_MODEL_TYPES.get(arch.arch)
    if model_type is None or arch.is_moe or arch.is_mla:
        raise SizingError(
            f"cannot build a training probe for arch {arch.arch!r}: "
            f"supported are {', '.join(sorted(HF_MODEL_TYPES))} (dense)"
        )
    cfg = {
        "model_type": model_type,
        "hidden_size": arch.hidden_size,
        "intermediate_size": arch.ffn_size,
        "num_hidden_layers": arch.n_layers,
        "num_attention_heads": arch.n_heads,
        "num_key_value_heads": arch.n_kv_heads,
        "head_dim": arch.head_dim_k,
        "vocab_size": arch.vocab_size,
        "max_position_embeddings": arch.max_context,
        "tie_word_embeddings": arch.tied_embeddings,
        "hidden_act": "silu",
        "attention_dropout": 0.0,
        "use_cache": False,
    }
    if model_type == "llama":
        cfg["attention_bias"] = arch.attn_qkv_bias
    return cfg


_LORA_NAMES = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj",
               "gate": "gate_proj", "up": "up_proj", "down": "down_proj"}


def _child(spec: ProbeSpec) -> dict:
    """Runs inside the child process: build, train ``spec.steps`` steps, report peaks."""
    import resource

    import torch
    import transformers

    torch.set_num_threads(spec.threads)
    torch.manual_seed(0)
    dev = torch.device(spec.device)
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    # Warm up on a tiny model of the same kind, so the lazily imported modules, kernels
    # and thread pools are resident before the baseline is taken.
    tiny = spec.arch.model_copy(
        update={"n_layers": 1, "hidden_size": 64, "n_heads": 2, "n_kv_heads": 1,
                "head_dim_k": 32, "head_dim_v": 32, "ffn_size": 64, "vocab_size": 256}
    )
    _train(spec.model_copy(update={"arch": tiny, "seq_len": 16}), torch.device(spec.device),
           transformers)
    import gc

    gc.collect()
    baseline = rss()
    model, params, trainable, seconds = _train(spec, dev, transformers)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated()
        baseline = 0
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - baseline
    return {
        "peak_bytes": int(peak),
        "baseline_bytes": int(baseline),
        "params": int(params),
        "trainable_params": int(trainable),
        "seconds": seconds,
        "device": spec.device,
    }


def _train(spec: ProbeSpec, dev, transformers):
    """Build the model of ``spec`` and run its training steps; returns (model, counts, s)."""
    import time

    import torch

    cfg_dict = hf_config(spec.arch)
    model_type = cfg_dict.pop("model_type")
    config = transformers.AutoConfig.for_model(model_type, **cfg_dict)
    config._attn_implementation = "sdpa" if spec.flash_attn else "eager"
    tokens = torch.randint(0, spec.arch.vocab_size, (spec.micro_batch, spec.seq_len))
    base_dtype = torch.bfloat16 if spec.method == "lora" else torch.float32
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=base_dtype)
    if spec.method == "lora":
        import peft

        lcfg = peft.LoraConfig(
            r=spec.rank,
            lora_alpha=2 * spec.rank,
            lora_dropout=0.0,
            target_modules=[_LORA_NAMES[t] for t in spec.target_modules],
        )
        model = peft.get_peft_model(model, lcfg)
    model.to(dev)
    model.train()
    if spec.grad_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if spec.method == "lora":
            model.enable_input_require_grads()
    params = sum(p.numel() for p in model.parameters())
    trainable = [p for p in model.parameters() if p.requires_grad]
    if spec.optimizer == "adamw":
        opt = torch.optim.AdamW(trainable, lr=1e-4)
    else:
        opt = torch.optim.SGD(trainable, lr=1e-4, momentum=0.9)
    tokens = tokens.to(dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(spec.steps):
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=spec.precision == "mixed_bf16"):
            loss = model(input_ids=tokens, labels=tokens).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - t0
    return model, params, sum(p.numel() for p in trainable), seconds


def measure_step(spec: ProbeSpec, timeout_s: float = 300) -> ProbeResult:
    """Run ``spec`` in a fresh Python process and return its measured peak."""
    env = dict(os.environ)
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    env["OMP_NUM_THREADS"] = str(spec.threads)
    proc = subprocess.run(
        [sys.executable, "-m", "sizing.finetune_probe"],
        input=spec.model_dump_json(),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout_s,
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        raise RuntimeError("training probe failed: " + " | ".join(tail))
    return ProbeResult.model_validate_json(proc.stdout.strip().splitlines()[-1])


if __name__ == "__main__":  # child entry point: spec JSON on stdin, result JSON on stdout
    print(json.dumps(_child(ProbeSpec.model_validate_json(sys.stdin.read()))))

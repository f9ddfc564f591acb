"""Measure the peak memory of real training steps, to check the fine-tuning estimate.

An adapter, not core: it builds a randomly initialised model from a ``ModelArch`` with
``transformers`` (``peft`` for LoRA) and runs training steps. One fresh Python imports
and warms up once, then forks a process per configuration, because ``ru_maxrss`` is a
per-process high-water mark: each fork resets it (``/proc/self/clear_refs``) and reports
its peak resident memory (``VmHWM``) above its resident size at the start. The same
steps then run again under PyTorch's profiler for the peak of the allocator itself
(what the estimate sizes: tensors only).

The child runs with glibc's mmap threshold pinned at 64 KiB (``MALLOC_MMAP_THRESHOLD_``):
every tensor buffer is then its own mapping, returned to the OS when freed, so resident
memory follows what PyTorch holds instead of what glibc's heap kept from earlier steps.
Two steps run, so the peak is the steady state (the optimizer's states exist from the
first step on, and gradients are freed with ``zero_grad(set_to_none=True)``).

With ``device="cuda"`` the steps run on the GPU, one spec after another in the same
process (CUDA does not survive a fork), and ``torch.cuda.max_memory_allocated`` (reset
per spec) is the peak.

Needs the ``finetune`` extra (torch, transformers, peft).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Literal
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from sizing.errors import SizingError
from sizing.core.arch import ModelArch

ROOT = Path(__file__).resolve().parents[1]  # the checkout: harness/ is not installed

# llama.cpp arch name -> the transformers model type that lays it out the same way.
HF_MODEL_TYPES = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3", "mistral": "mistral"}


class ProbeSpec(BaseModel):
    """One measured training configuration (the inputs of a ``FinetuneScenario`` we can run)."""

    model_config = ConfigDict(frozen=True)

    arch: ModelArch
    method: Literal["full", "lora"] = "full"
    precision: Literal["fp32", "mixed_bf16"] = "fp32"
    rank: int = 8
    adapter_dtype: Literal["fp32", "bf16"] = "fp32"  # peft's default upcasts adapters to fp32
    target_modules: tuple[str, ...] = ("q", "k", "v", "o")
    seq_len: int = 256
    micro_batch: int = 1
    optimizer: Literal["adamw", "sgd"] = "adamw"
    grad_checkpointing: bool = False
    flash_attn: bool = True
    steps: int = 2
    threads: int = 1
    profile: bool = True  # also measure the allocator's peak with the profiler (CPU only)
    device: Literal["cpu", "cuda"] = "cpu"


class ProbeResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    # CPU: peak RSS above baseline (None where the high-water mark cannot be reset);
    # CUDA: max_memory_allocated
    peak_bytes: int | None
    allocated_peak_bytes: int | None = None  # CPU: peak of PyTorch's allocator (profiler)
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


_LORA_NAMES = {
    "q": "q_proj",
    "k": "k_proj",
    "v": "v_proj",
    "o": "o_proj",
    "gate": "gate_proj",
    "up": "up_proj",
    "down": "down_proj",
}


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_hwm() -> bool:
    """Reset the peak resident size to the current one (Linux >= 4.0, proc(5) clear_refs
    "5"); False where the kernel or a sandbox does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _hwm() -> int:
    """Peak resident bytes since the last reset (``VmHWM``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _warm_up(specs: list[ProbeSpec], transformers) -> None:
    """Train a tiny model of each kind once, so lazily imported modules, kernels and
    thread pools are resident before any baseline is taken."""
    import torch

    seen = set()
    for spec in specs:
        key = (spec.arch.arch, spec.method, spec.precision, spec.flash_attn, spec.grad_checkpointing, spec.device)
        if key in seen:
            continue
        seen.add(key)
        tiny = spec.arch.model_copy(
            update={
                "n_layers": 1,
                "hidden_size": 64,
                "n_heads": 2,
                "n_kv_heads": 1,
                "head_dim_k": 32,
                "head_dim_v": 32,
                "ffn_size": 64,
                "vocab_size": 256,
            }
        )
        _train(spec.model_copy(update={"arch": tiny, "seq_len": 16}), torch.device(spec.device), transformers)


def _one(spec: ProbeSpec, transformers) -> dict:
    """Measure ``spec`` in this (freshly forked) process."""
    import gc

    import torch

    torch.manual_seed(0)
    dev = torch.device(spec.device)
    # A fork maps the parent's shared libraries lazily: warm up again here so the code
    # pages this step runs are resident before the baseline, not counted in its peak.
    _warm_up([spec], transformers)
    gc.collect()
    # A forked child inherits its parent's high-water mark; reset it to the current
    # resident size so the peak is this step's own.
    reset = _reset_hwm()
    baseline = _rss()
    model, params, trainable, seconds = _train(spec, dev, transformers)
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated()
        baseline = 0
    else:
        peak = _hwm() - baseline if reset else None
    del model
    gc.collect()
    allocated = _profiled_peak(spec, dev, transformers) if (spec.profile and dev.type == "cpu") else None
    return {
        "peak_bytes": None if peak is None else int(peak),
        "allocated_peak_bytes": allocated,
        "baseline_bytes": int(baseline),
        "params": int(params),
        "trainable_params": int(trainable),
        "seconds": seconds,
        "device": spec.device,
    }


def _child(specs: list[ProbeSpec]) -> list[dict]:
    """Runs inside the fresh child: import and warm up once, then fork one process per
    spec so each has its own resident-memory high-water mark."""
    import torch
    import transformers

    torch.set_num_threads(specs[0].threads)
    _warm_up(specs, transformers)
    out = []
    for spec in specs:
        if spec.device == "cuda":
            # CUDA cannot be used in a forked child; its allocator's peak can be reset
            # instead, so each spec runs here in turn.
            torch.cuda.empty_cache()
            out.append(_one(spec, transformers))
            continue
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # grandchild: measure, report through the pipe, exit without cleanup
            os.close(r)
            code = 0
            try:
                payload = json.dumps(_one(spec, transformers))
            except BaseException as exc:  # reported to the parent, which raises
                payload = json.dumps({"error": f"{type(exc).__name__}: {exc}"})
                code = 1
            with os.fdopen(w, "w") as f:
                f.write(payload)
            os._exit(code)
        os.close(w)
        with os.fdopen(r) as f:
            text = f.read()
        os.waitpid(pid, 0)
        out.append(json.loads(text) if text else {"error": "measuring process died"})
    return out


def _profiled_peak(spec: ProbeSpec, dev, transformers) -> int:
    """Peak bytes held by PyTorch's allocator over the steps, from the profiler's memory
    events (CPU's counterpart of ``torch.cuda.max_memory_allocated``)."""
    import tempfile

    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        _train(spec, dev, transformers)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(path)
        with open(path) as f:
            events = json.load(f)["traceEvents"]
    return max(
        (
            e["args"]["Total Allocated"]
            for e in events
            if e.get("name") == "[memory]" and "Total Allocated" in e.get("args", {})
        ),
        default=0,
    )


def _train(spec: ProbeSpec, dev, transformers, wrap=None):
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
        model = peft.get_peft_model(model, lcfg, autocast_adapter_dtype=spec.adapter_dtype == "fp32")
    model.to(dev)
    model.train()
    if spec.grad_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if spec.method == "lora":
            model.enable_input_require_grads()
    if wrap is not None:
        model = wrap(model)
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


def measure_steps(specs: list[ProbeSpec], timeout_s: float = 600) -> list[ProbeResult]:
    """Measure each spec in its own process forked from one fresh, warmed-up Python."""
    if not specs:
        return []
    env = dict(os.environ)
    env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    env["OMP_NUM_THREADS"] = str(specs[0].threads)
    proc = subprocess.run(
        [sys.executable, "-m", "harness.finetune_probe"],
        input=json.dumps([s.model_dump(mode="json") for s in specs]),
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,  # `-m harness.finetune_probe` runs from the checkout
        timeout=timeout_s,
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        raise RuntimeError("training probe failed: " + " | ".join(tail))
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for spec, r in zip(specs, results):
        if "error" in r:
            raise RuntimeError(f"training probe failed for {spec.arch.id} {spec.method}: {r['error']}")
    return [ProbeResult.model_validate(r) for r in results]


def measure_step(spec: ProbeSpec, timeout_s: float = 300) -> ProbeResult:
    """Run ``spec`` in a fresh Python process and return its measured peak."""
    return measure_steps([spec], timeout_s)[0]


def _sharded_child(spec: ProbeSpec, sharding: str, rank: int, world: int, port: int) -> dict:
    """One rank of a data-parallel run on CPU (gloo): its own peak resident memory."""
    import gc

    import torch
    import torch.distributed as dist
    import transformers

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(spec.threads)

    def wrap(model):
        if sharding == "ddp":
            return torch.nn.parallel.DistributedDataParallel(model)
        from torch.distributed.fsdp import fully_shard

        for module in list(model.modules()):
            if type(module).__name__.endswith("DecoderLayer"):
                fully_shard(module)
        return fully_shard(model)

    try:
        _train(spec.model_copy(update={"steps": 1}), torch.device("cpu"), transformers, wrap)  # warm-up
        gc.collect()
        reset = _reset_hwm()
        baseline = _rss()
        model, params, trainable, seconds = _train(spec, torch.device("cpu"), transformers, wrap)
        peak = _hwm() - baseline if reset else None
    finally:
        dist.destroy_process_group()
    return {
        "peak_bytes": peak,
        "baseline_bytes": int(baseline),
        "params": int(params),
        "trainable_params": int(trainable),
        "seconds": seconds,
        "device": "cpu",
    }


def measure_sharded(
    spec: ProbeSpec, sharding: Literal["ddp", "fsdp"], world: int = 2, timeout_s: float = 600
) -> list[ProbeResult]:
    """Peak resident memory of each rank of a ``world``-process DDP or FSDP2 run on CPU."""
    import socket

    with socket.socket() as sock:  # a free local port for the rendezvous
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", OMP_NUM_THREADS=str(spec.threads))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness.finetune_probe",
                sharding,
                str(rank),
                str(world),
                str(port),
                spec.model_dump_json(),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for rank in range(world)
    ]
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=timeout_s)
            if p.returncode != 0:
                raise RuntimeError("sharded training probe failed: " + " | ".join(err.strip().splitlines()[-5:]))
            outs.append(ProbeResult.model_validate_json(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return outs


if __name__ == "__main__":  # child entry points: results JSON on stdout
    if len(sys.argv) == 6:  # <ddp|fsdp> <rank> <world> <port> <spec JSON>
        _spec = ProbeSpec.model_validate_json(sys.argv[5])
        print(json.dumps(_sharded_child(_spec, sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))
    else:  # spec list JSON on stdin
        _specs = [ProbeSpec.model_validate(d) for d in json.loads(sys.stdin.read())]
        print(json.dumps(_child(_specs)))

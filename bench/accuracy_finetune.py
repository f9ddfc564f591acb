"""Fine-tuning memory estimate against measured peaks of real PyTorch training steps.

For each case (architecture x method x options), builds a randomly initialised model
with transformers (+ peft), runs two AdamW/SGD steps in a forked, warmed-up process
(harness.finetune_probe) and prints the estimate against:

* the CPU allocator's peak (PyTorch profiler memory events) — what the estimate sizes;
* the process's peak resident memory above its baseline (VmHWM), which also holds
  non-tensor memory (oneDNN scratch, autograd nodes);
* two CPU ranks under DDP and FSDP2 (gloo): each rank's peak RSS against the per-GPU
  figure;
* where CUDA exists, ``torch.cuda.max_memory_allocated`` of the same steps on the GPU,
  against the estimate without its overhead part (context and allocator reserve are
  outside what that counter reports).

Then the median and maximum absolute error of each. Target: within 10 %.

    .venv/bin/python bench/accuracy_finetune.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from sizing.core.finetune.memory import estimate_finetune_memory

from sizing.core.finetune.scenario import FinetuneScenario  # noqa: E402
from harness.finetune_probe import ProbeSpec, measure_sharded, measure_steps
from harness.finetune_shapes import QWEN3_SHRUNK, SMOLLM2_SHRUNK
from sizing.core.arch import ModelArch
from sizing.units import MIB


SMOL, QWEN3 = SMOLLM2_SHRUNK, QWEN3_SHRUNK
QWEN2 = ModelArch(  # Qwen2.5-style: q/k/v biases, untied head, wider MLP
    id="bench/qwen2-shrunk",
    name="Qwen2-style",
    arch="qwen2",
    source="bench",
    n_layers=4,
    hidden_size=384,
    n_heads=6,
    n_kv_heads=2,
    head_dim_k=64,
    head_dim_v=64,
    ffn_size=1536,
    vocab_size=32000,
    tied_embeddings=False,
    attn_qkv_bias=True,
    max_context=8192,
)

ALL_TARGETS = ("q", "k", "v", "o", "gate", "up", "down")

CASES: list[tuple[str, ModelArch, dict]] = [
    ("llama full fp32", SMOL, {}),
    ("llama full fp32 seq512", SMOL, {"seq_len": 512}),
    ("llama full fp32 mb2", SMOL, {"micro_batch": 2}),
    ("llama full gradckpt", SMOL, {"grad_checkpointing": True}),
    ("llama full eager", SMOL, {"flash_attn": False, "seq_len": 384}),
    ("llama full amp-bf16", SMOL, {"precision": "mixed_bf16"}),
    ("llama full sgd", SMOL, {"optimizer": "sgd"}),
    ("llama lora r8 qkvo", SMOL, {"method": "lora", "rank": 8}),
    ("llama lora r8 gradckpt", SMOL, {"method": "lora", "rank": 8, "grad_checkpointing": True}),
    ("llama lora r8 bf16 adapters", SMOL, {"method": "lora", "rank": 8, "adapter_dtype": "bf16"}),
    ("llama full amp-bf16 gradckpt", SMOL, {"precision": "mixed_bf16", "grad_checkpointing": True}),
    ("qwen3 full fp32", QWEN3, {}),
    ("qwen3 full amp-bf16", QWEN3, {"precision": "mixed_bf16"}),
    ("qwen3 full eager", QWEN3, {"flash_attn": False}),
    ("qwen3 lora r16 all", QWEN3, {"method": "lora", "rank": 16, "target_modules": ALL_TARGETS}),
    (
        "qwen3 lora r16 all gradckpt s512",
        QWEN3,
        {"method": "lora", "rank": 16, "target_modules": ALL_TARGETS, "grad_checkpointing": True, "seq_len": 512},
    ),
    ("qwen2 full fp32", QWEN2, {}),
    (
        "qwen2 lora r32 all eager",
        QWEN2,
        {"method": "lora", "rank": 32, "target_modules": ALL_TARGETS, "flash_attn": False},
    ),
]
QUICK = {"llama full fp32", "llama lora r8 qkvo", "qwen3 full amp-bf16", "qwen3 lora r16 all gradckpt s512"}


def scenario(spec: ProbeSpec, backend: str) -> FinetuneScenario:
    return FinetuneScenario.build(
        model=spec.arch,
        method=spec.method,
        precision=spec.precision,
        rank=spec.rank,
        target_modules=spec.target_modules,
        seq_len=spec.seq_len,
        micro_batch=spec.micro_batch,
        optimizer=spec.optimizer,
        grad_checkpointing=spec.grad_checkpointing,
        flash_attn=spec.flash_attn,
        backend=backend,
        adapter_dtype=spec.adapter_dtype,
    )


def summary(label: str, errors: list[float]) -> str:
    if not errors:
        return f"{label}: no cases"
    med = statistics.median(abs(e) for e in errors)
    worst = max(errors, key=abs)
    return f"{label}: median |error| {med:.1%}, max |error| {abs(worst):.1%} ({worst:+.1%}), n={len(errors)}"


SHARDED = [
    ("llama full fp32", SMOL, {}),
    ("llama lora r8", SMOL, {"method": "lora"}),
    ("qwen3 full fp32", QWEN3, {}),
    ("qwen3 lora r8", QWEN3, {"method": "lora"}),
]


def sharding_section() -> None:
    """Two CPU ranks (gloo) under DDP and FSDP2: each rank's peak RSS against the per-GPU estimate."""
    print("\nData parallel on CPU, 2 ranks (gloo): per-rank peak RSS against the per-GPU estimate")
    errors = []
    for sharding in ("ddp", "fsdp"):
        for name, arch, kw in SHARDED:
            spec = ProbeSpec(arch=arch, **{"seq_len": 256, **kw})
            ranks = measure_sharded(spec, sharding, world=2)
            peak = max(r.peak_bytes or 0 for r in ranks)
            if not peak:
                print(f"{sharding} {name}: RSS high-water mark cannot be reset here; skipped")
                continue
            est = estimate_finetune_memory(scenario(spec, "cpu").model_copy(update={"n_gpus": 2, "sharding": sharding}))
            e = est.total_bytes / peak - 1
            errors.append(e)
            print(f"{sharding + ' ' + name:<34}{est.total_bytes / MIB:>8.1f}Mi{peak / MIB:>10.1f}Mi{e:>+8.1%}")
    print(summary("vs per-rank peak RSS (DDP, FSDP2)", errors))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="four cases only")
    args = ap.parse_args(argv)
    cases = [c for c in CASES if not args.quick or c[0] in QUICK]
    specs = [ProbeSpec(arch=arch, **{"seq_len": 256, **kw}) for _, arch, kw in cases]

    t0 = time.perf_counter()
    cpu = measure_steps(specs)
    print(
        f"CPU: {len(specs)} cases measured in {time.perf_counter() - t0:.0f} s "
        "(PyTorch on CPU, two steps each, random-init models)\n"
    )
    head = f"{'case':<34}{'estimate':>10}{'alloc peak':>12}{'err':>8}{'RSS peak':>11}{'err':>8}  peak at"
    print(head)
    print("-" * len(head))
    alloc_err, rss_err = [], []
    for (name, _, _), spec, m in zip(cases, specs, cpu):
        est = estimate_finetune_memory(scenario(spec, "cpu"))
        # the allocator sees the tensors; the RSS also holds the framework overhead
        tensors = est.total_bytes - est.overhead_bytes
        ea = tensors / m.allocated_peak_bytes - 1
        er = est.total_bytes / m.peak_bytes - 1 if m.peak_bytes else float("nan")
        alloc_err.append(ea)
        if m.peak_bytes:
            rss_err.append(er)
        print(
            f"{name:<34}{est.total_bytes / MIB:>8.1f}Mi{m.allocated_peak_bytes / MIB:>10.1f}Mi{ea:>+8.1%}"
            f"{(m.peak_bytes or 0) / MIB:>9.1f}Mi{er:>+8.1%}  {est.peak_phase}"
        )
    print()
    print(summary("vs CPU allocator peak (profiler)", alloc_err))
    print(summary("vs CPU peak RSS (VmHWM delta)   ", rss_err))

    if not args.quick:
        sharding_section()

    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        print("\nCUDA: not available on this machine; torch.cuda.max_memory_allocated not checked")
        return 0
    gpu_specs = [s.model_copy(update={"device": "cuda", "profile": False}) for s in specs]
    gpu = measure_steps(gpu_specs)
    print(f"\nCUDA ({torch.cuda.get_device_name(0)}): estimate without overhead vs max_memory_allocated")
    cuda_err = []
    for (name, _, _), spec, m in zip(cases, gpu_specs, gpu):
        est = estimate_finetune_memory(scenario(spec, "cuda"))
        tensors = est.total_bytes - est.overhead_bytes
        e = tensors / m.peak_bytes - 1
        cuda_err.append(e)
        print(f"{name:<34}{tensors / MIB:>8.1f}Mi{m.peak_bytes / MIB:>10.1f}Mi{e:>+8.1%}")
    print(summary("vs torch.cuda.max_memory_allocated", cuda_err))
    return 0


if __name__ == "__main__":
    sys.exit(main())

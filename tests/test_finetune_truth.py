"""Truth for the fine-tuning estimate: real PyTorch training steps on CPU.

Each case builds a randomly initialised model of a real architecture (a SmolLM2-style
Llama and a Qwen3 with q/k norms, shrunk in width and depth so a step takes seconds)
from its config with ``transformers``, adds ``peft`` LoRA adapters where asked, and runs
two AdamW steps (``harness.finetune_probe``: one warmed-up child, a fork per case).
Two measurements:

* the peak of PyTorch's CPU allocator over the steps, from the profiler's memory events
  (the CPU counterpart of ``torch.cuda.max_memory_allocated``): the estimate must be
  within ALLOCATED_TOL — it sizes exactly these tensors;
* the process's peak resident memory above its pre-model baseline: within RSS_TOL
  (this also holds what PyTorch keeps outside tensors: oneDNN scratch, autograd nodes).

The estimate is computed from the same ``ModelArch`` the model is built from; the model's
parameter counts, full and trainable, must match exactly.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from sizing.core.finetune.memory import estimate_finetune_memory  # noqa: E402

from sizing.core.finetune.scenario import FinetuneScenario  # noqa: E402
from harness.finetune_probe import ProbeSpec, hf_config, measure_sharded, measure_steps  # noqa: E402
from harness.finetune_shapes import QWEN3_SHRUNK, SMOLLM2_SHRUNK  # noqa: E402
from sizing.core.arch import ModelArch  # noqa: E402

pytestmark = pytest.mark.finetune

ALLOCATED_TOL = 0.03
RSS_TOL = 0.10

SMOL, QWEN3 = SMOLLM2_SHRUNK, QWEN3_SHRUNK

CASES = [
    pytest.param(SMOL, {}, id="llama-full-fp32"),
    pytest.param(SMOL, {"grad_checkpointing": True}, id="llama-full-gradckpt"),
    pytest.param(SMOL, {"method": "lora", "rank": 8}, id="llama-lora-qkvo"),
    pytest.param(SMOL, {"flash_attn": False, "seq_len": 384}, id="llama-full-eager"),
    pytest.param(SMOL, {"precision": "mixed_bf16", "grad_checkpointing": True}, id="llama-full-amp-gradckpt"),
    pytest.param(QWEN3, {"precision": "mixed_bf16"}, id="qwen3-full-amp-bf16"),
    pytest.param(
        QWEN3,
        {
            "method": "lora",
            "rank": 16,
            "target_modules": ("q", "k", "v", "o", "gate", "up", "down"),
            "adapter_dtype": "bf16",
            "grad_checkpointing": True,
            "seq_len": 512,
        },
        id="qwen3-lora-all-bf16-gradckpt",
    ),
]


def _scenario(spec: ProbeSpec) -> FinetuneScenario:
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
        backend="cpu",
        adapter_dtype=spec.adapter_dtype,
    )


def _spec(arch: ModelArch, kw: dict) -> ProbeSpec:
    return ProbeSpec(arch=arch, **{"seq_len": 256, **kw})


@pytest.fixture(scope="module")
def measured() -> dict[str, object]:
    """All cases measured in one warmed-up child (a fork per case), by case id."""
    specs = [_spec(*c.values) for c in CASES]
    return dict(zip((c.id for c in CASES), measure_steps(specs)))


@pytest.mark.parametrize("arch, kw", CASES)
def test_training_step_peak_matches_estimate(request, measured, arch, kw):
    spec = _spec(arch, kw)
    m = measured[request.node.callspec.id]
    est = estimate_finetune_memory(_scenario(spec))

    assert est.params == m.params - (m.trainable_params if spec.method == "lora" else 0)
    assert est.trainable_params == m.trainable_params

    # The allocator sees the tensors; the framework overhead (PyTorch's host memory
    # outside it) shows only in the RSS, which is compared with the whole estimate.
    tensors = est.total_bytes - est.overhead_bytes
    alloc_err = tensors / m.allocated_peak_bytes - 1
    detail = (
        f"estimate {tensors / 2**20:.1f} MiB of tensors ({est.peak_phase}), allocator peak "
        f"{m.allocated_peak_bytes / 2**20:.1f} MiB ({alloc_err:+.1%})"
    )
    assert abs(alloc_err) <= ALLOCATED_TOL, detail
    assert m.peak_bytes is not None, "this kernel does not let the probe reset its RSS high-water mark"
    rss_err = est.total_bytes / m.peak_bytes - 1
    assert abs(rss_err) <= RSS_TOL, detail + (
        f"; estimate {est.total_bytes / 2**20:.1f} MiB with overhead, RSS peak {m.peak_bytes / 2**20:.1f} MiB ({rss_err:+.1%})"
    )


@pytest.mark.parametrize(
    "arch, sharding",
    [pytest.param(SMOL, "ddp", id="llama-ddp"), pytest.param(QWEN3, "fsdp", id="qwen3-fsdp2")],
)
def test_data_parallel_per_rank_peak_matches_estimate(arch, sharding):
    """Two CPU ranks (gloo). DDP: each rank holds the model, its gradients, DDP's bucket
    copy of them, the optimizer and its activations. FSDP2: shards of weights, gradients
    and optimizer, plus the unsharded root (embeddings, head) and gathered layers."""
    spec = _spec(arch, {})
    ranks = measure_sharded(spec, sharding, world=2)
    est = estimate_finetune_memory(_scenario(spec).model_copy(update={"n_gpus": 2, "sharding": sharding}))
    single = estimate_finetune_memory(_scenario(spec))
    assert (est.total_bytes > single.total_bytes) == (sharding == "ddp")
    for r in ranks:
        assert r.peak_bytes is not None, "this kernel does not let the probe reset its RSS high-water mark"
        err = est.total_bytes / r.peak_bytes - 1
        assert abs(err) <= RSS_TOL, f"rank RSS peak {r.peak_bytes / 2**20:.1f} MiB, estimate {err:+.1%}"


def test_parameter_counts_match_transformers_for_real_configs():
    """Full-size SmolLM2-135M and Qwen3-0.6B from the catalog, built on the meta device."""
    import torch
    import transformers

    from sizing.sources.catalog import load_catalog

    cat = load_catalog()
    for model_id in ("HuggingFaceTB/SmolLM2-135M-Instruct", "Qwen/Qwen3-0.6B"):
        arch = cat.get(model_id)
        cfg = hf_config(arch)
        config = transformers.AutoConfig.for_model(cfg.pop("model_type"), **cfg)
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(config)
        real = sum(p.numel() for p in model.parameters())
        est = estimate_finetune_memory(FinetuneScenario.build(model=arch, method="full", seq_len=512))
        assert est.params == real, model_id

"""Expert-offload speed: our decode model against public --n-cpu-moe results.

With ``--n-cpu-moe N`` a token reads the active experts of N layers from system RAM and
everything else from the GPU; our model times each side at its own bandwidth
(sizing.core.speed). Below, the public runs we could find with the GPU, the flag and the
host named, each cited; where a source leaves the host RAM unstated we say which we
assume. Printed: our expected decode tokens/s and range, the published figure, the ratio.

    .venv/bin/python bench/expert_offload_speed.py
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass

from sizing.core.machine import HostSpec, machine_from_gpu
from sizing.core.placement import PlacementOptions
from sizing.core.solver import solve
from sizing.core.speed.calibration import load_calibration
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog
from sizing.units import GIB


@dataclass(frozen=True)
class Run:
    label: str
    model: str
    quant: str
    gpu: str
    n_cpu_moe: int
    ram_gb: float
    ram_gbs: float
    ram_note: str
    published_tps: float
    source: str
    gpus: int = 1
    threads: int = 16


# llama-bench -ncmoe 99 (every layer's experts in RAM) on 2× RTX 3060 12GB, Ryzen 9 7900
# (12 cores) with 2× 48 GB DDR5 set to 5600 MT/s: dual channel, 89.6 GB/s
REYNARDO = "https://github.com/reynardo-tjhin/localllm-commands/blob/43316ebb36ca4087932a2ecb359ea8aa14aaff01/README.md"
REYNARDO_HOST = "Ryzen 9 7900, 2× 48 GB DDR5 at 5600 MT/s (dual channel, 89.6 GB/s), 12 threads"


# llama-bench -ngl 999 -p 512 -n 128 --n-cpu-moe N on one Arc Pro B70 (SYCL, build b9739, July
# 2026), Core i9-14900K (32 threads) with 64 GB DDR5-6000: dual channel, 96 GB/s
WJG = "https://github.com/Wesley-Jakob-Gilbert/Intel-Arc-GPU-Benchmarks/blob/fae8b61efd9fe2be3ed7360cd77318b2366f0d03/results/b70-solo/llm-inference-SYCL.md"
WJG_HOST = "Core i9-14900K, 64 GB DDR5-6000 (dual channel, 96 GB/s), 32 threads"

RUNS = [
    Run(
        "gpt-oss-120b MXFP4, Arc Pro B70 (SYCL), --n-cpu-moe 22, llama-bench tg128",
        "openai/gpt-oss-120b",
        "MXFP4",
        "Arc Pro B70",
        22,
        64,
        96.0,
        WJG_HOST,
        27.69,
        WJG + " (2026-07-09)",
        threads=32,
    ),
    Run(
        "GLM-4.5-Air Q4_K_M, Arc Pro B70 (SYCL), --n-cpu-moe 31, llama-bench tg128",
        "zai-org/GLM-4.5-Air",
        "Q4_K_M",
        "Arc Pro B70",
        31,
        64,
        96.0,
        WJG_HOST,
        14.36,
        WJG + " (2026-07-09)",
        threads=32,
    ),
    Run(
        "gpt-oss-120b F16 file (MXFP4 experts), RTX 3090, -ncmoe 26, -ub 512, llama-bench tg",
        "openai/gpt-oss-120b",
        "F16",
        "RTX 3090",
        26,
        128,
        89.6,
        "host RAM not stated: assumed dual-channel DDR5-5600 (89.6 GB/s), 128 GB",
        32.29,
        "https://ai-maestro.online/drastically-improve-prompt-processing-speed-for-n-cpu-moe-partially-offloaded-models-8/ (2026-05-12)",
    ),
    Run(
        "gpt-oss-120b, RTX 3090, -ncmoe 27, llama-server generation",
        "openai/gpt-oss-120b",
        "MXFP4",
        "RTX 3090",
        27,
        64,
        204.8,
        "EPYC 7343 with 64 GB DDR4-3200: 8 channels assumed (204.8 GB/s); the source reports paging-level speed",
        1.6,
        "https://www.hardware-corner.net/gpt-oss-offloading-moe-layers/ (2025-11-10)",
    ),
    Run(
        "gpt-oss-120b F16 file (MXFP4 experts), 2× RTX 3060 12GB, -ncmoe 99 (36), -fa 1, llama-bench tg128",
        "openai/gpt-oss-120b",
        "F16",
        "RTX 3060 12GB",
        36,
        96,
        89.6,
        REYNARDO_HOST,
        18.46,
        REYNARDO,
        gpus=2,
        threads=12,
    ),
    Run(
        "Qwen3-Coder-30B-A3B BF16, 2× RTX 3060 12GB, -ncmoe 99 (48), -fa 1, llama-bench tg128",
        "Qwen/Qwen3-Coder-30B-A3B-Instruct",
        "BF16",
        "RTX 3060 12GB",
        48,
        96,
        89.6,
        REYNARDO_HOST,
        13.12,
        REYNARDO,
        gpus=2,
        threads=12,
    ),
    Run(
        "GLM-4.5-Air Q4_K_S, 2× RTX 3060 12GB, -ncmoe 99 (46), -fa 1, llama-bench tg128",
        "zai-org/GLM-4.5-Air",
        "Q4_K_S",
        "RTX 3060 12GB",
        46,
        96,
        89.6,
        REYNARDO_HOST,
        10.83,
        REYNARDO,
        gpus=2,
        threads=12,
    ),
]


def main() -> int:
    cat, db, calib = load_catalog(), load_gpus(), load_calibration()
    print(f"{'run':<86} {'ours tok/s':>18} {'published':>9} {'ratio':>6}")
    ratios: list[float] = []
    inside = 0
    for r in RUNS:
        host = HostSpec(
            name=f"{r.ram_gb:g} GB at {r.ram_gbs:g} GB/s",
            ram_bytes=int(r.ram_gb * GIB),
            bandwidth_gbs=r.ram_gbs,
            threads=r.threads,
        )
        hw = machine_from_gpu(db.match(r.gpu).gpu, r.gpus, host=host)
        p = solve(cat.get(r.model), r.quant, 4096, hw, calib, options=PlacementOptions(n_cpu_moe=r.n_cpu_moe))
        if not p.fits or p.speed is None:
            ours = f"does not fit ({p.placement.how[:40]})"
            ratio = "—"
        else:
            d = p.speed.decode_tokens_per_s
            ours = f"{d.expected:.1f} ({d.low:.1f}–{d.high:.1f})"
            ratio = f"{d.expected / r.published_tps:.2f}"
            ratios.append(d.expected / r.published_tps)
            inside += d.low <= r.published_tps <= d.high
        print(f"{r.label:<86} {ours:>18} {r.published_tps:>9.2f} {ratio:>6}")
        print(f"    host: {r.ram_note}\n    source: {r.source}")
    if ratios:
        print(
            f"\n{len(ratios)} runs: median ours/published {statistics.median(ratios):.2f}; "
            f"published inside our range in {inside} of {len(ratios)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

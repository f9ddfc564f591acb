"""The fit map asks the placement search only where a row's verdict can change, and
still gives every cell the verdict the solver gives that cell on its own (real catalog
models, real database GPUs, the real solver)."""

from __future__ import annotations

import pytest

from sizing.core import fitmap, solver
from sizing.core.machine import Device, Hardware, machine_from_gpu
from sizing.hardware.db import load_gpus
from sizing.sources.catalog import load_catalog
from sizing.units import GIB

MODELS = (
    "Qwen/Qwen3-32B",  # dense
    "Qwen/Qwen3-30B-A3B",  # MoE: expert layers move to RAM first
    "google/gemma-3-12b-it",  # sliding-window layers
    "deepseek-ai/DeepSeek-V2-Lite",  # MLA
    "openai/gpt-oss-20b",  # MXFP4 experts, sliding windows
    "meta-llama/Llama-3.3-70B-Instruct",
    "Qwen/Qwen3-235B-A22B",
    "HuggingFaceTB/SmolLM2-135M-Instruct",
)


def _hardware() -> dict[str, Hardware]:
    db = load_gpus()
    cpu = Device(id="host", name="host", kind="cpu", backend="cpu", memory_bytes=32 * GIB, bandwidth_gbs=60, threads=8)
    return {
        "rtx-3090": machine_from_gpu(db.get("nvidia-rtx-3090")),
        "2x rtx-3060": machine_from_gpu(db.get("nvidia-rtx-3060-12gb"), 2),
        "m4 max 64": machine_from_gpu(db.get("apple-m4-max-40c-64gb")),
        "cpu 32 GiB": Hardware(name="cpu", host=cpu),
    }


def _cell(arch, q, c, hw) -> str:
    p = solver.fit(arch, q, c, hw)
    if not p.fits:
        return "no"
    return "tight" if hw.gpus and not p.all_on_gpu else "fits"


@pytest.fixture(scope="module")
def models():
    cat = load_catalog()
    return {m: cat.get(m) for m in MODELS}


@pytest.mark.parametrize("hw_name", list(_hardware()))
def test_every_cell_has_the_verdict_the_solver_gives_it_alone(models, hw_name):
    hw = _hardware()[hw_name]
    seen = set()
    for arch in models.values():
        fm = fitmap.fit_map(arch, hw)
        assert fm.ctxs == [c for c in fitmap.CTXS if c <= arch.max_context]
        for i, q in enumerate(fm.quants):
            for j, c in enumerate(fm.ctxs):
                assert fm.status[i][j] == _cell(arch, q, c, hw), (arch.name, hw_name, q, c)
                assert fm.totals[i][j] == solver.fit(arch, q, c, hw).memory.total_bytes
                seen.add(fm.status[i][j])
    # the sample reaches more than one verdict on each machine, so the rows have edges to find
    assert len(seen) >= 2, seen


def test_a_row_with_one_verdict_is_placed_at_its_two_ends_only(models, monkeypatch):
    hw = _hardware()["rtx-3090"]
    big = models["Qwen/Qwen3-235B-A22B"]
    calls: list[tuple[str, int]] = []
    real = solver.fit

    def counting(arch, quant, ctx, hardware, **kw):
        calls.append((quant, ctx))
        return real(arch, quant, ctx, hardware, **kw)

    monkeypatch.setattr(solver, "fit", counting)
    fm = fitmap.fit_map(big, hw)
    f16 = fm.status[fm.quants.index("F16")]
    assert set(f16) == {"no"}  # 470 GB of weights: no context fits a 24 GB card and 64 GB of RAM
    assert sorted(c for q, c in calls if q == "F16") == [fm.ctxs[0], fm.ctxs[-1]]
    assert len(calls) < len(fm.quants) * len(fm.ctxs)

"""Downloads: the estimate and plan exports carry the core's numbers, commands and basis."""

from __future__ import annotations

import json

from sizing.estimate import estimate
from sizing.hardware.db import load_gpus
from sizing.ui import fmt, report, services
from sizing.ui.inputs import HardwareChoice, ModelChoice


def _answer() -> dict:
    return services.answer(
        ModelChoice(spec="Qwen/Qwen3-8B", label="Qwen/Qwen3-8B"),
        {"quant": "Q4_K_M", "ctx": 8192, "kv": "f16", "np": 1, "fa": True},
        HardwareChoice("db", ["nvidia-rtx-3090"], 2, 24.0, 1000.0, 64.0),
    )


def test_estimate_json_is_the_core_estimate_plus_the_plan():
    data = json.loads(report.to_json(_answer()))
    core = estimate("Qwen/Qwen3-8B", "Q4_K_M", 8192, backend="cuda")
    assert data["total_bytes"] == core.total_bytes
    assert data["weights_bytes"] == core.weights_bytes
    assert data["fits"] is True and len([d for d in data["devices"] if d["kind"] == "gpu"]) == 2
    assert set(data["decode_tokens_per_s"]) == {"low", "expected", "high"}
    assert "llama-server" in data["commands"]["llama_server"]


def test_estimate_markdown_has_parts_devices_commands_and_basis():
    md = report.estimate_markdown(_answer())
    core = estimate("Qwen/Qwen3-8B", "Q4_K_M", 8192, backend="cuda")
    assert f"| **Total** | {fmt.gb(core.total_bytes)} |" in md
    assert "RTX 3090 #1" in md
    assert "```bash\nllama-server" in md and "-ts 1,1" in md
    assert load_gpus().get("nvidia-rtx-3090").sources.memory in md
    assert "**Weights** (estimated)" in md


def test_table_markdown_escapes_pipes():
    md = report.table_markdown("T", [{"a": "x|y", "b": 1}])
    assert "x\\|y" in md and md.startswith("# T")

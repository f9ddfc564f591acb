"""Downloads: an estimate or a plan as JSON (the CLI's --json fields) or Markdown."""

from __future__ import annotations

import json
from typing import Any

from sizing.ui import fmt


BASIS_LABELS = ("Weights", "KV cache", "Compute buffers", "Overhead")
COMMAND_LABELS = {
    "llama_server": "llama.cpp server",
    "ollama": "Ollama (after writing the Modelfile below)",
    "ollama_modelfile": "Ollama Modelfile",
    "vllm": "vLLM",
}


def basis_rows(data: dict) -> list[dict]:
    """The estimate's basis as rows: which number, measured or estimated, source, method, calibration.

    The memory estimator lists its basis in part order (weights, KV, compute, overhead);
    entries added by the UI's service layer carry their own ``what``.
    """
    b = data.get("basis") or []
    rows = []
    for i, item in enumerate(b if isinstance(b, list) else [b]):
        if not isinstance(item, dict):
            rows.append({"number": str(item), "kind": "", "source": "", "method": "", "calibration": ""})
            continue
        rows.append(
            {
                "number": item.get("what") or (BASIS_LABELS[i] if i < len(BASIS_LABELS) else f"#{i + 1}"),
                "kind": "measured" if item.get("measured") else "estimated",
                "source": item.get("source") or "—",
                "method": item.get("method") or "—",
                "calibration": item.get("calibration") or "—",
            }
        )
    return rows


def shell_commands(data: dict) -> dict[str, str]:
    """The answer's launch commands that are there, by name (notes and empty ones left out)."""
    return {k: v for k, v in (data.get("commands") or {}).items() if isinstance(v, str) and v}


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=False, default=str) + "\n"


def _rng(d: Any, f=fmt.rate) -> str:
    if isinstance(d, dict):
        return f"{f(d.get('expected'))} (range {f(d.get('low'))} – {f(d.get('high'))})"
    return f(d) if d is not None else "—"


def estimate_markdown(data: dict) -> str:
    """A human-readable estimate: the inputs, each part, the verdict, and where it came from."""
    lines = [
        f"# {data.get('model', 'model')} — {data.get('quant', '')}, {fmt.ctx(data.get('ctx'))} context",
        "",
        "| part | size |",
        "|---|---|",
    ]
    for label, key in (
        ("Weights", "weights_bytes"),
        ("KV cache", "kv_cache_bytes"),
        ("Compute buffers", "compute_bytes"),
        ("Overhead", "overhead_bytes"),
        ("**Total**", "total_bytes"),
    ):
        lines.append(f"| {label} | {fmt.gb(data.get(key))} |")
    if data.get("devices"):
        lines += ["", "| device | used | capacity | fits |", "|---|---|---|---|"]
        for d in data["devices"]:
            lines.append(
                f"| {d.get('name')} | {fmt.gb(d.get('total_bytes'))} | {fmt.gb(d.get('capacity_bytes'))} | "
                f"{'yes' if d.get('fits') else 'no'} |"
            )
    if "fits" in data:
        lines += [
            "",
            f"**Fits:** {'yes' if data['fits'] else 'no'}"
            + (f" — {data['placement']}" if data.get("placement") else ""),
        ]
    if data.get("decode_tokens_per_s"):
        lines += [
            "",
            f"- Generation: {_rng(data.get('decode_tokens_per_s'))}",
            f"- Prompt processing: {_rng(data.get('prefill_tokens_per_s'))}",
            f"- Time to first token: {_rng(data.get('ttft_range_s') or data.get('ttft_s'), fmt.seconds)}",
        ]
    cmds = shell_commands(data)
    if cmds:
        lines += ["", "## Launch commands"]
        for name, text in cmds.items():
            lang = "dockerfile" if name == "ollama_modelfile" else "bash"
            lines += ["", f"{COMMAND_LABELS.get(name, name)}:", "", f"```{lang}", str(text).rstrip(), "```"]
    rows = basis_rows(data)
    if rows:
        lines += ["", "## Where the numbers come from", ""]
        for r in rows:
            lines.append(
                f"- **{r['number']}** ({r['kind']}): source {r['source']}; method {r['method']}"
                + (f"; calibration {r['calibration']}" if r["calibration"] not in ("", "—") else "")
            )
    return "\n".join(lines) + "\n"


def table_markdown(title: str, rows: list[dict], note: str = "") -> str:
    """Any ranked table (a purchase plan, a comparison) as a Markdown table."""
    if not rows:
        return f"# {title}\n\nNo options.\n"
    cols = list(rows[0])
    out = [f"# {title}", ""]
    if note:
        out += [note, ""]
    out += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        out.append("| " + " | ".join(str(r.get(c, "")).replace("|", "\\|") for c in cols) + " |")
    return "\n".join(out) + "\n"

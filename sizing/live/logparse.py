"""Measured memory and speed out of a llama.cpp log, in the shape a Measurement needs.

The buffer parsing itself is ``sizing.live.probe.parse_llama_log`` (one
parser for the whole project); this module maps its per-buffer-type figures onto
devices (host RAM vs each GPU) and adds the timing lines a memory probe does not need.
Both the embedded runner and the user's own binaries print the same lines.
"""

from __future__ import annotations

import re

from sizing.errors import SizingError
from sizing.live.probe import parse_llama_log
from sizing.live.runner import DeviceMemory

# Buffer types that live in host RAM, whatever the compute device.
_HOST_SUFFIXES = ("_Mapped", "_REPACK", "_Host", "_Pinned")


def device_of(buffer_type: str) -> str:
    """The device a buffer type lives on: 'CPU' for host RAM, else e.g. 'CUDA0', 'Metal'."""
    if buffer_type.upper().startswith("CPU"):
        return "CPU"
    for suffix in _HOST_SUFFIXES:
        if buffer_type.endswith(suffix):
            base = buffer_type[: -len(suffix)]
            # Metal maps the file into unified memory the GPU uses directly.
            return base if base.lower().startswith("metal") else "CPU"
    return buffer_type


def memory_from_log(text: str) -> dict:
    """Measured parts and per-device breakdown from a llama.cpp log.

    Returns ``weights_bytes, kv_cache_bytes, compute_bytes, output_bytes`` (all None when
    the log shows no model buffer: the run did not get that far) and ``devices``.
    """
    try:
        mm = parse_llama_log(text)
    except SizingError:
        return {"weights_bytes": None, "kv_cache_bytes": None, "compute_bytes": None,
                "output_bytes": None, "devices": ()}
    per_dev: dict[str, dict[str, int]] = {}

    def add(buffers: dict[str, int], column: str) -> None:
        for buft, nbytes in buffers.items():
            dev = per_dev.setdefault(device_of(buft), {})
            dev[column] = dev.get(column, 0) + nbytes

    add(mm.model_buffers, "model_bytes")
    add(mm.kv_buffers, "context_bytes")
    add(mm.rs_buffers, "context_bytes")
    add(mm.output_buffers, "context_bytes")
    add(mm.compute_buffers, "compute_bytes")
    devices = tuple(DeviceMemory(device=d, **cols) for d, cols in sorted(per_dev.items()))
    # A load that died before its context was built has weights but no KV/compute yet.
    has_ctx = bool(mm.kv_buffers or mm.rs_buffers or mm.compute_buffers)
    return {
        "weights_bytes": mm.weights_bytes,
        "kv_cache_bytes": mm.kv_cache_bytes if has_ctx else None,
        "compute_bytes": mm.compute_bytes if mm.compute_buffers else None,
        "output_bytes": mm.output_bytes if mm.output_buffers else None,
        "devices": devices,
    }


_PROMPT_TPS = re.compile(r"prompt eval time =.*?/\s*(\d+) tokens.*?([0-9.]+) tokens per second")
_EVAL_TPS = re.compile(r"(?<!prompt )eval time =.*?/\s*(\d+) (?:tokens|runs).*?([0-9.]+) tokens per second")


def speeds_from_log(text: str) -> dict:
    """Prompt and generation tokens/s from llama.cpp's timing lines (last occurrence)."""
    out: dict = {}
    for line in text.splitlines():
        m = _PROMPT_TPS.search(line)
        if m:
            out["n_prompt"], out["prefill_tokens_per_s"] = int(m[1]), float(m[2])
            continue
        m = _EVAL_TPS.search(line)
        if m:
            out["n_gen"], out["decode_tokens_per_s"] = int(m[1]), float(m[2])
    return out


_BUILD = re.compile(r"build(?:_info)?:\s*b?(\d+)-([0-9a-f]+|unknown)")


def build_from_log(text: str) -> str | None:
    """llama.cpp's build number and commit as it prints them, e.g. 'b4567-abc1234'."""
    m = _BUILD.search(text)
    return f"b{m[1]}-{m[2]}" if m else None

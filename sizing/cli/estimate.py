"""`llm-sizing estimate`: memory llama.cpp needs for a model, quant and context.

A thin adapter: parse flags, call the one composition (:func:`sizing.answer.estimate`),
print its Answer as a table (or, with ``--json``, as one JSON object carrying
``schema_version``; ``llm-sizing schema`` prints its JSON Schema). It computes nothing itself.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sizing.cli.hardware_args import (
    add_hardware_args,
    hardware_from_args,
    hardware_basis,
    has_hardware,
    machine_calibration,
    placement_options,
)
from sizing.answer import Answer, estimate
from sizing.errors import SizingError
from sizing.core.quant import KV_TYPES
from sizing.core.scenario import BACKENDS
from sizing.units import GIB, MIB


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "estimate",
        help="memory needed to run a model with llama.cpp",
        description="Estimate the memory llama.cpp allocates for a model at a quant and "
        "context: weights, KV cache, compute buffer and runtime overhead.",
    )
    add_estimate_arguments(p)
    p.set_defaults(func=run)
    return p


def add_estimate_arguments(p: argparse.ArgumentParser) -> None:
    """The model/run flags, shared with subcommands that build on an estimate."""
    p.add_argument(
        "--model", "-m", required=True, help="catalog id or alias, Hugging Face repo id, .gguf path or config.json path"
    )
    p.add_argument(
        "--quant", "-q", default=None, help="file quant, e.g. Q4_K_M, Q8_0, F16 (default: the GGUF's own, else Q4_K_M)"
    )
    p.add_argument("--ctx", "-c", type=int, default=4096, help="context length in tokens (default 4096)")
    p.add_argument(
        "--kv-type", default="f16", metavar="T", help=f"KV cache type for K and V: {', '.join(KV_TYPES)} (default f16)"
    )
    p.add_argument("--kv-type-k", default=None, metavar="T", help="K cache type (overrides --kv-type)")
    p.add_argument("--kv-type-v", default=None, metavar="T", help="V cache type (overrides --kv-type)")
    p.add_argument("--batch", "-b", type=int, default=2048, help="logical batch, llama.cpp -b (default 2048)")
    p.add_argument("--ubatch", "-ub", type=int, default=512, help="micro-batch, llama.cpp -ub (default 512)")
    p.add_argument("--parallel", "-np", type=int, default=1, help="parallel sequences (default 1)")
    p.add_argument(
        "--no-kv-unified",
        dest="kv_unified",
        action="store_false",
        help="one KV stream per sequence (llama.cpp without --kv-unified)",
    )
    p.add_argument(
        "--flash-attn",
        "-fa",
        choices=("on", "off"),
        default="on",
        help="flash attention (default on; a quantized V cache needs it)",
    )
    p.add_argument(
        "--no-mmap",
        dest="mmap",
        action="store_false",
        help="read the weights into RAM instead of mapping the file (llama.cpp --no-mmap)",
    )
    p.add_argument(
        "--no-repack",
        dest="repack",
        action="store_false",
        help="CPU: no second, repacked copy of Q4_0/Q4_K/IQ4_NL/MXFP4 weights (llama.cpp --no-repack)",
    )
    p.add_argument(
        "--mlock",
        action="store_true",
        help="pin the weights in RAM (llama.cpp --mlock): mapped file pages stop being reclaimable",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="llama.cpp backend holding the model (default: the hardware's usual one, "
        "else cpu; without hardware, others mean full offload)",
    )
    p.add_argument(
        "--mmproj",
        default=None,
        metavar="FILE",
        help="multimodal projector GGUF (vision/audio encoder) loaded with the model: "
        "adds its weights and compute buffer, and says how many context cells an image takes",
    )
    p.add_argument("--offline", action="store_true", help="never contact the Hugging Face Hub")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    # hardware, placement and speed
    add_hardware_args(p, backend=False)
    p.add_argument(
        "--prompt-tokens",
        type=int,
        default=None,
        metavar="N",
        help="prompt length for prefill speed and time to first token (default min(ctx, 512))",
    )
    p.add_argument(
        "--context-prompt",
        type=int,
        default=None,
        metavar="N",
        help="your prompt length for the speed at your context (default: --prompt-tokens if "
        "given, else a quarter of the context)",
    )


def answer_from_args(args: argparse.Namespace) -> Answer:
    """The Answer for the model, run and hardware flags of ``args``."""
    hw = hardware_from_args(args) if has_hardware(args) else None  # --gpu / --hardware this / --memory-gb ...
    if hw is None:
        _refuse_placement_without_hardware(args)
    return estimate(
        args.model,
        args.quant,
        args.ctx,
        hardware=hw,
        kv_type=args.kv_type,
        kv_type_k=args.kv_type_k,
        kv_type_v=args.kv_type_v,
        batch=args.batch,
        ubatch=args.ubatch,
        parallel=args.parallel,
        kv_unified=args.kv_unified,
        flash_attn=args.flash_attn == "on",
        backend=args.backend,
        offline=True if args.offline else None,
        mmap=args.mmap,
        repack=args.repack,
        mlock=args.mlock,
        mmproj=getattr(args, "mmproj", None),
        options=placement_options(args) if hw is not None else None,
        prompt_tokens=args.prompt_tokens,
        context_prompt_tokens=getattr(args, "context_prompt", None),
        model_path=args.model if str(args.model).lower().endswith(".gguf") else None,
        machine_calibration=machine_calibration(args, hw) if hw is not None else None,
        hardware_basis=hardware_basis(args) if hw is not None else (),
    )


_PLACEMENT_FLAGS = (
    ("ngl", "--ngl"),
    ("tensor_split", "--tensor-split"),
    ("n_cpu_moe", "--n-cpu-moe"),
    ("cpu_moe", "--cpu-moe"),
    ("tensor_parallel", "--tensor-parallel"),
)


def _refuse_placement_without_hardware(args: argparse.Namespace) -> None:
    """A placement flag with no machine would be silently ignored: the memory table alone
    places nothing. Its own range is checked first, so a bad value is named as such."""
    given = [flag for name, flag in _PLACEMENT_FLAGS if getattr(args, name, None) not in (None, False)]
    if given:
        placement_options(args)
        raise SizingError(
            f"{given[0]} places the model on a machine: name it with --gpu, --hardware this "
            "or --memory-gb with --bandwidth-gbs"
        )


def run(args: argparse.Namespace) -> int:
    for flag, v in (("--prompt-tokens", args.prompt_tokens), ("--context-prompt", args.context_prompt)):
        if v is not None and not 0 < v <= args.ctx:
            raise SizingError(f"{flag}: prompt tokens must be 1 to --ctx ({args.ctx}), got {v}")
    ans = answer_from_args(args)
    if args.json:
        print(json.dumps(ans.to_json()))
    else:
        print(render(ans))
    return 0


def human_bytes(n: int) -> str:
    if n >= GIB:
        return f"{n / GIB:.2f} GiB"
    return f"{n / MIB:.1f} MiB"


def _count(n: int) -> str:
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return f"{n:,}"


def render(est: Answer) -> str:
    """A readable table of the parts, the buffers behind them, and the basis."""
    kv = est.kv_type_k if est.kv_type_k == est.kv_type_v else f"K {est.kv_type_k} / V {est.kv_type_v}"
    params = _count(est.params)
    if est.active_params != est.params:
        params += f" ({_count(est.active_params)} active per token)"
    lines = [
        f"{est.model_name}  [{est.model}, {est.arch}]",
        f"  {params} parameters · {est.quant} · context {est.ctx:,}"
        + (f" (llama.cpp pads to {est.n_ctx:,})" if est.n_ctx != est.ctx else "")
        + f" · KV {kv} · batch {est.n_batch}/{est.n_ubatch} · {est.n_parallel} seq"
        + f" · flash attention {'on' if est.flash_attn else 'off'} · {est.backend}",
        "",
    ]
    rows = [(i.name, i.part.replace("_", " "), i.device, human_bytes(i.bytes), i.note) for i in est.items]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines.append(f"  {'buffer':<{w0}}  {'part':<{w1}}  {'device':<6}  {'size':>11}")
    for name, part, dev, size, note in rows:
        lines.append(f"  {name:<{w0}}  {part:<{w1}}  {dev:<6}  {size:>11}   {note}")
    lines.append("")
    for label, value in (
        ("weights", est.weights_bytes),
        ("KV cache", est.kv_cache_bytes),
        ("compute", est.compute_bytes),
        ("overhead", est.overhead_bytes),
    ):
        lines.append(f"  {label:<10} {human_bytes(value):>11}")
    lines.append(f"  {'total':<10} {human_bytes(est.total_bytes):>11}")
    if est.reclaimable_bytes:
        lines.append(f"  {'resident':<10} {human_bytes(est.resident_bytes):>11}   must stay in RAM")
        lines.append(
            f"  {'reclaimable':<10} {human_bytes(est.reclaimable_bytes):>11}   clean file pages behind "
            "the repacked copy: the kernel drops them under pressure (--no-mmap or --no-repack "
            "removes the duplicate, --mlock pins it)"
        )
    if len(est.memory_by_device) > 1:
        for device, parts in est.memory_by_device.items():
            lines.append(f"    on {device}: {human_bytes(parts.total_bytes)}")
    if est.warnings:
        lines.append("")
        lines.extend(f"  warning: {w}" for w in est.warnings)
    lines.extend(render_hardware(est))
    lines.append("")
    lines.append("Basis:")
    for b in est.basis:
        line = f"  - {b.method} [{b.source}]"
        if b.calibration:
            line += f"; {b.calibration}"
        lines.append(line)
    return "\n".join(lines)


def render_hardware(est: Answer) -> list[str]:
    """Fit, placement, speed and commands, when hardware was given."""
    if est.fits is None:
        return []
    lines = ["", f"On {est.hardware}: {'fits' if est.fits else 'does NOT fit'} — {est.placement}"]
    for dev in est.devices or ():
        lines.append(
            f"  {dev.name:<32} {human_bytes(dev.total_bytes):>11} of {human_bytes(dev.capacity_bytes):>11}"
            f"  (weights {human_bytes(dev.weights_bytes)}, KV {human_bytes(dev.kv_cache_bytes)})"
        )
    d, p = est.decode_tokens_per_s, est.prefill_tokens_per_s
    if d is not None:
        lines.append(f"  decode  {d.expected:.1f} tok/s (range {d.low:.1f}–{d.high:.1f})")
        if p is not None:
            lines.append(
                f"  prefill {p.expected:.0f} tok/s (range {p.low:.0f}–{p.high:.0f}); "
                f"time to first token {est.ttft_s:.2f} s"
            )
        for depth, r in (est.decode_at_depth or {}).items():
            if depth != "0":
                lines.append(f"    decode at depth {int(depth):>7,}: {r.expected:.1f} tok/s")
        ac = est.at_context
        if ac:
            m, f, t = ac.decode_mean, ac.decode_full, ac.ttft_s
            lines.append(f"  at your context ({ac.ctx:,} tokens; prompt {ac.prompt_basis}):")
            lines.append(
                f"    decode {m.expected:.1f} tok/s on average as the context fills "
                f"(range {m.low:.1f}–{m.high:.1f}), {f.expected:.1f} tok/s when full"
            )
            lines.append(
                f"    time to first token {t.expected:.2f} s for the {ac.prompt_tokens:,}-token prompt "
                f"(range {t.low:.2f}–{t.high:.2f} s)"
            )
        for part in est.decode_reads or ():
            lines.append(
                f"  reads on {part.device}: {human_bytes(part.read_bytes)} a token at {part.read_gbs:.1f} GB/s ({part.basis})"
            )
        lines.append(f"  calibration: {est.speed_calibration}")
    for n in est.hardware_notes:
        lines.append(f"  note: {n}")
    c, w = est.commands, est.weights_source
    if c is not None:
        lines.append("")
        shown = {**c.shell(), "weights": w.hf_url if w else None, "ollama_tag": w.ollama_tag if w else None}
        for k in ("llama_server", "ollama_serve", "ollama", "vllm", "weights", "ollama_tag"):
            if shown.get(k):
                lines.append(f"  {k}: {shown[k]}")
        if c.ollama_modelfile:
            lines.append("  Modelfile:")
            lines.extend(f"    {ln}" for ln in c.ollama_modelfile.splitlines())
        for n in c.notes:
            lines.append(f"  note: {n}")
    return lines

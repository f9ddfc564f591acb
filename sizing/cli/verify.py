"""`llm-sizing verify`: run llama.cpp here and put the measurement next to the estimate.

A thin adapter over :func:`sizing.live.check.run_check`: parse flags, show progress on
stderr, print estimate, measurement and relative errors (or one JSON object with
``--json``). ``--export`` writes every stored run as one shareable JSON file.
Exit status: 0 measured, 1 llama.cpp failed / timed out / was refused (the reason is
printed, with any partial results), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sizing.errors import SizingError
from sizing.units import MIB


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "verify",
        help="run llama.cpp on this machine and compare with the estimate",
        description="Load the model in llama.cpp (in a separate process), measure its memory and "
        "speed, compare with the estimate and refine this machine's speed calibration. "
        "A catalog id runs a synthetic model (real header, no download).",
    )
    p.add_argument(
        "--model",
        "-m",
        help="GGUF path, a GGUF file name in your model folders/caches, or a catalog id (runs a synthetic model)",
    )
    p.add_argument("--quant", "-q", default=None, help="quant of a synthetic model (default Q4_K_M)")
    p.add_argument("--ctx", "-c", type=int, default=4096, help="context length (default 4096)")
    p.add_argument(
        "--runner", default="auto", help="auto, embedded (xllamacpp) or a path to llama.cpp binaries (default auto)"
    )
    p.add_argument("--timeout", type=float, default=300.0, metavar="S", help="hard time limit in seconds")
    p.add_argument("--prompt-tokens", type=int, default=512, metavar="N", help="prompt length timed (512)")
    p.add_argument("--gen-tokens", type=int, default=128, metavar="N", help="tokens generated (128)")
    p.add_argument("--kv-type", default="f16", metavar="T", help="KV cache type for K and V (f16)")
    p.add_argument("--batch", type=int, default=2048, help="logical batch (2048)")
    p.add_argument("--ubatch", type=int, default=512, help="physical micro-batch (512)")
    p.add_argument("--flash-attn", choices=("on", "off"), default="on")
    p.add_argument("--gpu-layers", type=int, default=0, metavar="N", help="layers on the GPU (-1: all)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads")
    p.add_argument(
        "--repetitions", "-r", type=int, default=1, metavar="N", help="timed runs; speeds are their median (1)"
    )
    p.add_argument("--synthetic", action="store_true", help="always run a synthetic model of --model")
    p.add_argument("--keep-synthetic", action="store_true", help="keep the synthetic file in the data dir")
    p.add_argument("--no-store", action="store_true", help="do not record this run")
    p.add_argument("--export", metavar="FILE", help="write all stored runs as JSON to FILE ('-': stdout) and exit")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)
    return p


def _check_flags(args: argparse.Namespace) -> None:
    if not args.model:
        raise SizingError("--model is required (a GGUF path or a catalog id)")
    for flag, v in (("--ctx", args.ctx), ("--batch", args.batch), ("--ubatch", args.ubatch)):
        if v <= 0:
            raise SizingError(f"{flag} must be positive, got {v}")
    for flag, v in (("--prompt-tokens", args.prompt_tokens), ("--gen-tokens", args.gen_tokens)):
        if v < 0:
            raise SizingError(f"{flag} must be zero or more, got {v}")
    if args.prompt_tokens + args.gen_tokens >= args.ctx:
        raise SizingError(
            f"--prompt-tokens {args.prompt_tokens} + --gen-tokens {args.gen_tokens} do not fit in --ctx {args.ctx}"
        )
    if args.timeout <= 0:
        raise SizingError(f"--timeout must be positive, got {args.timeout:g}")
    if args.threads is not None and args.threads <= 0:
        raise SizingError(f"--threads must be positive, got {args.threads}")


def run(args: argparse.Namespace) -> int:
    from sizing.live import store

    if args.export:
        text = store.export_runs(store.load_runs())
        if args.export == "-":
            print(text)
        else:
            try:
                Path(args.export).write_text(text + "\n")
            except OSError as e:
                raise SizingError(f"--export {args.export}: cannot write ({e.strerror or e})") from None
            print(f"wrote {len(store.load_runs())} runs to {args.export}", file=sys.stderr)
        return 0
    _check_flags(args)

    def progress(ev) -> None:
        if not args.json:
            print(f"  [{ev.elapsed_s:6.1f} s] {ev.stage}", file=sys.stderr, flush=True)

    from sizing.live.isolation import terminate_as_interrupt

    with terminate_as_interrupt():  # `kill` stops llama.cpp and removes its files too
        result = _run_check(args, progress)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        print(render(result))
    return 0 if result.status == "ok" else 1


def _run_check(args: argparse.Namespace, progress):
    from sizing.live.check import run_check

    return run_check(
        args.model,
        quant=args.quant,
        ctx=args.ctx,
        runner=args.runner,
        timeout_s=args.timeout,
        n_prompt=args.prompt_tokens,
        n_gen=args.gen_tokens,
        kv_type=args.kv_type,
        batch=args.batch,
        ubatch=args.ubatch,
        flash_attn=args.flash_attn == "on",
        n_gpu_layers=args.gpu_layers,
        n_threads=args.threads,
        repetitions=args.repetitions,
        synthetic=args.synthetic,
        keep_synthetic=args.keep_synthetic,
        save=not args.no_store,
        progress=progress,
    )


def _fmt(part: str, v: float | None) -> str:
    if v is None:
        return "—"
    if part.endswith("_bytes"):
        return f"{v / MIB:,.1f} MiB"
    return f"{v:,.1f} tok/s"


def render(result) -> str:
    """The text report: what ran, then estimate | measured | error per part."""
    j = result.to_json()
    lines = []
    r = j["runner"] or {}
    what = f"{j['model']} ({'synthetic, ' if j['synthetic'] else ''}{j['estimate'].get('quant')}, ctx {j['estimate'].get('ctx')})"
    lines.append(f"verify {what}")
    lines.append(f"runner: {r.get('name')} — {r.get('version')} [{r.get('backend')}]")
    if j["synthetic_disk_bytes"] is not None:
        lines.append(f"synthetic file: {j['synthetic_disk_bytes'] / MIB:.1f} MiB on disk (deleted afterwards)")
    if j["refused"]:
        lines.append(j["refused"])
        return "\n".join(lines)
    m = j["measured"] or {}
    if m.get("status") != "ok":
        lines.append(
            f"llama.cpp: {m.get('status')} — {m.get('message')}"
            + (" (partial results below)" if m.get("partial") else "")
        )
    lines.append(f"{'part':<22}{'estimate':>16}{'measured':>16}{'error':>10}")
    for c in j["comparison"]:
        err = "—" if c["rel_error"] is None else f"{c['rel_error'] * 100:+.1f}%"
        mark = (
            ""
            if c["within_tolerance"] is None
            else ("  ok" if c["within_tolerance"] else f"  > ±{c['tolerance'] * 100:.0f}%")
        )
        lines.append(
            f"{c['part'].replace('_', ' '):<22}{_fmt(c['part'], c['estimated']):>16}"
            f"{_fmt(c['part'], c['measured']):>16}{err:>10}{mark}"
        )
    e = j["estimate"]
    if e.get("predicted_decode_tokens_per_s") and e.get("predicted_decode_attention_s") is not None:
        lines.append(
            f"decode predicted at depth {e.get('predicted_decode_depth')}: "
            f"{1e3 / e['predicted_decode_tokens_per_s']:.1f} ms/token, of which attention over the cache "
            f"{e['predicted_decode_attention_s'] * 1e3:.1f} ms"
            + (
                f" and the server's sampling over the vocabulary {e['predicted_decode_sampling_s'] * 1e3:.1f} ms"
                if e.get("predicted_decode_sampling_s")
                else ""
            )
        )
    extra = []
    if m.get("peak_rss_bytes"):
        extra.append(f"peak RSS {m['peak_rss_bytes'] / MIB:,.0f} MiB")
    if m.get("load_s") is not None:
        extra.append(f"load {m['load_s']:.2f} s")
    if m.get("gpu_memory_delta_bytes"):
        extra.append("GPU " + ", ".join(f"{k} +{v / MIB:,.0f} MiB" for k, v in m["gpu_memory_delta_bytes"].items()))
    if extra:
        lines.append("; ".join(extra))
    cal = j["calibration"]
    if cal and not cal["n_runs"]:
        lines.append("this machine: no usable run yet, speeds keep the public calibration")
    elif cal:

        def pct(x):
            return "—" if x is None else f"{x * 100:.0f}%"

        f = cal["factors"]
        bw = (
            f"effective bandwidth {f['effective_bandwidth_gbs']:.1f} GB/s + {f['decode_overhead_ms']:.1f} ms/token"
            if f.get("effective_bandwidth_gbs")
            else f"bandwidth ×{f['bandwidth_factor']:.2f}"
        )
        if f.get("attention_factor") and f.get("attention_gflops"):
            bw += f", attention {f['attention_gflops']:.1f} GFLOP/s (from {f['n_attention']} model(s) at two depths)"
        lines.append(
            f"this machine ({cal['n_runs']} runs used): {bw}, compute ×{f['compute_factor']:.2f}; "
            f"speed error decode {pct(cal['decode_error_before'])} → {pct(cal['decode_error_after'])}, "
            f"prefill {pct(cal['prefill_error_before'])} → {pct(cal['prefill_error_after'])} (leave-one-out)"
        )
    ld = (j.get("load") or {}).get("during")
    if ld:
        lines.append(
            f"machine load during the run: other processes {ld['others_busy_cores']:.1f} of "
            f"{ld['cpus']} cores, steal {ld['steal_share']:.0%}, load average {ld['load_average'] or 0:.1f}"
        )
    v = j.get("calibration_verdict")
    if v and not v["used"]:
        lines.append(f"this run is left out of the calibration: {v['reason']}")
    if cal:
        for ex in cal.get("verdicts", []):
            if not ex["used"] and (not v or ex["id"] != v["id"]):
                lines.append(f"  left out: {ex['label']}: {ex['reason']}")
    cs = j["calibrated_speed"]
    if cs:
        lines.append(
            f"calibrated estimate: decode {cs['decode_tokens_per_s']:.1f} tok/s, "
            f"prefill {cs['prefill_tokens_per_s']:.1f} tok/s"
        )
    if j["stored_in"]:
        lines.append(f"stored in {j['stored_in']}")
    return "\n".join(lines)

"""Hardware options shared by `estimate`, `fit` and `plan`: flags in, a `Hardware` out.

An adapter: it reads flags, the GPU database and (for ``--hardware this``) the detected
machine, and hands the core a ``sizing.core.machine.Hardware``. It computes no estimate.
"""

from __future__ import annotations

import argparse

from sizing.errors import SizingError
from sizing.core.placement import PlacementOptions
from sizing.core.scenario import BACKENDS, Basis
from sizing.hardware import basis as hw_basis
from sizing.core.machine import (
    Hardware,
    HostSpec,
    cpu_hardware,
    custom_machine,
    host_spec,
    machine_from_gpu,
    machine_from_gpus,
)


def add_hardware_args(p: argparse.ArgumentParser, *, placement: bool = True, backend: bool = True) -> None:
    g = p.add_argument_group("hardware")
    g.add_argument(
        "--gpu",
        action="append",
        metavar="NAME",
        default=[],
        help='a GPU from the database (repeat for several, e.g. --gpu "RTX 4090" --gpu "RTX 3090"); '
        'NAME×N or N×NAME for N identical cards, e.g. "2x RTX 3090"',
    )
    g.add_argument("--hardware", metavar="this", help="'this': the detected machine")
    g.add_argument("--memory-gb", type=float, metavar="GB", help="custom accelerator memory (GiB)")
    g.add_argument("--bandwidth-gbs", type=float, metavar="GB/s", help="custom accelerator memory bandwidth")
    g.add_argument("--tflops", type=float, metavar="TF", help="custom accelerator dense FP16 TFLOPS (optional)")
    g.add_argument(
        "--unified", action="store_true", help="custom device shares system RAM (Apple, Strix Halo, DGX Spark)"
    )
    if backend:
        g.add_argument("--backend", choices=BACKENDS, help="llama.cpp backend (default: the device's usual one)")
    g.add_argument("--ram-gb", type=float, metavar="GB", help="host RAM (default: 64, assumed)")
    g.add_argument(
        "--ram-bandwidth-gbs", type=float, metavar="GB/s", help="host RAM bandwidth (default: 89.6, assumed)"
    )
    g.add_argument("--threads", type=int, metavar="N", help="CPU threads for layers in RAM (default: 8, assumed)")
    g.add_argument(
        "--wired-limit-mb",
        type=int,
        metavar="MB",
        help="unified memory: the GPU limit as raised, in MiB (Apple iogpu.wired_limit_mb; Strix Halo GTT via ttm.pages_limit)",
    )
    if placement:
        g.add_argument(
            "--ngl", "--n-gpu-layers", dest="ngl", type=int, metavar="N", help="layers on GPU (default: most that fit)"
        )
        g.add_argument("--tensor-split", metavar="A,B", help="multi-GPU proportions, e.g. 3,1")
        g.add_argument("--n-cpu-moe", type=int, metavar="N", help="MoE: experts of the first N layers in RAM")
        g.add_argument("--cpu-moe", action="store_true", help="MoE: all experts in RAM (-ot exps=CPU)")
        g.add_argument("--tensor-parallel", action="store_true", help="serving-engine tensor parallelism (vLLM)")


def _host_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, n, None) is not None for n in ("ram_gb", "ram_bandwidth_gbs", "threads"))


def _cpu_only(args: argparse.Namespace) -> bool:
    """No accelerator named: ``--backend cpu``, or host figures alone (a CPU-only server)."""
    backend = getattr(args, "backend", None)
    return backend == "cpu" or (backend is None and _host_given(args))


def has_hardware(args: argparse.Namespace) -> bool:
    """Was a machine named (a GPU, this machine, custom memory/bandwidth, or a CPU-only
    host by its RAM, bandwidth or threads)?"""
    named = args.gpu or args.hardware or args.memory_gb is not None or args.bandwidth_gbs is not None
    return bool(named or (_cpu_only(args) and _host_given(args)))


def _host(args: argparse.Namespace) -> HostSpec:
    for name in ("ram_gb", "ram_bandwidth_gbs"):
        v = getattr(args, name, None)
        if v is not None and v <= 0:
            raise SizingError(f"--{name.replace('_', '-')} must be > 0, got {v:g}")
    if args.threads is not None and args.threads <= 0:
        raise SizingError(f"--threads must be > 0, got {args.threads}")
    return host_spec(args.ram_gb, args.ram_bandwidth_gbs, args.threads)


def _split_count(name: str) -> tuple[str, int]:
    s = name.strip()
    for sep in ("x ", "× ", "X "):
        head, _, tail = s.partition(sep)
        if tail and head.strip().isdigit():
            return tail.strip(), int(head)
    for sep in (" x", " ×", " X"):
        head, _, tail = s.rpartition(sep)
        if head and tail.strip().isdigit():
            return head.strip(), int(tail)
    return s, 1


def hardware_from_args(args: argparse.Namespace) -> Hardware:
    """Build the machine the flags describe; one clear error for a bad combination."""
    hw = _machine(args)
    if getattr(args, "wired_limit_mb", None) is not None and not hw.unified:
        raise SizingError(
            f"--wired-limit-mb is the GPU's share of a unified-memory machine (Apple, Strix Halo), not of {hw.name}"
        )
    return hw


def _machine(args: argparse.Namespace) -> Hardware:
    host = _host(args)
    if args.memory_gb is not None or args.bandwidth_gbs is not None:
        if args.gpu or args.hardware:
            raise SizingError("give either --gpu/--hardware or --memory-gb/--bandwidth-gbs, not both")
        if args.memory_gb is None or args.bandwidth_gbs is None:
            raise SizingError("custom hardware needs both --memory-gb and --bandwidth-gbs")
        return custom_machine(
            memory_gb=args.memory_gb,
            bandwidth_gbs=args.bandwidth_gbs,
            backend=args.backend or ("metal" if args.unified else "cuda"),
            matmul_tflops=args.tflops,
            unified=args.unified,
            host=host,
            wired_limit_mb=args.wired_limit_mb if args.unified else None,
        )
    if args.hardware:
        if args.hardware.strip().lower() != "this":
            raise SizingError(f"--hardware takes 'this' (the detected machine), got {args.hardware!r}")
        if args.gpu:
            raise SizingError("give either --hardware this or --gpu, not both")
        return detected_hardware(args)
    if args.gpu:
        from sizing.hardware.db import load_gpus

        db = load_gpus()
        entries = []
        for raw in args.gpu:
            name, n = _split_count(raw)
            if n < 1 or n > 64:
                raise SizingError(f"--gpu {raw!r}: count must be 1..64")
            m = db.match(name)
            if m.gpu is None:
                raise SizingError(f"--gpu {raw!r}: {m.message()}")
            entries += [m.gpu] * n
        if len(entries) > 1 and len({e.id for e in entries}) == 1:
            return machine_from_gpu(entries[0], len(entries), host=host, backend=args.backend)
        if len(entries) == 1:
            return machine_from_gpu(entries[0], host=host, backend=args.backend, wired_limit_mb=args.wired_limit_mb)
        return machine_from_gpus(entries, host=host, backend=args.backend)
    if _cpu_only(args):
        return cpu_hardware(host.name, ram_bytes=host.ram_bytes, bandwidth_gbs=host.bandwidth_gbs, threads=host.threads)
    raise SizingError("no hardware given: use --gpu NAME, --hardware this, or --memory-gb with --bandwidth-gbs")


def hardware_basis(args: argparse.Namespace) -> list[Basis]:
    """Where the flags' hardware figures come from (as the UI says it for the same choice)."""
    if args.memory_gb is not None or args.bandwidth_gbs is not None:
        return [hw_basis.TYPED]
    if args.hardware:
        return [hw_basis.DETECTED]
    if args.gpu:
        from sizing.hardware.db import load_gpus

        db = load_gpus()
        matches = (db.match(_split_count(raw)[0]).gpu for raw in args.gpu)
        return hw_basis.database_basis(g for g in matches if g is not None)
    return []


def detected_hardware(args: argparse.Namespace) -> Hardware:
    """This machine, as detection reports it (``sizing.hardware.this_machine``)."""
    from sizing.hardware.this_machine import detect_hardware

    return detect_hardware(threads=args.threads, backend=args.backend, wired_limit_mb=args.wired_limit_mb)


def is_this_machine(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "hardware", None)) and args.hardware.strip().lower() == "this"


def machine_calibration(args: argparse.Namespace, hw: Hardware):
    """For ``--hardware this``: the speed factors fitted to this machine's stored live
    checks (``llm-sizing verify``), or None (then the public calibration is used)."""
    if not is_this_machine(args):
        return None
    from sizing.live.this_machine import stored_calibration

    return stored_calibration(hw)


def placement_options(args: argparse.Namespace) -> PlacementOptions:
    split = None
    if getattr(args, "tensor_split", None):
        try:
            split = tuple(float(x) for x in args.tensor_split.split(","))
        except ValueError:
            raise SizingError(f"--tensor-split {args.tensor_split!r}: expected numbers like 3,1") from None
        if any(x < 0 for x in split) or sum(split) <= 0:
            raise SizingError(f"--tensor-split {args.tensor_split!r}: proportions must be ≥ 0 with a positive sum")
    if getattr(args, "ngl", None) is not None and args.ngl < 0:
        raise SizingError(f"--ngl must be ≥ 0, got {args.ngl}")
    if getattr(args, "n_cpu_moe", None) is not None and args.n_cpu_moe < 0:
        raise SizingError(f"--n-cpu-moe must be ≥ 0, got {args.n_cpu_moe}")
    return PlacementOptions(
        n_gpu_layers=getattr(args, "ngl", None),
        tensor_split=split,
        n_cpu_moe=getattr(args, "n_cpu_moe", None),
        cpu_moe=bool(getattr(args, "cpu_moe", False)),
        split_mode="tensor" if getattr(args, "tensor_parallel", False) else "layer",
    )

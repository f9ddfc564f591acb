"""How long a live check should take, said before it starts.

A check loads the weights, then runs the prompt and the generation. Loading is a fixed
start (llama.cpp's child process, its context) plus the file's bytes at a conservative
disk rate; a synthetic file is a sparse hole, so it has none to read. The run takes the
tokens at the speeds the estimator predicts on this machine, so the figure is as good as
this machine's calibration, and a user sees it before agreeing to wait.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from sizing.core.speed.estimate import SpeedEstimate

LOAD_START_S = 2.0  # starting the llama.cpp child and creating its context
LOAD_GBS = 1.0  # reading a GGUF from disk into RAM: a conservative 1 GB/s (page cache makes it faster)


class CheckTime(BaseModel):
    """Expected seconds of one live check, with its parts and how they were reached."""

    model_config = ConfigDict(frozen=True)

    total_s: float
    load_s: float
    run_s: float
    basis: str


def check_time(load_bytes: float, n_prompt: int, n_gen: int, speed: SpeedEstimate | None) -> CheckTime:
    """Loading ``load_bytes`` from disk, then ``n_prompt`` + ``n_gen`` tokens at ``speed``'s
    expected rates (no speed: the run part is left at 0 and the basis says memory only)."""
    load_s = LOAD_START_S + load_bytes / (LOAD_GBS * 1e9)
    run_s = 0.0
    if speed is not None:
        run_s = n_prompt / speed.prefill_tokens_per_s.expected + n_gen / speed.decode_tokens_per_s.expected
    parts = [f"loading {load_s:.0f} s"]
    if n_prompt or n_gen:
        parts.append(f"{n_prompt} prompt + {n_gen} generated tokens {run_s:.0f} s")
    else:
        parts.append("memory only")
    return CheckTime(total_s=load_s + run_s, load_s=load_s, run_s=run_s, basis=", ".join(parts))


def repeated_time(runs: Sequence[float | None], repeats: int) -> float | None:
    """A plan of runs done ``repeats`` times; None when any run has no expected time."""
    if not runs or any(r is None for r in runs):
        return None
    return sum(r for r in runs if r is not None) * repeats

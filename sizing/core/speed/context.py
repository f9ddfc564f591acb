"""Speed at the context the user chose: decode as the cache fills, and time to first token
for a prompt of realistic length — pure.

``sizing.speed`` answers for llama-bench's conditions (an empty cache, a 512-token
prompt), which is how public results are published and how the speed model is fitted.
Someone who sets a 32k context works deeper than that: every decoded token also reads
the KV cache up to the current depth, and a long prompt takes long to process. This
module answers at their context: decode at the mean depth of a conversation that fills
the context from the prompt to the end and at full context, the time to first token for
their prompt, and a curve of both against depth for a chart.

The default prompt is a quarter of the context (:data:`DEFAULT_PROMPT_SHARE`): people
who raise the context do so to paste documents or keep long histories, and a quarter
leaves three quarters for the conversation to grow. The answer says which was used.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field

from sizing.errors import SizingError
from sizing.core.speed.estimate import CalibrationSet, Range, _main_device, decode_step_seconds, prefill_seconds
from sizing.core.traffic import DeviceWork

DEFAULT_PROMPT_SHARE = 0.25
MEAN_SAMPLES = 16  # depths averaged for the mean decode speed (exact for linear KV reads)


class ContextPoint(BaseModel):
    """Decode speed with ``depth`` tokens cached, and the time to first token of a prompt that long."""

    model_config = ConfigDict(frozen=True)

    depth: int
    decode_tokens_per_s: float
    ttft_s: float


class ContextSpeed(BaseModel):
    """Speed at the user's context and prompt, with how the prompt was chosen."""

    model_config = ConfigDict(frozen=True)

    ctx: int
    prompt_tokens: int
    prompt_basis: str = Field(description="how the prompt length was chosen")
    decode_mean: Range = Field(description="tokens/s averaged over generating from the prompt to full context")
    decode_full: Range = Field(description="tokens/s with the context full")
    ttft_s: Range = Field(description="time to first token for prompt_tokens")
    curve: tuple[ContextPoint, ...] = ()
    method: str = ""


def default_prompt_tokens(ctx: int) -> int:
    return max(1, int(ctx * DEFAULT_PROMPT_SHARE))


def _curve_depths(ctx: int) -> list[int]:
    """0, 512, 1k, 2k, … up to the context, and the context itself (full)."""
    out, d = [0], 512
    while d < ctx:
        out.append(d)
        d *= 2
    out.append(ctx)
    return out


def context_speed(
    works: Sequence[DeviceWork],
    calib: CalibrationSet,
    *,
    ctx: int,
    prompt_tokens: int | None = None,
    n_ubatch: int = 512,
    curve: bool = True,
) -> ContextSpeed:
    """Decode (mean over the context, and full) and time to first token at ``ctx``.

    The mean is the tokens generated divided by the time to generate them, from depth
    ``prompt_tokens`` to ``ctx``: the harmonic mean of speed over depth, which is what a
    user waits. Ranges carry the calibration's spread for the main device.
    """
    if ctx <= 0:
        raise SizingError(f"context must be positive, got {ctx}")
    if prompt_tokens is not None and not 0 < prompt_tokens <= ctx:
        raise SizingError(f"prompt tokens must be 1 to the context ({ctx}), got {prompt_tokens}")
    works = [w for w in works if w.layers or w.dense_bytes or w.expert_bytes]
    if not works:
        raise SizingError("nothing placed on any device")
    if prompt_tokens is None:
        p = default_prompt_tokens(ctx)
        basis = f"default: a quarter of the context ({p:,} of {ctx:,} tokens)"
    else:
        p = prompt_tokens
        basis = f"set: {p:,} tokens"
    c = calib.get(*_main_device(works))

    def step(depth: int) -> float:
        return decode_step_seconds(works, calib, depth=depth)[0]

    start, end = min(p, ctx - 1), max(ctx - 1, 0)
    if end > start:
        depths = [start + (end - start) * (i + 0.5) / MEAN_SAMPLES for i in range(MEAN_SAMPLES)]
        mean_step = sum(step(int(d)) for d in depths) / len(depths)
    else:
        mean_step = step(start)
    full = step(end)
    t_pp = prefill_seconds(works, calib, p, n_ubatch=n_ubatch) + step(p)
    lo, hi = c.prefill_spread
    ttft = Range(low=t_pp / max(hi, 1.0), expected=t_pp, high=t_pp / min(lo, 1.0))
    points: tuple[ContextPoint, ...] = ()
    if curve:
        points = tuple(
            ContextPoint(
                depth=d,
                decode_tokens_per_s=1.0 / step(min(d, end)),
                ttft_s=(prefill_seconds(works, calib, d, n_ubatch=n_ubatch) + step(min(d, end))) if d else step(0),
            )
            for d in _curve_depths(ctx)
        )
    return ContextSpeed(
        ctx=ctx,
        prompt_tokens=p,
        prompt_basis=basis,
        decode_mean=Range.around(1.0 / mean_step, c.decode_spread),
        decode_full=Range.around(1.0 / full, c.decode_spread),
        ttft_s=ttft,
        curve=points,
        method=(
            "decode: the speed model's time per token with the KV cache read up to each depth, "
            "averaged from the prompt to the full context; first token: prefill of the prompt "
            "(each micro-batch attending to the tokens before it) plus one decode step"
        ),
    )

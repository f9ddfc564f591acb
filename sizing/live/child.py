"""What the two runner children share (``embedded_child``, ``external_child``).

Both speak the same JSON-lines progress protocol on a private copy of stdout (written by
``event_channel``, read in the parent by ``event_reader``), and both time the same request: ordinary prompt tokens, greedy decoding, no prompt cache, the
median over repetitions. Defining these once keeps a timing from the embedded binding
comparable with one from the user's own ``llama-server``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Literal

#: the progress stages a child reports as it reaches them
ProgressStage = Literal["loading", "prompt", "generation"]


def event_channel() -> Callable[..., None]:
    """``emit(event, **data)`` writing one JSON object per line to a private stdout.

    Native code (llama.cpp, the server's template dump) writes to fd 1 too and would
    corrupt the event stream, so fd 1 is pointed at stderr and events go to a copy.
    """
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)

    def emit(event: str, **data) -> None:
        out.write(json.dumps({"event": event, **data}) + "\n")
        out.flush()

    return emit


def event_reader(
    relay: Callable[[ProgressStage], object],
) -> tuple[dict[str, dict], Callable[[str], None]]:
    """The parent's end: ``(events, on_line)``; ``on_line`` keeps each event's last payload
    by name and relays the progress stages. Lines that are not JSON are ignored."""
    events: dict[str, dict] = {}

    def on_line(line: str) -> None:
        try:
            ev = json.loads(line)
        except ValueError:
            return
        name = ev.get("event")
        events[name] = ev
        if name in ("loading", "prompt", "generation"):
            relay(name)

    return events, on_line


def completion_request(n_prompt: int, n_gen: int) -> dict:
    """A ``/completion`` body: ``n_prompt`` tokens in, ``n_gen`` (at least 1) out, greedy."""
    return {
        # Ordinary token ids (byte-level pieces in every real vocabulary), never special ones.
        "prompt": [256 + (i % 256) for i in range(n_prompt)],
        "n_predict": max(1, n_gen),
        "ignore_eos": True,
        "cache_prompt": False,
        "top_k": 1,
    }


def median(runs: list[dict], key: str):
    """The median of ``key`` over the repetitions that report it, like llama-bench's ``-r``."""
    vals = sorted(r[key] for r in runs if r.get(key) is not None)
    return vals[len(vals) // 2] if vals else None

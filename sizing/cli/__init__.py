"""`llm-sizing`: the command-line adapter over the sizing core.

Each subcommand lives in its own module exposing ``register(subparsers)``; the parser it
adds sets ``func(args) -> int``. Bad input (argparse or SizingError) exits 2 with one
line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import math
import os
import signal
import sys
import threading

from sizing.cli import calibrate, detect, estimate, finetune, fit, gpus, plan, schema, verify
from sizing.errors import SizingError
from sizing.text import plain

# Subcommand modules, in help order.
SUBCOMMANDS = (estimate, fit, plan, gpus, detect, verify, calibrate, finetune, schema)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exits 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="llm-sizing",
        description="Can I run this language model on this hardware, and how fast?",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def _reject_non_finite(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """argparse's ``type=float`` takes "nan" and "inf"; no flag of ours means either, and
    NaN slips through every ``x <= 0`` check, so refuse them here for every subcommand."""
    for key, value in vars(args).items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                flag = "--" + key.replace("_", "-")
                parser.exit(2, f"llm-sizing: error: {flag} must be a finite number, got {v}\n")


MAX_MESSAGE = 900  # characters of the message, after "llm-sizing: error: "


def _one_line(message: str) -> str:
    """Keep the promise of one readable stderr line even if a message spans several lines
    or echoes a huge input: the middle of an over-long message is cut."""
    line = " ".join(part.strip() for part in plain(message).split() if part.strip())
    if len(line) > MAX_MESSAGE:
        line = f"{line[: MAX_MESSAGE - 300]} … {line[-280:]}"
    return line


def main(argv: list[str] | None = None) -> int:
    if hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread():
        # `kill -USR1 PID` prints every thread's Python stack to stderr: how a stuck run is
        # diagnosed (not where stderr is no file, as when a caller captures it in memory)
        with contextlib.suppress(AttributeError, ValueError, OSError, RuntimeError):
            faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True, chain=False)
    parser = build_parser()
    args = parser.parse_args(argv)
    _reject_non_finite(parser, args)
    try:
        return int(args.func(args) or 0)
    except SizingError as exc:
        print(f"llm-sizing: error: {_one_line(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("llm-sizing: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the reader went away: not an error of ours.
        # Point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

"""`llm-sizing schema`: the JSON Schema of `estimate --json` (the published Answer shape).

Scripts that read ``estimate --json`` check its ``schema_version`` against this schema's.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from sizing.answer import json_schema


def register(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "schema",
        help="the JSON Schema of `estimate --json`",
        description="Print the JSON Schema of the object `llm-sizing estimate --json` prints.",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return 0

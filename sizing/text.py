"""Outside text on one line: what the CLI and the pages echo back must not carry its own
line breaks, terminal escape sequences or bidirectional overrides."""

from __future__ import annotations

import unicodedata

#: control (Cc: newlines, tabs, ESC…), format (Cf: bidi overrides, zero-width), line and
#: paragraph separators
_BREAKING = frozenset(("Cc", "Cf", "Zl", "Zp"))


def plain(text: object, limit: int | None = None) -> str:
    """``text`` on one line: control and format characters become spaces; cut to ``limit``."""
    s = "".join(" " if unicodedata.category(ch) in _BREAKING else ch for ch in str(text))
    if limit is not None and len(s) > limit:
        s = s[: max(0, limit - 1)] + "…"
    return s

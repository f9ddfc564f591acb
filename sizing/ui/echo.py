"""Show a visitor's own text back without letting it become page content.

Streamlit renders messages as Markdown: a link, an image, a heading, an icon directive
(``:material/…:``), a colour directive or LaTeX in an echoed value would be drawn as
the app's own. Every value that came from outside (a query parameter, a typed name, an
uploaded file's name or header, an error message quoting one of them) goes through
:func:`inert` before it is shown: control characters (newlines included) become spaces,
so nothing starts a new block, and every character Markdown (with GitHub's extensions
and Streamlit's directives) gives a meaning inside a line is backslash-escaped, which
CommonMark defines for any ASCII punctuation: no link, image, emphasis, code span,
HTML, LaTeX, ``:directive:``, autolink (``https://``, ``www.``, e-mail) or table.
"""

from __future__ import annotations

import re

from sizing.text import plain

#: inline Markdown syntax: links and images, emphasis, code, HTML and autolinks, LaTeX,
#: Streamlit's :icon: and :colour[...] directives, entities, tables
_INLINE = re.compile(r"([\\`*_\[\]()!<>~|$:@&#])")
_WWW = re.compile(r"(?i)(www)\.")
#: what still starts a block at the beginning of the text (#, >, * are escaped above):
#: a list item, an ordered list item, a rule
_BLOCK_START = re.compile(r"^([-+](?=\s|$)|\d{1,9}(?=[.)](?:\s|$))|-[-\s]*$|=[=\s]*$)")


def inert(text: object, limit: int | None = None) -> str:
    """``text`` as Markdown that renders as exactly these characters, on one line
    (``plain``: control characters become spaces)."""
    s = plain(text, limit).strip()
    s = _WWW.sub(r"\1\\.", _INLINE.sub(r"\\\1", s))
    m = _BLOCK_START.match(s)
    if m:
        s = s[: m.end()] + "\\" + s[m.end() :] if m.group(1)[0].isdigit() else "\\" + s
    return s

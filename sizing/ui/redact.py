"""Error messages a web visitor may see: the server's paths left out.

The core names files fully in its messages (on the command line that is what the user
typed and wants to see). In web mode a visitor never typed a path: the model folders,
the Hub cache, the working folder or a temporary folder in a message would only tell a
stranger how the server is laid out. Every path is cut to its last component there.
"""

from __future__ import annotations

import re

from sizing.ui.config import load_config

# An absolute POSIX path, a home-relative one, or a Windows drive path: the folders
# before the last component are dropped. Quotes and spaces end a path.
_PATH = re.compile(r"(?:(?<![\w.])~|(?<![\w.])[A-Za-z]:|(?<![\w.:/]))[/\\](?:[^\s/\\'\"`]+[/\\])*([^\s/\\'\"`]*)")


def without_paths(message: str) -> str:
    """``message`` with every path cut to its file name (``/srv/models/a.gguf`` -> ``a.gguf``)."""
    return _PATH.sub(lambda m: m.group(1) or "(a server folder)", message)


def shown_error(message: str) -> str:
    """What a visitor is shown for an error: in web mode, no server path."""
    return without_paths(message) if load_config().web_mode else message

"""A session keeps only its newest uploads: replayed upload requests cannot pile up in memory.

Streamlit refuses one upload over ``server.maxUploadSize`` (``sizing.ui.serve`` sets it
from the app's cap), but it stores every accepted upload under the file id the request
names, for as long as the session lives. A visitor who replays the upload request with
new file ids could keep any number of cap-sized files in the server's memory. This
middleware (installed by serve.py) lets each upload through and then trims the
session's files, oldest first, to ``MAX_FILES`` and twice the cap in bytes: the app's
largest legitimate use is a model header and its projector. The newest upload is always
kept, so the page a visitor is using still works.
"""

from __future__ import annotations

import re
from typing import Any

MAX_FILES = 8  # more than the app's uploaders on all pages
CAPS_PER_SESSION = 2  # a model header and its projector, each up to the cap

_UPLOAD_PATH = re.compile(r"/_stcore/upload_file/(?P<session>[^/]+)/(?P<file>[^/]+)$")


def _cap_bytes() -> int:
    from streamlit import config

    return int(config.get_option("server.maxUploadSize")) * 1024 * 1024


def trim_session(manager: Any, session_id: str, newest: str, max_bytes: int, max_files: int = MAX_FILES) -> int:
    """Remove ``session_id``'s oldest uploads beyond ``max_files`` or ``max_bytes``, never
    ``newest``; returns how many were removed. ``manager`` is Streamlit's uploaded file
    manager (``file_storage``: session -> file id -> record, in upload order)."""
    files = list((manager.file_storage.get(session_id) or {}).items())
    total = sum(len(rec.data) for _, rec in files)
    removed = 0
    for file_id, rec in files:
        if len(files) - removed <= max_files and total <= max_bytes:
            break
        if file_id == newest:
            continue
        manager.remove_file(session_id=session_id, file_id=file_id)
        total -= len(rec.data)
        removed += 1
    return removed


class SessionUploadLimit:
    """ASGI middleware: after each upload (PUT), trim that session's stored uploads."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        match = None
        if scope["type"] == "http" and scope.get("method") == "PUT":
            match = _UPLOAD_PATH.search(scope.get("path", ""))
        await self.app(scope, receive, send)
        if match is None:
            return
        from streamlit.runtime import Runtime

        if Runtime.exists():
            # the upload handler and this middleware run on the server's event loop, so
            # the session's files do not change while they are trimmed
            trim_session(
                Runtime.instance().uploaded_file_mgr,
                match["session"],
                match["file"],
                CAPS_PER_SESSION * _cap_bytes(),
            )

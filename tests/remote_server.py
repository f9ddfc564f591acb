"""A loopback HTTP server for remote-GGUF tests: files served with or without Range support,
redirects, gated and missing files, a slow answer, a cut-short transfer, and the two Hub
routes huggingface_hub uses (``/{repo}/resolve/{rev}/{file}``, ``/api/models/{repo}/tree/{rev}``).
Every byte it sends is counted, so a test can check how much a header read cost."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class Files:
    """path -> a local file (served from disk: sparse synthetic files cost nothing)."""

    def __init__(self) -> None:
        self.files: dict[str, Path] = {}
        self.sent = 0
        self.ranges: list[tuple[int, int]] = []
        self.lock = threading.Lock()

    def add(self, path: str, file: Path) -> None:
        self.files[path.lstrip("/")] = Path(file)

    def count(self, start: int, n: int) -> None:
        with self.lock:
            self.sent += n
            self.ranges.append((start, n))

    def reset(self) -> None:
        with self.lock:
            self.sent, self.ranges = 0, []


class Handler(BaseHTTPRequestHandler):
    files: Files
    slow_s = 3.0

    def log_message(self, *a):
        pass

    def _plain(self, code: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _tree(self, repo: str) -> None:
        prefix = repo + "/resolve/main/"
        items = [
            {"type": "file", "path": p[len(prefix) :], "size": f.stat().st_size, "oid": "0" * 40}
            for p, f in sorted(self.files.files.items())
            if p.startswith(prefix)
        ]
        if not items:
            return self._plain(404, b"{}", {"X-Error-Code": "RepoNotFound", "Content-Type": "application/json"})
        self._plain(200, json.dumps(items).encode(), {"Content-Type": "application/json"})

    def do_GET(self):  # noqa: C901 - one branch per behaviour the tests need
        path = unquote(urlsplit(self.path).path).lstrip("/")
        if path.startswith("api/models/") and "/tree/" in path:
            return self._tree(path[len("api/models/") :].split("/tree/")[0])
        mode, _, rest = path.partition("/")
        if mode == "redirect":
            return self._plain(302, b"", {"Location": "/" + rest})
        if mode == "gated":
            return self._plain(401, b"gated", {"X-Error-Code": "GatedRepo"})
        if mode == "forbidden":
            return self._plain(403, b"no")
        if mode == "slow":
            time.sleep(self.slow_s)
            path = rest
        target = rest if mode in ("norange", "short") else path
        f = self.files.files.get(target)
        if f is None:
            return self._plain(404, b"not found", {"X-Error-Code": "EntryNotFound"})
        size = f.stat().st_size
        rng = self.headers.get("Range")
        if mode == "norange" or not rng:
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            sent = 0
            try:
                with open(f, "rb") as fh:
                    while sent < size:
                        chunk = fh.read(min(1 << 20, size - sent))
                        self.wfile.write(chunk)
                        sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.files.count(0, sent)
            return
        start_s, end_s = rng.split("=", 1)[1].split("-")
        start = int(start_s)
        end = min(int(end_s) if end_s else size - 1, size - 1)
        if start >= size:
            return self._plain(416, b"", {"Content-Range": f"bytes */{size}"})
        with open(f, "rb") as fh:
            fh.seek(start)
            body = fh.read(end - start + 1)
        if mode == "short":
            body = body[: max(1, len(body) // 2)]
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.files.count(start, len(body))

    do_HEAD = do_GET


def serve(files: Files) -> ThreadingHTTPServer:
    handler = type("H", (Handler,), {"files": files})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server

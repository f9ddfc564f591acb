"""What serve.py adds to Streamlit's own server: a /healthz route, the pages' base
address written into the page so that deep links do not probe missing addresses, and a
bound on the uploads a session keeps (``sizing.ui.upload_limit``)."""

from __future__ import annotations


from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

# The pages' addresses (sizing.ui.navigation; a test keeps the two in step). Not imported
# from there: the pages load the app's caches, which must wait for the runtime.
PAGE_PATHS = ("run", "run-home", "plan", "runs-well", "machine", "compare", "finetune")


async def healthz(request: Request) -> Response:
    """200 while the runtime accepts browser sessions; 503 while starting or stopping."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return PlainTextResponse("starting", status_code=503)
    ok, message = await Runtime.instance().is_ready_for_browser_connection
    return PlainTextResponse("ok" if ok else message, status_code=200 if ok else 503)


def routes() -> list[Route]:
    return [Route("/healthz", healthz, methods=["GET", "HEAD"])]


# Opened at /compare, Streamlit's page script first looks for the server under /compare/
# (a 404 for /compare/_stcore/health and /host-config) before trying /. Its documented
# host setting window.__streamlit.BACKEND_BASE_URL names the server's address instead;
# it is the page's own address less the page's name, so a proxy's path prefix is kept.
_BASE_SCRIPT = (
    "<script>(function(){var p=location.pathname.replace(/[^/]+\\/?$/,'');"
    "window.__streamlit=Object.assign(window.__streamlit||{},{BACKEND_BASE_URL:location.origin+p});})();</script>"
)


def _is_page(path: str) -> bool:
    return path.rstrip("/").rsplit("/", 1)[-1] in PAGE_PATHS


class PageBaseMiddleware:
    """For a page's own address (``/compare``), add ``_BASE_SCRIPT`` to the HTML Streamlit
    serves there. Everything else passes through untouched."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or not _is_page(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        # the page is a few kB: ask the inner server for it uncompressed, then edit it
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k.lower() != b"accept-encoding"]}
        start: dict = {}
        chunks: list[bytes] = []

        async def edit(message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            ctype = dict((k.lower(), v) for k, v in headers).get(b"content-type", b"")
            if start.get("status") == 200 and ctype.startswith(b"text/html") and b"<head>" in body:
                body = body.replace(b"<head>", b"<head>" + _BASE_SCRIPT.encode(), 1)
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, edit)


def middleware() -> list:
    from starlette.middleware import Middleware

    from sizing.ui.upload_limit import SessionUploadLimit

    return [Middleware(PageBaseMiddleware), Middleware(SessionUploadLimit)]


__all__ = ["PAGE_PATHS", "PageBaseMiddleware", "healthz", "middleware", "routes"]

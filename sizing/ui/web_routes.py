"""HTTP routes served beside the app (mounted by serve.py on Streamlit's own server)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route


async def healthz(request: Request) -> Response:
    """200 while the runtime accepts browser sessions; 503 while starting or stopping."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return PlainTextResponse("starting", status_code=503)
    ok, message = await Runtime.instance().is_ready_for_browser_connection
    return PlainTextResponse("ok" if ok else message, status_code=200 if ok else 503)


async def page_health(request: Request) -> Response:
    return await healthz(request)


async def page_host_config(request: Request) -> Response:
    # the root answers it; a page's copy is only ever a first guess of the browser
    return RedirectResponse(url="/_stcore/host-config", status_code=307)


# The pages' addresses (sizing.ui.navigation; a test keeps the two in step). Not imported
# from there: the pages load the app's caches, which must wait for the runtime.
PAGE_PATHS = ("run", "run-home", "plan", "runs-well", "machine", "compare", "finetune")


def routes() -> list[Route]:
    out = [Route("/healthz", healthz, methods=["GET", "HEAD"])]
    for path in PAGE_PATHS:
        out.append(Route(f"/{path}/_stcore/health", page_health, methods=["GET", "HEAD"]))
        out.append(Route(f"/{path}/_stcore/host-config", page_host_config, methods=["GET"]))
    return out

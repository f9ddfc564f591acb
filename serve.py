"""Serving entry point: the app (app.py) plus the small HTTP routes a server needs.

``streamlit run serve.py`` (what ``make run`` and the Dockerfile use) or
``uvicorn serve:app`` serve the same pages as ``streamlit run app.py``, and add:

- ``/healthz``: 200 "ok" while the Streamlit runtime accepts sessions, else 503 — what a
  load balancer or orchestrator probes (the same check as Streamlit's /_stcore/health).
- ``/<page>/_stcore/health`` and ``/<page>/_stcore/host-config``: a page opened by its own
  address (``/compare?...``) makes the browser try these under the page's path before the
  root ones; answering them here keeps deep links from logging 404s.
"""

from streamlit.starlette import App

from sizing.ui.web_routes import routes

app = App("app.py", routes=routes())

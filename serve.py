"""Serving entry point: the app (app.py) plus what a server needs.

``streamlit run serve.py`` (what ``make run`` and the Dockerfile run) or
``uvicorn serve:app`` serve the same pages as ``streamlit run app.py``, and add:

- ``/healthz``: 200 "ok" while the Streamlit runtime accepts sessions, else 503 — what a
  load balancer or orchestrator probes (the same check as Streamlit's ``/_stcore/health``,
  under the name such tools expect);
- deep links (``/compare?…``) that find the server at once instead of first probing
  ``/compare/_stcore/health`` (a 404 in every browser console and proxy log).
"""

from streamlit.starlette import App

from sizing.ui.web_routes import middleware, routes

app = App("app.py", routes=routes(), middleware=middleware())

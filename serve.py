"""Serving entry point: the app (app.py) plus what a server needs.

``streamlit run serve.py`` (what ``make run`` and the Dockerfile run) or
``uvicorn serve:app`` serve the same pages as ``streamlit run app.py``, and add:

- ``/healthz``: 200 "ok" while the Streamlit runtime accepts sessions, else 503 — what a
  load balancer or orchestrator probes (the same check as Streamlit's ``/_stcore/health``,
  under the name such tools expect);
- deep links (``/compare?…``) that find the server at once instead of first probing
  ``/compare/_stcore/health`` (a 404 in every browser console and proxy log);
- a garbage collector tuned for a server whose caches hold a few hundred thousand objects;
- worker processes for the pure searches, so reruns use more than one core
  (``sizing.ui.offload``; ``LLM_SIZING_WORKERS`` sets how many).
"""

import gc

from streamlit.starlette import App

from sizing.ui import offload
from sizing.ui.web_routes import middleware, routes

app = App("app.py", routes=routes(), middleware=middleware())

# Python's collector runs after every 700 new container objects, and about every 100th run
# walks the whole heap (the catalog, the GPU database, the estimators' bounded caches):
# ~125 ms here, a stall in whichever rerun set it off. From its start through 30 s of
# bench/load.py's 10 sessions, the server spent 2.2 s collecting, 10 full walks among it;
# running after every 50,000 new objects, 0.5 s and 2 (garbage cycles wait a little longer).
gc.set_threshold(50_000, 10, 10)

offload.start()

# The app served in web mode: `docker build -t llm-sizing . && docker run -p 8501:8501 llm-sizing`
# (or `docker compose up`). Web mode: no live checks, no server files beyond LLM_SIZING_MODEL_DIRS,
# header-only capped uploads; the GPU database and catalog stand in for "this machine".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LLM_SIZING_WEB_MODE=1 \
    HF_HUB_OFFLINE=1 \
    LLM_SIZING_HOME=/tmp/llm-sizing \
    PYTHONPATH=/app

WORKDIR /app
# dependencies first, so a code change does not reinstall them; the app itself runs from
# /app (its data files sit beside the package), not from an installed copy
COPY pyproject.toml README.md ./
COPY sizing/__init__.py sizing/__init__.py
RUN pip install . && pip uninstall -y llm-sizing
COPY app.py serve.py ./
COPY .streamlit .streamlit
COPY sizing sizing
RUN useradd --create-home --uid 10001 app
USER app

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/healthz', timeout=4).status == 200 else 1)"
# sizing.ui.serve runs `streamlit run serve.py` with server.maxUploadSize from LLM_SIZING_UPLOAD_CAP_MB
CMD ["python", "-m", "sizing.ui.serve", "--address", "0.0.0.0", "--port", "8501"]

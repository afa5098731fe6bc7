# The two commands the README promises: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench setup

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,postgres,redis,otel]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/req-llm-gateway serve --host $${HOST:-127.0.0.1} --port $${PORT:-4000}

test: $(STAMP)
	bash scripts/system-deps.sh
	PYTHON=$(PY) bash deploy/check.sh --install-only
	$(PY) -m pytest $(PYTEST_ARGS)

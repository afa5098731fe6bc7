# The two commands the README promises: `make run` and `make test`. Both set themselves up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-full setup

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,postgres,redis,otel,statsd,bedrock,fast]'
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/req-llm-gateway serve --host $${HOST:-127.0.0.1} --port $${PORT:-4000}

test: $(STAMP)
	bash scripts/system-deps.sh chromium redis-server postgresql
	PYTHON=$(PY) bash deploy/check.sh --install-only
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy --strict src/req_llm_gateway
	# CPU guard: fails only past a generous ceiling of gateway CPU per request (never wall-clock time).
	$(PY) bench/guard.py --max-cpu-ms 1.5 --max-stream-cpu-ms 5 --max-embeddings-cpu-ms 1.5
	$(PY) -m pytest $(PYTEST_ARGS)

# Side by side with nginx and LiteLLM (installed by the script): about 3 minutes; bench-full about 10.
bench: $(STAMP)
	bash bench/run.sh

bench-full: $(STAMP)
	bash bench/run.sh --full

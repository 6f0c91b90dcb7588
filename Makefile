# Opinara: `make run` starts the API on the embedded default with demo data, `make test` runs the whole suite. Both set up .venv first.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test browser alertmanager prometheus lint format bench evaluate clean

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned, so that nothing pulls a multi-GB CUDA build in its place.
	$(BIN)/pip install --quiet --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/opinara serve --demo --dashboard

test: $(STAMP) browser alertmanager prometheus
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# Debian's chromium for the dashboard screenshot test; without it (no root, no apt) that test skips, or fails under CI=true.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null 2>&1; }; }; } || \
	  echo "chromium could not be installed: the dashboard screenshot test will skip (and fail under CI=true)"

# Debian's Alertmanager, a real receiver for the alert channel test; without it that test skips (fails under CI=true).
alertmanager:
	@command -v prometheus-alertmanager >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus-alertmanager >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus-alertmanager >/dev/null 2>&1; }; }; } || \
	  echo "prometheus-alertmanager could not be installed: the Alertmanager receiver test will skip (and fail under CI=true)"

# Debian's Prometheus (promtool, and a real server that scrapes Opinara) for the Prometheus rules and dashboard tests; without it those tests skip (fail under CI=true).
prometheus:
	@command -v promtool >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null 2>&1; }; }; } || \
	  echo "prometheus could not be installed: the Prometheus rules and dashboard tests will skip (and fail under CI=true)"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/analyze_throughput.py

evaluate: $(STAMP)
	$(BIN)/python bench/evaluate_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

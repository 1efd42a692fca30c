# The two commands the README gives: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := tests/interop/node_modules/.installed

.PHONY: serve test lint coverage bench callgrind system-deps clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "python3 is required"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { sh scripts/ensure-system-deps.sh python && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

serve: $(STAMP)
	$(BIN)/bayeux-broker serve --host 127.0.0.1 --port 8000 --mount /faye

system-deps:
	sh scripts/ensure-system-deps.sh node redis chromium

$(NODE_STAMP): tests/interop/package.json tests/interop/package-lock.json
	cd tests/interop && npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

coverage: $(STAMP)
	$(BIN)/python -m pytest tests/protocol -q -p no:cacheprovider --cov=protocol --cov-branch \
		--cov-report=term-missing:skip-covered --cov-fail-under=100

test: system-deps $(STAMP) $(NODE_STAMP) lint coverage
	$(BIN)/python -m pytest

bench: system-deps $(STAMP)
	$(BIN)/python -m bench

# deterministic instruction counts of the hot paths (docs/benchmarks.md): WebSocket fan-out, long-polling
callgrind: $(STAMP)
	@command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)"; exit 1; }
	$(BIN)/python -m bench.callgrind

clean:
	rm -rf $(VENV) tests/interop/node_modules bench/node_modules

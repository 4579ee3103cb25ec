# urbanbrain developer entry points. The README names two: `make demo` and `make test`.
# Every target bootstraps .venv first (fast when nothing changed; see scripts/bootstrap.sh).

VENV ?= .venv
PY := $(VENV)/bin/python
UB := $(VENV)/bin/urbanbrain
# Extra arguments for the demo/serve command, e.g. `make serve ARGS="--port 9000"`.
ARGS ?=
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-x tests/core"`.
PYTEST_ARGS ?=
PYTEST_TIMEOUT ?= 600
# Lint only the folders that exist (bench/ may not yet).
LINT_PATHS := $(wildcard src tests bench)

.PHONY: all help bootstrap services demo serve test test-slow lint bench

all: help

help:
	@echo "make demo      build, sync and serve the demo city (console on http://127.0.0.1:8080)"
	@echo "make serve     run 'urbanbrain serve'"
	@echo "make test      the test suite without the slow scale tests (starts PostgreSQL and MariaDB if needed)"
	@echo "make test-slow only the slow scale tests (400-system demo, local Ray cluster: 50 systems, split object, linking; workers + serve); CI runs it after make test"
	@echo "make lint      ruff + mypy"
	@echo "make bench     run the benchmarks (bench/run.py)"

bootstrap:
	@bash scripts/bootstrap.sh

services:
	@bash scripts/services.sh postgres mariadb

demo: bootstrap
	@bash scripts/services.sh postgres mariadb || echo "make demo: database servers unavailable; the demo uses SQLite files instead" >&2
	$(UB) demo $(ARGS)

serve: bootstrap
	$(UB) serve $(ARGS)

# pytest exit code 5 means "no tests collected": that is a broken suite, not a pass.
test: bootstrap
	@bash scripts/services.sh postgres mariadb redis mosquitto nats
	@bash scripts/browser.sh
	@timeout_opt=""; \
	if $(PY) -c 'import pytest_timeout' >/dev/null 2>&1; then timeout_opt="--timeout=$(PYTEST_TIMEOUT)"; fi; \
	echo "$(PY) -m pytest -q -m \"not slow\" -p no:cacheprovider $$timeout_opt $(PYTEST_ARGS)"; \
	$(PY) -m pytest -q -m "not slow" -p no:cacheprovider $$timeout_opt $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: FAILED: pytest collected no tests (exit 5)" >&2; fi; \
	exit $$rc

# The slow stage: scale tests marked `slow` (the 400-system demo), each with its own generous hang guard.
PYTEST_SLOW_TIMEOUT ?= 4000
test-slow: bootstrap
	@bash scripts/services.sh postgres mariadb
	@echo "$(PY) -m pytest -q -m slow -p no:cacheprovider --timeout=$(PYTEST_SLOW_TIMEOUT) $(PYTEST_ARGS)"; \
	$(PY) -m pytest -q -m slow -p no:cacheprovider --timeout=$(PYTEST_SLOW_TIMEOUT) $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test-slow: FAILED: pytest collected no slow tests (exit 5)" >&2; fi; \
	exit $$rc

# Both linters always run, so one pass reports everything; either failing fails the target.
# RUFF_FORMAT=full shows each finding with its source context and suggested fix.
RUFF_FORMAT ?= concise
lint: bootstrap
	@rc=0; \
	echo "$(VENV)/bin/ruff check --output-format=$(RUFF_FORMAT) $(LINT_PATHS)"; \
	$(VENV)/bin/ruff check --output-format=$(RUFF_FORMAT) $(LINT_PATHS) || rc=1; \
	echo "$(VENV)/bin/mypy"; \
	$(VENV)/bin/mypy || rc=1; \
	echo "$(VENV)/bin/mypy bench  (benchmarks call the package: a changed signature must fail here, not mid-run)"; \
	$(VENV)/bin/mypy bench || rc=1; \
	exit $$rc

bench: bootstrap
	@bash scripts/services.sh postgres mariadb
	$(PY) bench/run.py $(ARGS)

# Ruta de Mejoramiento. `make run` and `make test` do all the set-up on a fresh machine.
# The newest Python from 3.11 on that runs on this machine (a name on the PATH that does not
# start, such as a pyenv shim of a version not enabled, is skipped). Another one:
# make PYTHON=/ruta/a/python3.13 test (with a fresh .venv: make clean first).
PYTHON ?= $(shell for v in 3.14 3.13 3.12 3.11; do python$$v -c '' >/dev/null 2>&1 && { echo python$$v; exit 0; }; done; echo python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export RUTA_ENV ?= development

.PHONY: run test test-other-python lint bench demo states clean

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
	  { echo "Se necesita Python 3.11 o más reciente (se probó «$(PYTHON)»)."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

node_modules/.installed: package.json package-lock.json
	npm ci --silent --no-audit --no-fund
	touch $@

## run: the service with demo data on an embedded SQLite database, at http://127.0.0.1:5000,
## beside the scheduler (reminders, outbox delivery) and a local SMTP server on 127.0.0.1:8025
## that keeps every message in instance/correo/ (also readable on «Correo saliente»).
## Stopping the web server (Ctrl-C) stops the other two: the trap sends them TERM.
run: $(STAMP)
	mkdir -p instance
	$(BIN)/ruta init-db
	$(BIN)/ruta demo --if-empty
	@trap 'kill $$scheduler $$sink 2>/dev/null; wait $$scheduler $$sink 2>/dev/null' EXIT INT TERM; \
	$(BIN)/python -m jobs.smtp_sink --port 8025 --dir instance/correo & sink=$$!; \
	$(BIN)/ruta scheduler & scheduler=$$!; \
	$(BIN)/ruta run --host 127.0.0.1 --port 5000

## test: the whole suite (SQLite always; PostgreSQL too when TEST_DATABASE_URL is set), in
## PYTEST_WORKERS processes (pytest-xdist; 0 runs everything in one process); a worker that
## runs out of tests takes some from the other (worksteal), so no long test ends alone
PYTEST_WORKERS ?= 2
test: $(STAMP) node_modules/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

## test-other-python: the suite once more under a second Python, so a release of the language
## that the Secretaría's server may have does not break the service unseen. The newest runnable
## python3.1x (3.12 on) whose minor version differs from the one of .venv, from the PATH or
## from pyenv's folder; its own virtual environment in .venv-other. It runs the SQLite legs of
## the database tests and every test without a database (all the domain and web code); with
## TEST_DATABASE_URL also the PostgreSQL legs of the race tests (psycopg's compiled wheel under
## real concurrency) and the review path in Chromium (playwright's). OTHER_SELECTION narrows
## the first part: CI runs `make test` without the SQLite legs, then this with the SQLite legs
## alone, so each test runs once at least and the domain and web code on both Pythons (see
## .ci/run). Without a second Python it says so (and fails under CI=true).
OTHER_PYTHON ?= $(shell own=$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null); \
  for v in 3.14 3.13 3.12; do [ "$$v" = "$$own" ] && continue; \
  for p in python$$v /usr/bin/python$$v /root/.pyenv/versions/$$v*/bin/python$$v; do \
  $$p -c '' >/dev/null 2>&1 && { echo $$p; exit 0; }; done; done)
OTHER_VENV := .venv-other
OTHER_POSTGRES_TESTS := tests/core/test_race.py tests/core/test_form_tokens.py
OTHER_BROWSER_TESTS := tests/browser/test_review_flow.py
OTHER_SELECTION ?= -k "not postgresql"
test-other-python: $(STAMP) node_modules/.installed
	@if [ -z "$(OTHER_PYTHON)" ]; then \
	  echo "No hay un segundo Python (3.12 o más reciente) en esta máquina."; \
	  [ "$$CI" != "true" ]; exit $$?; fi
	@echo "Second Python: $$($(OTHER_PYTHON) --version)"
	@# Installed again only when the dependencies changed (or the second Python did).
	@if [ ! -f $(OTHER_VENV)/.installed ] || [ setup.cfg -nt $(OTHER_VENV)/.installed ] || \
	    [ pyproject.toml -nt $(OTHER_VENV)/.installed ] || \
	    [ "$$(cat $(OTHER_VENV)/.installed)" != "$(OTHER_PYTHON)" ]; then \
	  rm -rf $(OTHER_VENV) && $(BIN)/uv venv --quiet --python $(OTHER_PYTHON) $(OTHER_VENV) && \
	  $(BIN)/uv pip install --quiet --python $(OTHER_VENV)/bin/python -e '.[test]' && \
	  echo "$(OTHER_PYTHON)" > $(OTHER_VENV)/.installed; fi
	env -u TEST_DATABASE_URL $(OTHER_VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) \
	  --dist worksteal -m "not browser and not postgres" $(OTHER_SELECTION) \
	  --ignore=tests/browser $(PYTEST_ARGS)
	@if [ -n "$$TEST_DATABASE_URL" ]; then \
	  echo "PostgreSQL and Chromium under $$($(OTHER_PYTHON) --version)"; \
	  $(OTHER_VENV)/bin/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal \
	    -k "postgresql or not sqlite" $(OTHER_POSTGRES_TESTS) $(OTHER_BROWSER_TESTS); \
	else echo "Sin TEST_DATABASE_URL: las pruebas en PostgreSQL y Chromium de este Python no corren."; \
	  [ "$$CI" != "true" ]; fi

## bench: national scale on PostgreSQL (see BENCHMARKS.md): every main page of every role, the
## daily pass, delivery and the exports at 100, 1,000 and 10,000 schools, in one table.
## BENCH_DATABASE_URL: a scratch database, wiped (default: bench on the local PostgreSQL,
## created if missing). BENCH_QUICK=1 stops at 1,000 schools with shorter measurements.
## The older, narrower benches still run by hand: python -m bench.run, bench.mail,
## bench.slow_link.
BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/bench
bench: $(STAMP)
	BENCH_DATABASE_URL="$(BENCH_DATABASE_URL)" $(BIN)/python -m bench.scale

lint: $(STAMP)
	$(BIN)/ruff check .

states: $(STAMP)
	$(BIN)/ruta states --format mermaid

clean:
	rm -rf $(VENV) $(OTHER_VENV) node_modules .pytest_cache .ruff_cache *.egg-info

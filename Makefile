# commhub: two commands do everything.
#   make run   -> the embedded service: web on 127.0.0.1:$(PORT), a Celery worker and beat; Ctrl-C stops all
#   make test  -> the test suite (PostgreSQL + Redis when reachable; the first line says which)

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000

.PHONY: run test lint typecheck check bench clean help

help:
	@echo "make run    run commhub (embedded: SQLite, filesystem broker, captured email/SMS) on 127.0.0.1:$(PORT)"
	@echo "make test   run the test suite"
	@echo "make lint   ruff check and ruff format --check"
	@echo "make typecheck  mypy (django-stubs, djangorestframework-stubs)"
	@echo "make check  lint, typecheck, then the tests (what .ci/run does)"
	@echo "make bench  run the benchmarks in bench/ (see README)"

$(VENV)/.installed: requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $@

run: $(VENV)/.installed
	PORT=$(PORT) $(PY) -m commhub.embedded

test: $(VENV)/.installed-dev
	$(PY) scripts/run_tests.py $(ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# DEBUG=true: mypy's Django plugin loads the settings, which refuse the development keys without it.
typecheck: $(VENV)/.installed-dev
	DEBUG=true $(VENV)/bin/mypy

check: lint typecheck test

bench: $(VENV)/.installed-dev
	bash bench/run_all.sh

clean:
	rm -rf $(VENV) data

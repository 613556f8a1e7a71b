# The two commands: `make run` (demo on the embedded default) and `make test` (the whole suite).
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: run test setup services lint typecheck pytest bench bench-smoke docs clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[all,dev]'
	touch $@

services:
	bash scripts/ensure-services.sh

run: setup
	$(PY) -m subwarden.demo

lint: setup
	$(VENV)/bin/ruff check src tests bench

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup services
	$(VENV)/bin/pytest

test: setup services lint typecheck pytest

docs: setup
	$(VENV)/bin/subwarden errors --markdown > docs/errors.md

bench: setup
	$(PY) bench/run.py

bench-smoke: setup
	$(PY) bench/run.py --smoke

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache

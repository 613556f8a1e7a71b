# The two commands: `make run` (demo on the embedded default) and `make test` (the whole suite).
VENV   ?= .venv
PY     := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: run test setup native services lint typecheck pytest pytest-pure bench bench-smoke docs clean

setup: $(VENV)/.installed native

# mypyc build of the data plane's hot modules (build/native); rebuilt only when their sources change,
# and ignored at run time unless it matches them (src/subwarden/native.py).
native: $(VENV)/.installed
	$(PY) scripts/build_native.py

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
	SUBWARDEN_NATIVE=1 $(VENV)/bin/pytest

# The compiled modules' tests again on pure Python: the fallback when no native build is present.
# One run per folder: the folders import their own conftest helpers by bare name.
pytest-pure: setup
	for d in http identity observe pipeline tokens; do SUBWARDEN_NATIVE=0 $(VENV)/bin/pytest tests/$$d -q || exit 1; done

test: setup services lint typecheck pytest pytest-pure

docs: setup
	$(VENV)/bin/subwarden errors --markdown > docs/errors.md

bench: setup
	$(PY) bench/run.py

bench-smoke: setup
	$(PY) bench/run.py --smoke

clean:
	rm -rf $(VENV) var build .mypy_cache .ruff_cache

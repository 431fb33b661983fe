# Two commands for a newcomer: `make demo` and `make test`. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench fetch clean requirements check-lock

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U "pip>=25.1"
	$(BIN)/python -m pip install -q -c constraints.txt -e . --group dev
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/digestbot demo

fetch: $(STAMP)
	$(BIN)/digestbot fetch

# Two workers, one module per worker at a time (module fixtures stay shared); half the wall time on 2 cores.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check src tests tools
	$(BIN)/ruff format --check src tests tools
	$(BIN)/mypy

# requirements.txt: the lock the Heroku buildpack installs (runtime deps pinned as in constraints.txt).
requirements: $(STAMP)
	$(BIN)/python tools/requirements_lock.py

check-lock: $(STAMP)
	$(BIN)/python tools/requirements_lock.py --check

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

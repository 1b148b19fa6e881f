# One target per task; the same commands locally and in CI.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install lint typecheck test test-slow bench bench-quick bench-retrieval bench-peers demo docs clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

lint: install
	$(BIN)/ruff check headroom tests benchmarks examples scripts
	$(BIN)/ruff format --check headroom tests benchmarks examples scripts
	$(BIN)/mypy

typecheck: install
	$(BIN)/mypy

test: install
	$(BIN)/pytest -q -m "not slow"

test-slow: install
	$(BIN)/pytest -q -m slow

bench: install
	$(BIN)/python -m benchmarks

bench-quick: install
	$(BIN)/python -m benchmarks --quick

bench-retrieval: install
	$(BIN)/python -m benchmarks.retrieval

demo: install
	$(BIN)/python -m headroom.demo

docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache

bench-peers: install
	$(BIN)/python -m benchmarks.peers

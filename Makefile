# Hamster: two commands.
#   make run   - install into .venv and start the server on 127.0.0.1:9000, data in ./data
#   make test  - install with test extras and run lint, types and the whole suite
#   make compat - only the real-client scenarios (tests/compat; part of make test too)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= ./data
LISTEN ?= 127.0.0.1:9000

.PHONY: run test compat install install-test lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'

run: install
	$(BIN)/hamster serve --data $(DATA) --listen $(LISTEN)

lint: install-test
	$(BIN)/ruff check hamster sim tests bench
	$(BIN)/lint-imports --no-cache

typecheck: install-test
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -q

compat: install-test
	$(BIN)/python -m pytest -q tests/compat

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache

# Hamster: two commands.
#   make run   - install into .venv and start the server on 127.0.0.1:9000, data in ./data
#   make test  - install with test extras and run lint, types and the whole suite
#   make compat - only the real-client scenarios (tests/compat; part of make test too)
#   make sim   - the crash simulation, seeds 0..999 (make test runs a time-boxed part of it)
#   make mutate - mutation testing of hamster/storage, s3 and auth (slow; docs/testing.md)
#   make bench - Hamster against moto and SeaweedFS (small objects, large objects,
#                the machine's limits), writes docs/benchmarks.md and its charts
#                (QUICK=1: one short round of each; not part of make test)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= ./data
LISTEN ?= 127.0.0.1:9000

.PHONY: run test compat sim mutate bench install install-test install-bench lint typecheck clean

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

# How long `make test` spends on simulation seeds (seeds 0, 1, 2, ... until the time box).
SIM_SECONDS ?= 60

test: lint typecheck
	$(BIN)/python -m pytest -q
	$(BIN)/hamster-sim --seeds 1000 --max-seconds $(SIM_SECONDS) --quiet

sim: install-test
	$(BIN)/hamster-sim --seeds 1000

# MUTATE_ARGS: e.g. "s3" for one package, or drop --fresh to reuse build/mutate's cache.
MUTATE_ARGS ?= --fresh

mutate: install-test
	$(BIN)/python -m pip install -q -e '.[test,mutate]'
	$(BIN)/python bench/mutate.py $(MUTATE_ARGS)

# The load generators are Debian's (wrk; hey for HEAD, which wrk 4.1 cannot drive),
# and so is nginx (nginx-light: the loopback GET limit), installed when missing
# like .ci/run installs the clients.
install-bench: $(BIN)/python
	@missing=""; for tool in wrk hey; do \
	  command -v $$tool >/dev/null 2>&1 || missing="$$missing $$tool"; done; \
	command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing="$$missing nginx-light"; \
	if [ -n "$$missing" ]; then \
	  sudo_cmd=""; [ "$$(id -u)" -ne 0 ] && sudo_cmd="sudo"; \
	  $$sudo_cmd apt-get update && $$sudo_cmd apt-get install -y $$missing; fi
	$(BIN)/python -m pip install -q -e '.[test,bench]'

bench: install-bench
	$(BIN)/python -m bench.all $(if $(filter 1 yes true,$(QUICK)),--quick)

compat: install-test
	$(BIN)/python -m pytest -q tests/compat

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache

# The two commands of the README: `make run` and `make test`. Both create or reuse .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck check fuzz clean

$(STAMP): pyproject.toml clients/python/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The sender client first: the service depends on it (a distribution of this repository, not on PyPI).
	$(BIN)/python -m pip install --quiet -e 'clients/python[maskinporten]'
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/altinn-notifications serve

# Test processes (pytest-xdist), each with its own database: `make test TEST_WORKERS=0` runs in one process.
# 3 was the fastest on 2 cores (the tests mostly wait on PostgreSQL, sockets and timers). `worksteal`, not
# `loadscope`/`loadgroup`: those key tests by node id, and the fuzz test's cases all share one node id.
TEST_WORKERS ?= 3

test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check src tests clients/python
	$(BIN)/ruff format --check src tests clients/python

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

fuzz: $(STAMP)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-500} $(BIN)/python -m pytest tests/api/test_fuzz.py -q

clean:
	rm -rf $(VENV) .data .pytest_cache .mypy_cache

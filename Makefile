# The two commands a newcomer needs: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck bench bench-quick soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/streams demo

lint: $(STAMP)
	$(BIN)/ruff check streams schemas tests bench
	$(BIN)/ruff format --check streams schemas tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# pytest exits 5 when it collects no tests; that is a failure here, never a pass.
test: lint typecheck
	$(BIN)/pytest -q

# Benchmarks (not part of `make test`: tests never time anything). Writes bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick

# Longer reliability variants (crash/rebalance soaks); not part of `make test`.
soak: $(STAMP)
	STREAMS_SOAK=1 $(BIN)/pytest -q tests/reliability -m soak

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

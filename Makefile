# The README's two commands. Both create .venv if it is missing and install the study into it.
#   make book   generate the synthetic cities, execute every chapter, build _build/html
#   make test   lint, format check, and the test suite
#   make bench  the benchmarks (benchmarks/), written to benchmarks/results.json (< 10 min, 2 cores);
#               the clustering benchmark on public data (bench_cluster.py, ~20 min) installs the
#               optional extra "bench" (aeon, whose wheel holds the UCR/UEA sets) with --no-deps
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= ci
STAMP := $(VENV)/.installed-stamp

.PHONY: install book test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

book: install
	$(BIN)/dstc book build --profile $(PROFILE)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/run_all.py
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'aeon==1.6.0'
	$(BIN)/python benchmarks/bench_cluster.py

clean:
	rm -rf _build data/cache

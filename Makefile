# The README's two commands. Both create .venv if it is missing and install the study into it.
#   make book   generate the synthetic cities, execute every chapter, build _build/html
#   make test   lint, format check, and the test suite
#   make bench  the benchmarks (benchmarks/), written to benchmarks/results.json (< 10 min, 2 cores);
#               the clustering benchmark on public data (bench_cluster.py, ~20 min) installs the
#               optional extra "bench" (aeon, whose wheel holds the UCR/UEA sets) with --no-deps;
#               bench_city.py (~1 h) scores the contrastive variants on two synthetic cities
#   make publish  the book, its HTML check, then _build/html pushed to the gh-pages branch with
#                 ghp-import (GitHub Pages); DRY_RUN=1 builds and checks, then prints the push
#                 instead of doing it
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= ci
# chapters executed at once: 2 for the small ci book (most chapters use one core); 1 for the
# others, whose chapters each may take up to 8 GB at real size
JOBS ?= $(if $(filter ci,$(PROFILE)),2,1)
STAMP := $(VENV)/.installed-stamp
PUBLISH_STAMP := $(VENV)/.publish-stamp
DRY_RUN ?= 0
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
GHP_IMPORT := $(BIN)/ghp-import -n -p -f -m "The book, built from $(COMMIT) with the $(PROFILE) profile" _build/html

.PHONY: install book test lint bench publish clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

book: install
	$(BIN)/dstc book build --profile $(PROFILE) --jobs $(JOBS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/run_all.py
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps 'aeon==1.6.0' 'deprecated>=1.2' 'wrapt>=1.10'
	$(BIN)/python benchmarks/bench_cluster.py
	$(BIN)/python benchmarks/bench_city.py

$(PUBLISH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,publish]'
	touch $(PUBLISH_STAMP)

# -n: a .nojekyll file (GitHub Pages serves _static/ as it is), -p: push, -f: replace gh-pages
publish: book $(PUBLISH_STAMP)
	$(BIN)/python ci/check_html.py --root . --html _build/html --log _build/jupyter-book.log --figure-pages all
ifeq ($(DRY_RUN),1)
	@echo "dry run: would push $$(find _build/html -type f | wc -l) files of _build/html to the gh-pages branch of $$(git remote get-url origin 2>/dev/null || echo 'origin (not set here)') with:"
	@echo '$(GHP_IMPORT)'
else
	$(GHP_IMPORT)
endif

clean:
	rm -rf _build data/cache

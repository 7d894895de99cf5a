# callvisor: everything from a fresh clone needs only python3 (3.11+), make and PyPI.
#
#   make test    lint, types, import layers, tests (creates .venv first)
#   make demo    run the simulated-platform demo
#   make bench   run the benchmarks
#   make fuzz    fuzz the webhook endpoint (>= 10,000 cases), figures onto docs/benchmarks.md
#   make docs    regenerate docs/troubleshooting.md (from actors/log/_events.py) and README's settings table
#   make clean   remove the venv and caches

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.DELETE_ON_ERROR:
.PHONY: venv test demo bench fuzz docs clean

venv: $(STAMP)

# Re-installs only when the dependency list or the lock changed (or the venv is gone).
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade -c constraints.txt pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

test: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

demo: venv
	$(BIN)/callvisor demo

# The benchmarks need the bench extra (psutil, matplotlib, pyinstrument, the Agents-SDK peer).
$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,bench]'
	touch $@

# About 40 minutes on 2 cores (TLS, with one plaintext run beside it); writes docs/benchmarks.md, docs/benchmarks/*.png and results.json.
# `make bench BENCH_ARGS=--quick` is a smoke run of a few minutes.
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# >= 10,000 fuzzed webhooks against the real app (tests/fuzz, HYPOTHESIS_PROFILE=fuzz; make test runs a
# bounded few hundred); prints the cases run per test, writes them to docs/benchmarks/sections/fuzz.md
# and splices that into docs/benchmarks.md (bench/sections.py: make bench carries it too).
fuzz: venv
	HYPOTHESIS_PROFILE=fuzz CALLVISOR_FUZZ_REPORT=docs/benchmarks/sections/fuzz.md $(BIN)/pytest -p no:cacheprovider tests/fuzz/test_fuzz_webhooks.py
	$(BIN)/python -m bench.sections docs

# Written to a temporary file first so that a failed rendering leaves the page as it was.
docs: venv
	$(BIN)/python -m supervisor.commands.docs > docs/troubleshooting.md.tmp
	mv docs/troubleshooting.md.tmp docs/troubleshooting.md
	$(BIN)/python -m supervisor.commands.docs --readme README.md

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

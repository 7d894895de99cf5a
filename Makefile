# callvisor: everything from a fresh clone needs only python3 (3.11+), make and PyPI.
#
#   make test    lint, types, import layers, tests (creates .venv first)
#   make demo    run the simulated-platform demo
#   make bench   run the benchmarks
#   make soak    run the soak (about 10 minutes): the service at capacity, watched for growth
#   make fuzz    fuzz the webhook endpoint (>= 10,000 cases), figures onto docs/benchmarks.md
#   make audit   pip-audit over constraints.txt (.ci/audit.py says what it could not check)
#   make screenshots  the operator console's picture in docs/operations.md (headless Chromium, tests/browser)
#   make docs    regenerate docs/troubleshooting.md (from actors/log/_events.py), README's settings table
#                and the fault matrix of docs/operations.md (from supervisor/commands/faults.py)
#   make clean   remove the venv and caches

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench

.DELETE_ON_ERROR:
.PHONY: venv test demo bench soak fuzz docs audit screenshots clean

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

# About 55 minutes on 2 cores (TLS, with one plaintext run beside it; GPT-Live's cost, bench/livecost.py, about 13 of them);
# writes docs/benchmarks.md, docs/benchmarks/*.png, results.json and the live-cost section.
# `make bench BENCH_ARGS=--quick` is a smoke run of a few minutes.
bench: $(BENCH_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# About 10 minutes: `callvisor serve` at capacity (SOAK_CAPACITY, default 50 slots) for SOAK_SECONDS,
# failing when RSS, descriptors, tasks or slots grow after the warm-up or anything is left at the
# end; writes docs/benchmarks/soak.json, soak.png and the Soak section of docs/benchmarks.md.
# `make soak SOAK_SECONDS=120` is a short one; SOAK_ARGS=--tracemalloc diffs the allocations too.
SOAK_SECONDS ?= 600
soak: $(BENCH_STAMP)
	SOAK_SECONDS=$(SOAK_SECONDS) $(BIN)/python -m bench.soak $(SOAK_ARGS)

# pip-audit lives in a venv of its own (.ci/audit-constraints.txt), apart from what it audits.
AUDIT_STAMP := .venv-audit/.installed
$(AUDIT_STAMP): .ci/audit-constraints.txt
	$(PYTHON) -m venv .venv-audit
	.venv-audit/bin/python -m pip install --quiet -c .ci/audit-constraints.txt pip-audit
	touch $@

audit: $(AUDIT_STAMP)
	$(PYTHON) .ci/audit.py

# >= 10,000 fuzzed webhooks against the real app (tests/fuzz, HYPOTHESIS_PROFILE=fuzz; make test runs a
# bounded few hundred); prints the cases run per test, writes them to docs/benchmarks/sections/fuzz.md
# and splices that into docs/benchmarks.md (bench/sections.py: make bench carries it too).
fuzz: venv
	HYPOTHESIS_PROFILE=fuzz CALLVISOR_FUZZ_REPORT=docs/benchmarks/sections/fuzz.md $(BIN)/pytest -p no:cacheprovider tests/fuzz/test_fuzz_webhooks.py
	$(BIN)/python -m bench.sections docs

# The console with live calls and a tool task, saved by the browser test itself (tests/browser):
# Debian's chromium and chromium-driver must be installed (.ci/run installs them).
screenshots: venv
	CALLVISOR_SCREENSHOT=docs/operations/console.png $(BIN)/pytest -p no:cacheprovider -q \
		tests/browser/test_console_browser.py -k drain
	test -s docs/operations/console.png

# Written to a temporary file first so that a failed rendering leaves the page as it was.
docs: venv
	$(BIN)/python -m supervisor.commands.docs > docs/troubleshooting.md.tmp
	mv docs/troubleshooting.md.tmp docs/troubleshooting.md
	$(BIN)/python -m supervisor.commands.docs --readme README.md
	$(BIN)/python -m supervisor.commands.docs --operations docs/operations.md

clean:
	rm -rf $(VENV) .venv-audit .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

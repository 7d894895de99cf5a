# callvisor: everything from a fresh clone needs only python3 (3.11+), make and PyPI.
#
#   make test    lint, types, import layers, tests (creates .venv first)
#   make demo    run the simulated-platform demo
#   make bench   run the benchmarks
#   make docs    regenerate docs/troubleshooting.md (from actors/events.py) and README's settings table
#   make clean   remove the venv and caches

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DELETE_ON_ERROR:
.PHONY: venv test demo bench docs clean

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

bench: venv
	@if [ ! -f bench/__main__.py ]; then \
		echo "make bench: bench/__main__.py does not exist yet: there is no benchmark to run" >&2; \
		exit 1; \
	fi
	$(BIN)/python -m bench

# Written to a temporary file first so that a failed rendering leaves the page as it was.
docs: venv
	$(BIN)/python -m supervisor.docs > docs/troubleshooting.md.tmp
	mv docs/troubleshooting.md.tmp docs/troubleshooting.md
	$(BIN)/python -m supervisor.docs --readme README.md

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# The two set-up commands of the README: `make demo` (the main job) and `make test`.
# Both create the virtual environment on first use: CPU torch first (an unpinned torch
# would pull the CUDA build), then the package with its development, documentation and
# competition-server tools.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: demo test lint docs install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev,docs,imaging,server]"
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/neurotwin demo

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks tutorials docs/hooks
	$(BIN)/ruff format --check src tests benchmarks tutorials docs/hooks
	$(BIN)/mypy

# The tests run every tutorial at its reduced size (NEUROTWIN_QUICK=1) and leave the executed
# notebooks in docs/tutorials/; the site is then built from them, with no warning allowed.
test: lint
	$(BIN)/pytest
	NEUROTWIN_QUICK=1 NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The documentation site (site/index.html opens from disk), with every tutorial run at full
# size first (an executed tutorial is reused until it or the package changes). --strict
# fails on any warning; NO_MKDOCS_2_WARNING silences a notice that mkdocs-material prints
# about its future.
docs: $(BIN)/.installed
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache site

# Two commands for a fresh machine: `make train` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install train test lint format clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install ganopt with its dev tools

train: $(STAMP)  ## the main job: DCGAN on the embedded digits data, no download
	$(BIN)/python scripts/train.py $(ARGS)

test: $(STAMP)  ## the default test suite (CPU only)
	$(BIN)/python -m pytest $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src scripts tests
	$(BIN)/ruff format --check src scripts tests

format: $(STAMP)
	$(BIN)/ruff check --fix src scripts tests
	$(BIN)/ruff format src scripts tests

clean:
	rm -rf $(VENV) logs outputs multirun .pytest_cache .ruff_cache

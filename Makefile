# Two commands for a fresh machine: `make train` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install train test lint format clean clean-venv delete-runs

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,optimizers]"
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install ganopt with its dev tools and optional optimizers

train: $(STAMP)  ## the main job: DCGAN on the embedded digits data, no download
	$(BIN)/python scripts/train.py $(ARGS)

test: $(STAMP)  ## the default test suite (CPU only), one worker per core, a test file per worker
	$(BIN)/python -m pytest -n auto --dist loadfile $(ARGS)

lint: $(STAMP)  ## ruff (style, imports, formatting) and mypy (types of src/)
	$(BIN)/ruff check src scripts tests
	$(BIN)/ruff format --check src scripts tests
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix src scripts tests
	$(BIN)/ruff format src scripts tests

clean:  ## caches and build files only; runs and checkpoints under logs/ are kept
	rm -rf .pytest_cache .ruff_cache .mypy_cache src/*.egg-info
	find src scripts tests -name __pycache__ -type d -prune -exec rm -rf {} +

clean-venv: clean  ## also the virtual environment (the next make target recreates it)
	rm -rf $(VENV)

delete-runs:  ## DELETES every run, checkpoint and sweep under logs/, outputs/ and multirun/
	rm -rf logs outputs multirun

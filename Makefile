# shelltune: the two commands a newcomer needs are `make repro` and `make test`.
# Both create .venv if missing and install the tested versions (constraints.txt). torch is installed
# first and pinned, so a CPU machine never downloads CUDA wheels. Re-running is cheap: the install
# step only runs again when pyproject.toml or constraints.txt change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export DVC_NO_ANALYTICS := 1

.PHONY: setup repro test test-fast lock clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

repro: setup
	dvc repro

test: setup
	pytest

test-fast: setup
	pytest -m "not slow"

# Refresh constraints.txt from the current environment (after a deliberate upgrade).
lock: setup
	$(BIN)/python -m pip freeze --exclude-editable | sed -E 's/^torch==([0-9.]+)\+.*/torch==\1/' > constraints.txt

clean-venv:
	rm -rf $(VENV)

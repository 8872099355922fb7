# The two commands: `make run` serves the portal, `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8501

.PHONY: run test audit-deps lint format install install-dev db demo clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

db: install
	$(PY) -m portal secrets init
	$(PY) -m portal db upgrade

demo: db
	$(PY) -m portal demo --if-empty

run: demo
	$(PY) -m streamlit run streamlit_app.py --server.port $(PORT)

# Known vulnerabilities in the installed (pinned) packages fail the build before any test runs;
# scripts/audit_deps.py says which service it used and what it could not audit.
audit-deps: install-dev
	$(PY) scripts/audit_deps.py

test: install-dev audit-deps
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install-dev
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean:
	rm -rf var/ .pytest_cache .ruff_cache

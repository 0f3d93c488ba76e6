# Two entry points do all set-up on a fresh machine:
#   make lab    install everything, open JupyterLab on the first tutorial
#   make test   install everything, run the whole test suite
# Everything lives in .venv; torch is pinned and installed first (CPU wheel),
# so that the package's own open torch range never pulls CUDA wheels.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed
PORT   ?= 8888

.PHONY: lab test lint lint-py lint-ts fix demo bench install system-deps clean

install: $(STAMP)

$(STAMP): pyproject.toml $(wildcard labextension/package.json labextension/yarn.lock labextension/tsconfig.json labextension/src/*.ts labextension/style/*.css labextension/style/*.js)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

system-deps:
	bash scripts/system-deps.sh

# JupyterLab refuses to run as root unless told: containers often are root
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

TUTORIAL := notebooks/01_gradient_estimators_101.ipynb
ifndef TOKEN  # expanded once: the link printed and the server's token must agree
TOKEN := $(shell $(PYTHON) -c "import secrets; print(secrets.token_hex(16))")
endif

lab: install system-deps
	@echo
	@echo "  Proppo Lab, tutorial 1: http://localhost:$(PORT)/lab/tree/$(TUTORIAL)?token=$(TOKEN)"
	@echo
	$(VENV)/bin/jupyter lab --ServerApp.port=$(PORT) $(ROOT_FLAG) --IdentityProvider.token=$(TOKEN) \
		--ServerApp.default_url=/lab/tree/$(TUTORIAL)

demo: install
	$(PY) -m proppo_lab demo

test: install system-deps lint
	$(PY) -m pytest -q -ra

# Linters fail the test run on their errors: ruff (Python), eslint + prettier (TypeScript)
lint: lint-py lint-ts

lint-py: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# TypeScript lint: eslint + prettier --check (`jlpm lint` fixes); node_modules come from install
lint-ts: install
	cd labextension && PATH="$(abspath $(VENV))/bin:$$PATH" jlpm lint:check

fix: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	cd labextension && PATH="$(abspath $(VENV))/bin:$$PATH" jlpm lint

bench: install
	$(PY) bench/overhead.py

clean:
	rm -rf $(VENV) proppo_lab/labextension labextension/lib labextension/node_modules

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

.PHONY: lab test demo bench install system-deps clean

install: $(STAMP)

$(STAMP): pyproject.toml $(wildcard labextension/package.json labextension/yarn.lock labextension/tsconfig.json labextension/src/*.ts labextension/style/*.css labextension/style/*.js)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

system-deps:
	bash scripts/system-deps.sh

lab: install system-deps
	$(VENV)/bin/jupyter lab --ServerApp.port=$(PORT) notebooks/01_gradient_estimators_101.ipynb

demo: install
	$(PY) -m proppo_lab demo

test: install system-deps
	$(PY) -m pytest -q -ra

bench: install
	$(PY) bench/overhead.py

clean:
	rm -rf $(VENV) proppo_lab/labextension labextension/lib labextension/node_modules

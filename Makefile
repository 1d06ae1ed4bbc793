# Two commands for a fresh machine with Python 3.11 and pip: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: demo test lint install bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c constraints.txt "torch==2.13.0"
	$(PIP) install -q -c constraints.txt -e ".[test,lint,xarray,keras,tensorflow,jax,dtw,dask,ray]"
	$(PIP) install -q -c constraints.txt --no-deps "zennit>=0.5.1,<0.6"  # not its torchvision
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/chronolens demo --out demo-output

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: $(STAMP) lint
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) benchmarks/speed.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache

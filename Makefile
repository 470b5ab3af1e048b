# The two commands of the README: `make run` (service on :8000, embedded mode) and `make test`.
# Each area adds its own set-up and test targets in mk/*.mk (see the "Make targets" section of README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

# Debian packages the service and its tests need at run time.
SYSTEM_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd redis-server fonts-dejavu-core

# Area make files: each appends its test target to EXTRA_TESTS and its packages to EXTRA_SYSTEM_PACKAGES.
-include mk/*.mk

.PHONY: run test deps system-deps venv test-service lint bench clean
.DEFAULT_GOAL := help

help:
	@echo "make run   - start the OCR service on port $(PORT) (embedded mode, installs what it needs)"
	@echo "make test  - install everything and run the whole test suite"
	@echo "make bench - run the benchmarks"

run: system-deps venv
	OMP_THREAD_LIMIT=1 PORT=$(PORT) $(VENV)/bin/ocr-service serve

system-deps:
	@SYSTEM_PACKAGES="$(SYSTEM_PACKAGES) $(EXTRA_SYSTEM_PACKAGES)" bash scripts/system-deps.sh

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

deps: system-deps venv

test: deps test-service $(EXTRA_TESTS)

test-service: deps
	$(VENV)/bin/pytest tests/service $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info


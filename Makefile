# The two commands of the README: `make run` (the service on :8000, embedded backend) and `make test`.
# Each area adds its own set-up and test targets in mk/*.mk.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

# Debian packages the service needs at run time, and those only its tests need.
SYSTEM_PACKAGES := tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd fonts-dejavu-core
TEST_SYSTEM_PACKAGES := redis-server

# Area make files: each appends its test target to EXTRA_TESTS and its packages to EXTRA_SYSTEM_PACKAGES.
-include mk/*.mk

.PHONY: help run test deps test-deps system-deps test-system-deps venv test-venv test-service lint bench clean
.DEFAULT_GOAL := help

help:
	@echo "make run   - start the OCR service on port $(PORT) (embedded backend, installs what it needs)"
	@echo "make test  - install everything, lint, and run the whole test suite"
	@echo "make lint  - ruff and terraform fmt -check"
	@echo "make bench - run the benchmarks"

run: system-deps venv
	OMP_THREAD_LIMIT=1 PORT=$(PORT) $(VENV)/bin/ocr-service serve

system-deps:
	@SYSTEM_PACKAGES="$(SYSTEM_PACKAGES)" bash scripts/system-deps.sh

test-system-deps:
	@SYSTEM_PACKAGES="$(SYSTEM_PACKAGES) $(TEST_SYSTEM_PACKAGES) $(EXTRA_SYSTEM_PACKAGES)" bash scripts/system-deps.sh

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

test-venv: $(VENV)/.test-installed
$(VENV)/.test-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e '.[test]'
	touch $@

deps: test-system-deps test-venv

test: deps lint test-service $(EXTRA_TESTS)

lint: test-venv
	$(VENV)/bin/ruff check .
	env -u TF_CLI_CONFIG_FILE terraform fmt -check -recursive modules deploy examples

test-service: deps
	$(VENV)/bin/pytest tests/service $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

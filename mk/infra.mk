# Terraform checks (docs/infracheck.md): the pytest-infracheck plugin (pytest-infracheck/) installed
# into .venv, checkov in its own venv (.venv-checkov: it ships a fork of python-hcl2 under the same
# import name), then tests/infra (parse, fmt/validate, plan/apply against moto_server, checkov,
# negative checks, and examples/consumer in a fresh venv holding only the plugin, .venv-consumer)
# and the plugin's own tests. The image and Packer/Docker checks live in tests/images (mk/images.mk).
EXTRA_TESTS += test-infra
CHECKOV_VENV ?= .venv-checkov
INFRA_PYTEST_ARGS ?= -q -rs --durations=8

.PHONY: infracheck-install checkov-venv test-infra infra-clean

infracheck-install: deps $(VENV)/.infracheck-installed
$(VENV)/.infracheck-installed: $(VENV)/.installed pytest-infracheck/pyproject.toml
	$(VENV)/bin/pip install -q -e 'pytest-infracheck[test]'
	touch $@

checkov-venv: $(CHECKOV_VENV)/.installed
$(CHECKOV_VENV)/.installed: mk/infra.mk
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/pip install -q 'checkov>=3.2,<4'
	touch $@

test-infra: deps infracheck-install checkov-venv
	$(VENV)/bin/pytest tests/infra pytest-infracheck/tests $(INFRA_PYTEST_ARGS) $(PYTEST_ARGS)

infra-clean:
	rm -rf $(CHECKOV_VENV) .venv-consumer $(VENV)/.infracheck-installed

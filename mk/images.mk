# Machine and container images (docs/images.md). Three test folders, each selected by its path:
#   tests/images/static     Packer template checks, hadolint, shellcheck, compose, the lock file
#   tests/images/container  the Dockerfile built for real with buildah on a local base image
#   tests/images/suite      the image suite (testinfra) against Debian rootfs provisioned by packer/scripts
# The rootfs, the local base image and buildah's layer cache live outside the checkout in
# $(IMAGE_CACHE) and are rebuilt only when what they are made from changes.
EXTRA_SYSTEM_PACKAGES += debootstrap shellcheck buildah
EXTRA_TESTS += test-images
IMAGE_CACHE ?= /var/cache/ocr-service-images
LOCK_FILE := requirements.lock

.PHONY: images-deps images-rootfs images-clean test-images lock lock-upgrade base-image-digest

images-deps: deps $(VENV)/.images-deps
$(VENV)/.images-deps: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install -q -e '.[test,images]'
	touch $@

# Prints ocr=<path> and redis=<path>.
images-rootfs:
	@OCR_IMAGE_CACHE=$(IMAGE_CACHE) $(PY) -m tests.support.rootfs build

test-images: images-deps
	$(VENV)/bin/pytest tests/images/static $(PYTEST_ARGS)
	@roots="$$(OCR_IMAGE_CACHE=$(IMAGE_CACHE) $(PY) -m tests.support.rootfs build)" || exit 1; \
	OCR_IMAGE_CACHE=$(IMAGE_CACHE) $(VENV)/bin/pytest tests/images/container -rs $(PYTEST_ARGS) || exit 1; \
	for role in ocr redis; do \
	  root="$$(printf '%s\n' "$$roots" | sed -n "s/^$$role=//p")"; \
	  echo "image suite: $$role image, rootfs $$root"; \
	  $(VENV)/bin/pytest tests/images/suite --image-role=$$role --connection=chroot --hosts="$$root" \
	    -rs $(PYTEST_ARGS) || exit 1; \
	done

# The service's dependencies with hashes, from pyproject.toml (and its build requirements, which
# the image installs without build isolation), resolved on PyPI for Python 3.11 on any platform.
# `make lock` keeps the pins it can and adds or drops what pyproject.toml changed; `make
# lock-upgrade` moves every pin to the newest release allowed.
LOCK_ARGS = --generate-hashes --universal --python-version 3.11 --index-url https://pypi.org/simple \
	--custom-compile-command 'make lock' -o $(LOCK_FILE)
lock: images-deps
	@build="$$(mktemp --suffix=.in)"; trap 'rm -f "$$build"' EXIT; \
	$(PY) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' >"$$build"; \
	$(VENV)/bin/uv pip compile --quiet pyproject.toml "$$build" $(LOCK_ARGS) $(UV_LOCK_EXTRA)
	@sed -i "s|$${TMPDIR:-/tmp}/tmp[^ ]*\.in|build-system.requires|" $(LOCK_FILE)

lock-upgrade:
	$(MAKE) lock UV_LOCK_EXTRA=--upgrade

# The Dockerfile's base image digest against what a registry serves for its tag now (the digest of
# the multi-platform index): needs network and skopeo or docker buildx. Fails when they differ
# (move the pin by hand, after reading the release) or when no registry answers; the message says which.
DOCKERFILE ?= Dockerfile
base-image-digest:
	@set -o pipefail; ref="$$(sed -n 's/^ARG PYTHON_IMAGE=//p' $(DOCKERFILE))"; tag="$${ref%@*}"; pinned="$${ref#*@}"; \
	if command -v skopeo >/dev/null; then \
	  current="sha256:$$(skopeo inspect --raw "docker://$$tag" | sha256sum | cut -d' ' -f1)" || current=""; \
	elif command -v docker >/dev/null; then \
	  current="$$(docker buildx imagetools inspect "$$tag" --format '{{.Manifest.Digest}}')" || current=""; \
	else echo "base-image-digest: needs skopeo or docker buildx" >&2; exit 2; fi; \
	case "$$current" in sha256:????????????????????????????????????????????????????????????????) ;; \
	  *) echo "base-image-digest: no digest for $$tag from a registry" >&2; exit 2 ;; esac; \
	if [ "$$current" = "$$pinned" ]; then echo "$$tag: the registry serves the pinned $$pinned"; \
	else echo "$$tag: the registry serves $$current, the Dockerfile pins $$pinned" >&2; exit 1; fi

images-clean:
	OCR_IMAGE_CACHE=$(IMAGE_CACHE) $(PY) -m tests.support.buildah clean
	OCR_IMAGE_CACHE=$(IMAGE_CACHE) $(PY) -m tests.support.rootfs clean

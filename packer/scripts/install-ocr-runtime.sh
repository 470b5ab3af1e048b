#!/usr/bin/env bash
# The OCR service's runtime: what the Dockerfile RUNs (python:3.11-slim-bookworm) and what the image
# tests run in a Debian bookworm rootfs, so the container recipe is exercised without a Docker engine.
# Debian only: on the AMIs the runtime lives inside the container image.
#   install-ocr-runtime.sh system    tesseract (eng, osd, plus $TESSERACT_LANGS), python3 with venv,
#                                    the service user (uid 10001) and its data directory
#   install-ocr-runtime.sh deps LOCK the service's dependencies into the venv, exactly as LOCK
#                                    (requirements.lock) pins them: hashes checked, wheels only
#   install-ocr-runtime.sh app SRC   the service from SRC (a source tree) into the venv, after `deps`:
#                                    nothing else is downloaded
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${PROVISION_DIR:-$(dirname "${BASH_SOURCE[0]}")/..}/scripts/lib.sh"
require_root
[ "$(os_family)" = debian ] || die "the OCR runtime is installed in the Debian-based container image"

VENV=/opt/ocr-service/venv
DATA_DIR=/var/lib/ocr-service
SERVICE_USER=ocr
SERVICE_UID=10001

install_system() {
  local packages=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-osd) lang
  read -r -a extra_langs <<<"${TESSERACT_LANGS:-}"
  for lang in "${extra_langs[@]}"; do
    [[ "$lang" =~ ^[a-z_]+$ ]] || die "bad tesseract language code: $lang"
    packages+=("tesseract-ocr-${lang//_/-}")
  done
  # python:*-slim images bring their own python3 with venv; a plain Debian needs the packages.
  command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null ||
    packages+=(python3 python3-venv)
  pkg_install "${packages[@]}"
  rm -rf /var/lib/apt/lists/*

  getent group "$SERVICE_USER" >/dev/null || groupadd --system --gid "$SERVICE_UID" "$SERVICE_USER"
  id -u "$SERVICE_USER" >/dev/null 2>&1 ||
    useradd --system --uid "$SERVICE_UID" --gid "$SERVICE_UID" --home-dir "$DATA_DIR" \
      --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"
  install_dir "$DATA_DIR" 0750 "$SERVICE_UID:$SERVICE_UID"
  install_dir /opt/ocr-service 0755
}

pip_install() {
  "$VENV/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check "$@"
}

install_deps() {
  local lock="${1:?usage: install-ocr-runtime.sh deps LOCK}"
  [ -f "$lock" ] || die "missing lock file $lock"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  # Hashes checked for every package; wheels only, so no compiler is needed or run.
  pip_install --require-hashes --no-deps --only-binary=:all: -r "$lock"
}

install_app() {
  local src="${1:?usage: install-ocr-runtime.sh app SRC}"
  [ -x "$VENV/bin/python" ] || die "run 'deps LOCK' first"
  # The dependencies and the build backend come from the lock (deps): no index, no build isolation.
  pip_install --no-deps --no-index --no-build-isolation "$src"
  "$VENV/bin/pip" check >/dev/null || die "the venv's dependencies do not match the service's: $("$VENV/bin/pip" check)"
  "$VENV/bin/ocr-service" --help >/dev/null
}

case "${1:-}" in
  system) install_system ;;
  deps) install_deps "${2:-}" ;;
  app) install_app "${2:-}" ;;
  *) die "usage: install-ocr-runtime.sh system | deps LOCK | app SRC" ;;
esac

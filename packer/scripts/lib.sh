# shellcheck shell=bash
# Helpers shared by the provisioning scripts (sourced, not executed). The scripts run on
# Amazon Linux 2023 (dnf) for the AMIs and on Debian (apt) for the rootfs the image tests build.
set -euo pipefail

# PROVISION_DIR holds scripts/ and files/: Packer uploads both there; locally it is packer/.
PROVISION_DIR="${PROVISION_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
FILES_DIR="$PROVISION_DIR/files"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

require_root() { [ "$(id -u)" -eq 0 ] || die "run as root"; }

# Prints "debian" or "amzn" from /etc/os-release.
os_family() {
  local id="" id_like=""
  # shellcheck disable=SC1091
  id="$(. /etc/os-release && echo "${ID:-}")"
  # shellcheck disable=SC1091
  id_like="$(. /etc/os-release && echo "${ID_LIKE:-}")"
  case " $id $id_like " in
    *" debian "*) echo debian ;;
    *" amzn "* | *" fedora "* | *" rhel "*) echo amzn ;;
    *) die "unsupported OS: ID=$id ID_LIKE=$id_like" ;;
  esac
}

# Installs packages that are missing; asks the package database first so a second run is quick.
pkg_install() {
  local missing=() pkg
  case "$(os_family)" in
    debian)
      for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
      done
      [ ${#missing[@]} -eq 0 ] && return 0
      log "apt-get install ${missing[*]}"
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
      ;;
    amzn)
      for pkg in "$@"; do rpm -q "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
      [ ${#missing[@]} -eq 0 ] && return 0
      log "dnf install ${missing[*]}"
      dnf install -y -q "${missing[@]}"
      ;;
  esac
}

# install_file SRC DEST MODE [OWNER:GROUP]: copies a file from packer/files/, creating parents.
install_file() {
  local src="$FILES_DIR/$1" dest="$2" mode="$3" owner="${4:-root:root}"
  [ -f "$src" ] || die "missing $src"
  install -D -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$src" "$dest"
}

# install_default_file SRC DEST MODE: like install_file, but keeps a DEST that already exists
# (what user data or an operator wrote).
install_default_file() {
  [ -e "$2" ] || install_file "$@"
}

# install_dir PATH MODE [OWNER:GROUP]
install_dir() {
  mkdir -p "$1"
  chown "${3:-root:root}" "$1"
  chmod "$2" "$1"
}

# Enables a unit for the next boot. In a chroot systemctl only creates the wants/ symlinks.
enable_unit() {
  systemctl daemon-reload 2>/dev/null || true
  systemctl enable "$@" >/dev/null 2>&1 || systemctl enable "$@"
}

# Records what this image is, for operators and for the image tests (role and version).
write_image_release() {
  install -d -m 0755 /etc/ocr-image
  printf 'IMAGE_ROLE=%s\nIMAGE_VERSION=%s\n' "$1" "${IMAGE_VERSION:-dev}" >/etc/ocr-image/release
  chmod 0644 /etc/ocr-image/release
}

# What both roles' units need at boot: the AWS CLI and curl for fetch-ssm-secrets (the script
# itself) and logrotate for the logs the units append to.
install_boot_tools() {
  case "$(os_family)" in
    amzn) pkg_install awscli-2 curl-minimal logrotate ;;
    debian) pkg_install awscli curl logrotate ;;
  esac
  install_file bin/fetch-ssm-secrets /usr/local/libexec/ocr-image/fetch-ssm-secrets 0755
  install_file logrotate/ocr-image /etc/logrotate.d/ocr-image 0644
}

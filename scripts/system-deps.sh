#!/usr/bin/env bash
# Installs the Debian packages named in $SYSTEM_PACKAGES when missing (as root), or says which are
# missing (as any other user). Quick when all is installed: it asks dpkg, not apt.
set -euo pipefail
read -r -a wanted <<<"${SYSTEM_PACKAGES:-}"
missing=()
for pkg in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "Missing system packages: ${missing[*]}" >&2
  echo "Install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

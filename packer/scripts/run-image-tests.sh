#!/usr/bin/env bash
# Runs on the machine that runs Packer (shell-local provisioner), not on the build instance: the
# image test suite (tests/infra/image) against the build instance over SSH, with the temporary key
# Packer generated for it. A failing test fails the build before the AMI is created.
# Environment (set by the templates): IMAGE_ROLE, IMAGE_HOST, IMAGE_SSH_PORT, IMAGE_USER,
# IMAGE_SSH_KEY (the private key itself), REPO_ROOT, PYTEST (empty: $REPO_ROOT/.venv/bin/pytest),
# RUN_IMAGE_TESTS (false skips the step).
set -euo pipefail

if [ "${RUN_IMAGE_TESTS:-true}" = false ]; then
  echo "image tests skipped (run_image_tests = false)" >&2
  exit 0
fi
: "${IMAGE_ROLE:?}" "${IMAGE_HOST:?}" "${IMAGE_USER:?}" "${IMAGE_SSH_KEY:?}" "${REPO_ROOT:?}"
pytest="${PYTEST:-$REPO_ROOT/.venv/bin/pytest}"

key="$(mktemp)"
trap 'rm -f "$key"' EXIT
chmod 0600 "$key"
printf '%s\n' "$IMAGE_SSH_KEY" >"$key"

cd "$REPO_ROOT"
# --sudo: the checks read root-only files (secrets directories, docker state) as ec2-user.
"$pytest" tests/infra/image -p no:cacheprovider -rs \
  --image-role="$IMAGE_ROLE" \
  --hosts="ssh://$IMAGE_USER@$IMAGE_HOST:${IMAGE_SSH_PORT:-22}" \
  --ssh-identity-file="$key" \
  --ssh-extra-args="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null" \
  --sudo

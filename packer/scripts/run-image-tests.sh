#!/usr/bin/env bash
# Runs on the machine that runs Packer (shell-local provisioner), not on the build instance: the
# image test suite (tests/images/suite) against the build instance over SSH, with the temporary key
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

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
key="$workdir/key"
(umask 077 && printf '%s\n' "$IMAGE_SSH_KEY" >"$key")
# An ssh config rather than --ssh-extra-args: testinfra's pytest plugin does not pass the latter on.
# The build instance is new and short-lived: its host key cannot be known in advance.
cat >"$workdir/ssh_config" <<EOF
Host image-under-test
  HostName $IMAGE_HOST
  Port ${IMAGE_SSH_PORT:-22}
  User $IMAGE_USER
  IdentityFile $key
  IdentitiesOnly yes
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
EOF

cd "$REPO_ROOT"
# --sudo: the checks read root-only files (secrets directories, docker state) as ec2-user.
"$pytest" tests/images/suite -p no:cacheprovider -rs \
  --image-role="$IMAGE_ROLE" \
  --hosts=ssh://image-under-test \
  --ssh-config="$workdir/ssh_config" \
  --sudo

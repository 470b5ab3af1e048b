#!/usr/bin/env bash
# Docker runtime for both AMIs: the engine from the distribution's repository, a daemon.json that
# caps the json-file logs the CloudWatch agent tails, and the service enabled for boot.
# Environment: PULL_IMAGES (space-separated references to pre-pull; empty: none).
# Packer runs an uploaded copy of this script: PROVISION_DIR says where scripts/ and files/ are.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${PROVISION_DIR:-$(dirname "${BASH_SOURCE[0]}")/..}/scripts/lib.sh"
require_root

case "$(os_family)" in
  amzn) pkg_install docker ;;
  debian) pkg_install docker.io ;;
esac

install_file docker/daemon.json /etc/docker/daemon.json 0644
enable_unit docker.service

# Pre-pull images so an instance starts serving without a registry round trip. Needs the daemon,
# which exists on a real build instance only; a chroot (the image tests) has none.
read -r -a images <<<"${PULL_IMAGES:-}"
if [ ${#images[@]} -gt 0 ]; then
  systemctl start docker.service
  for image in "${images[@]}"; do
    # Images from ECR need a login with the build instance's role first.
    if [[ "$image" =~ ^([0-9]+\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com)/ ]]; then
      aws ecr get-login-password --region "${BASH_REMATCH[2]}" |
        docker login --username AWS --password-stdin "${BASH_REMATCH[1]}"
    fi
    log "docker pull $image"
    docker pull --quiet "$image"
  done
fi

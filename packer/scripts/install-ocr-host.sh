#!/usr/bin/env bash
# The OCR image's host side: settings, boot-time secret fetch, and the unit that runs the service
# image under systemd (`serve` runs the API and, in production mode, the queue workers too).
# The OCR runtime itself lives in the container image.
# Environment: OCR_IMAGE (the service image reference, pre-pulled by install-docker.sh),
#              IMAGE_VERSION (recorded in /etc/ocr-image/release).
# Packer runs an uploaded copy of this script: PROVISION_DIR says where scripts/ and files/ are.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${PROVISION_DIR:-$(dirname "${BASH_SOURCE[0]}")/..}/scripts/lib.sh"
require_root

image="${OCR_IMAGE:?OCR_IMAGE must name the service image}"
# The container runs as this uid (see Dockerfile); it owns the data directory it mounts.
container_uid=10001

install_boot_tools
install_dir /etc/ocr-service 0755
install_dir /var/log/ocr-service 0750
install_dir /var/lib/ocr-service 0750 "$container_uid:$container_uid"

install_file ocr-service/defaults.env /etc/ocr-service/defaults.env 0644
# User data's files: present (the unit and docker need them) but never overwritten once written.
install_default_file ocr-service/service.env /etc/ocr-service/service.env 0644
install_default_file ocr-service/ssm-parameters /etc/ocr-service/ssm-parameters 0644
printf 'OCR_IMAGE=%s\n' "$image" >/etc/ocr-service/image.env
chmod 0644 /etc/ocr-service/image.env

install_file bin/prometheus-targets /usr/local/libexec/ocr-image/prometheus-targets 0755
install_file systemd/ocr-service.service /etc/systemd/system/ocr-service.service 0644
enable_unit ocr-service.service

write_image_release ocr

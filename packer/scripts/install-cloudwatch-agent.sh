#!/usr/bin/env bash
# CloudWatch agent with this image's config (files/cloudwatch/$IMAGE_ROLE.json): CPU, memory and
# disk metrics, the role's log files and the Docker container logs; for the OCR image also the
# service's Prometheus metrics (files/cloudwatch/prometheus.yaml).
# On Amazon Linux the agent comes from the distribution's repository. Debian has no package (Amazon
# ships a .deb from its own download site, which the test machines cannot reach): there the script
# installs the config and the unit, and the image tests mark the agent binary as a real-instance check.
# Environment: IMAGE_ROLE (ocr|redis), LOG_GROUP_PREFIX (default /ocr-service: the monitoring module
# creates <prefix>/app, <prefix>/docker and <prefix>/metrics with their retention).
# Packer runs an uploaded copy of this script: PROVISION_DIR says where scripts/ and files/ are.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "${PROVISION_DIR:-$(dirname "${BASH_SOURCE[0]}")/..}/scripts/lib.sh"
require_root

role="${IMAGE_ROLE:?IMAGE_ROLE must be ocr or redis}"
agent_dir=/opt/aws/amazon-cloudwatch-agent
config="$agent_dir/etc/amazon-cloudwatch-agent.json"

if [ "$(os_family)" = amzn ]; then
  pkg_install amazon-cloudwatch-agent
fi

prefix="${LOG_GROUP_PREFIX:-/ocr-service}"
[[ "$prefix" =~ ^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$ ]] || die "LOG_GROUP_PREFIX must look like /ocr-service, got $prefix"
install -d -m 0755 "$(dirname "$config")"
sed -e "s|@LOG_GROUP_PREFIX@|$prefix|g" "$FILES_DIR/cloudwatch/$role.json" >"$config"
chmod 0644 "$config"
# The OCR image also scrapes the service's Prometheus metrics (queue depth and age, documents
# finished) into the OCRService namespace the scaling policy and the alarms read.
if [ "$role" = ocr ]; then
  install_file cloudwatch/prometheus.yaml "$agent_dir/etc/prometheus.yaml" 0644
fi

# The package brings its unit; where there is no package, install the same unit ourselves.
if [ ! -e /etc/systemd/system/amazon-cloudwatch-agent.service ] &&
  [ ! -e /usr/lib/systemd/system/amazon-cloudwatch-agent.service ]; then
  install_file systemd/amazon-cloudwatch-agent.service /etc/systemd/system/amazon-cloudwatch-agent.service 0644
fi

# Translate and validate the JSON now, so a bad config fails the build rather than the first boot.
if [ -x "$agent_dir/bin/amazon-cloudwatch-agent-ctl" ]; then
  "$agent_dir/bin/amazon-cloudwatch-agent-ctl" -a fetch-config -m ec2 -c "file:$config"
else
  log "agent binary absent on $(os_family): config and unit installed, binary is a real-instance check"
fi

enable_unit amazon-cloudwatch-agent.service

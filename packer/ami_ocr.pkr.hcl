# AMI for the OCR service instances (the asg module's launch template). Shares its variables and
# build instance with ami_redis.pkr.hcl through common.pkr.hcl; build it alone with -only:
#   packer init .
#   packer build -only='ocr-service.*' -var ocr_image=ghcr.io/acme/ocr-service:1.4.0 -var version=1.4.0 .
# Amazon Linux 2023, Docker with the service image pre-pulled, the CloudWatch agent, and a systemd
# unit that starts the service container at boot. The image test suite runs against the build
# instance over SSH before the AMI is created (see docs/images.md).

variable "ocr_image" {
  type        = string
  description = "Service container image to pre-pull and run, e.g. ghcr.io/acme/ocr-service:1.4.0 or an ECR URI (the OCR build needs it)."
  default     = ""
}

locals {
  # Tags the asg module's AMI lookup filters on (Application, Role), plus provenance.
  ocr_ami_tags = {
    Name        = "ocr-service-ocr-${var.version}"
    Application = "ocr-service"
    Role        = "ocr"
    Version     = var.version
    BaseAMI     = "{{ .SourceAMIName }}"
    ManagedBy   = "packer"
  }
}

build {
  name = "ocr-service"

  source "amazon-ebs.al2023" {
    name            = "ocr"
    ami_name        = "ocr-service-ocr-${var.version}-${local.timestamp}"
    ami_description = "OCR service ${var.version} on Amazon Linux 2023"
    tags            = local.ocr_ami_tags
    snapshot_tags   = local.ocr_ami_tags
    run_tags = {
      Name        = "packer-build-ocr-service"
      Application = "ocr-service"
    }
  }

  provisioner "shell" {
    inline = ["mkdir -p /tmp/provision"]
  }

  # scripts/ and files/ together: the scripts source scripts/lib.sh and install from files/.
  provisioner "file" {
    sources     = ["${path.root}/scripts", "${path.root}/files"]
    destination = "/tmp/provision/"
  }

  provisioner "shell" {
    environment_vars = [
      "PROVISION_DIR=/tmp/provision",
      "IMAGE_ROLE=ocr",
      "IMAGE_VERSION=${var.version}",
      "LOG_GROUP_PREFIX=${var.log_group_prefix}",
      "OCR_IMAGE=${var.ocr_image}",
      "PULL_IMAGES=${var.ocr_image}",
    ]
    execute_command = "chmod +x {{ .Path }}; sudo env {{ .Vars }} bash {{ .Path }}"
    scripts = [
      "${path.root}/scripts/install-docker.sh",
      "${path.root}/scripts/install-cloudwatch-agent.sh",
      "${path.root}/scripts/install-ocr-host.sh",
    ]
  }

  # The image test suite from this machine against the build instance over SSH; a failure stops
  # the build before any AMI exists.
  provisioner "shell-local" {
    environment_vars = [
      "IMAGE_ROLE=ocr",
      "IMAGE_HOST=${build.Host}",
      "IMAGE_SSH_PORT=${build.Port}",
      "IMAGE_USER=${build.User}",
      "IMAGE_SSH_KEY=${build.SSHPrivateKey}",
      "REPO_ROOT=${path.root}/..",
      "PYTEST=${var.pytest}",
      "RUN_IMAGE_TESTS=${var.run_image_tests}",
    ]
    script = "${path.root}/scripts/run-image-tests.sh"
  }

  # Leave no build leftovers in the AMI: the uploaded provisioning tree, test-time logs and data.
  provisioner "shell" {
    inline = [
      "sudo systemctl stop ocr-service.service",
      "sudo rm -rf /tmp/provision /run/ocr-service",
      "sudo find /var/log/ocr-service /var/lib/ocr-service -mindepth 1 -delete",
    ]
  }

  post-processor "manifest" {
    output     = "${path.root}/build/manifest-ocr.json"
    strip_path = true
    custom_data = {
      role            = "ocr"
      version         = var.version
      image_reference = var.ocr_image
    }
  }
}

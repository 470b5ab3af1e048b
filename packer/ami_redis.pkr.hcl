# AMI for the Redis instance of the OCR service (the redis module). Shares its variables and build
# instance with ami_ocr.pkr.hcl through common.pkr.hcl; build it alone with -only:
#   packer init .
#   packer build -only='ocr-service-redis.*' -var version=1.4.0 .
# Amazon Linux 2023, Docker with the Redis image pre-pulled and run under systemd (TLS only, ACL
# users from SSM at boot, maxmemory with an eviction policy for a queue plus cache, AOF persistence),
# and the CloudWatch agent. The image test suite runs against the build instance over SSH before
# the AMI is created (see docs/images.md).

variable "redis_image" {
  type        = string
  description = "Redis container image to pre-pull and run (7.2 is the last BSD-licensed line)."
  default     = "redis:7.2-bookworm"
}

variable "redis_maxmemory" {
  type        = string
  description = "Redis maxmemory; keep it near 60-70% of the instance's RAM (AOF rewrites fork)."
  default     = "1gb"

  validation {
    condition     = can(regex("^[0-9]+(b|kb|mb|gb)?$", var.redis_maxmemory))
    error_message = "Use a Redis size such as 1536mb or 1gb."
  }
}

variable "redis_maxmemory_policy" {
  type        = string
  description = "Eviction policy. volatile-lru evicts only cache keys (they carry a TTL) and never queued jobs; noeviction suits a queue-only Redis."
  default     = "volatile-lru"

  validation {
    condition     = contains(["noeviction", "volatile-lru", "volatile-lfu", "volatile-ttl"], var.redis_maxmemory_policy)
    error_message = "Use noeviction or a volatile-* policy: allkeys-* policies would evict queued jobs."
  }
}

locals {
  # Tags the redis module's AMI lookup filters on (Application, Role), plus provenance.
  redis_ami_tags = {
    Name        = "ocr-service-redis-${var.version}"
    Application = "ocr-service"
    Role        = "redis"
    Version     = var.version
    BaseAMI     = "{{ .SourceAMIName }}"
    ManagedBy   = "packer"
  }
}

build {
  name = "ocr-service-redis"

  source "amazon-ebs.al2023" {
    name            = "redis"
    ami_name        = "ocr-service-redis-${var.version}-${local.timestamp}"
    ami_description = "Redis for the OCR service ${var.version} on Amazon Linux 2023"
    tags            = local.redis_ami_tags
    snapshot_tags   = local.redis_ami_tags
    run_tags = {
      Name        = "packer-build-ocr-service-redis"
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
      "IMAGE_ROLE=redis",
      "IMAGE_VERSION=${var.version}",
      "LOG_GROUP_PREFIX=${var.log_group_prefix}",
      "REDIS_IMAGE=${var.redis_image}",
      "REDIS_MAXMEMORY=${var.redis_maxmemory}",
      "REDIS_MAXMEMORY_POLICY=${var.redis_maxmemory_policy}",
      "PULL_IMAGES=${var.redis_image}",
    ]
    execute_command = "chmod +x {{ .Path }}; sudo env {{ .Vars }} bash {{ .Path }}"
    scripts = [
      "${path.root}/scripts/install-docker.sh",
      "${path.root}/scripts/install-cloudwatch-agent.sh",
      "${path.root}/scripts/install-redis-host.sh",
    ]
  }

  # The image test suite from this machine against the build instance over SSH; a failure stops
  # the build before any AMI exists.
  provisioner "shell-local" {
    environment_vars = [
      "IMAGE_ROLE=redis",
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

  # Leave no build leftovers in the AMI: the uploaded provisioning tree, test-time logs and data,
  # and the TLS key a test start made (each instance makes its own at first boot).
  provisioner "shell" {
    inline = [
      "sudo systemctl stop ocr-redis.service",
      "sudo rm -rf /tmp/provision /run/ocr-redis /var/lib/ocr-redis-tls",
      "sudo find /var/log/ocr-redis /var/lib/ocr-redis -mindepth 1 -delete",
    ]
  }

  post-processor "manifest" {
    output     = "${path.root}/build/manifest-redis.json"
    strip_path = true
    custom_data = {
      role                   = "redis"
      version                = var.version
      image_reference        = var.redis_image
      redis_maxmemory        = var.redis_maxmemory
      redis_maxmemory_policy = var.redis_maxmemory_policy
    }
  }
}

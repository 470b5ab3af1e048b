# AMI for the Redis instance of the OCR service (the redis module).
#   packer init ami_redis.pkr.hcl
#   packer build -var version=1.4.0 ami_redis.pkr.hcl
# Amazon Linux 2023, Docker with the Redis image pre-pulled and run under systemd (password from SSM
# at boot, maxmemory with an eviction policy for a queue plus cache, AOF persistence), and the
# CloudWatch agent. The image test suite runs against the build instance over SSH before the AMI
# is created (see docs/images.md).

packer {
  required_version = ">= 1.9.0"
  required_plugins {
    amazon = {
      source  = "github.com/hashicorp/amazon"
      version = ">= 1.3.0"
    }
  }
}

variable "region" {
  type        = string
  description = "AWS region to build the AMI in."
  default     = "eu-west-1"
}

variable "instance_type" {
  type        = string
  description = "Instance type of the temporary build instance."
  default     = "t3.small"
}

variable "image_reference" {
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

variable "version" {
  type        = string
  description = "Version recorded in the AMI name, its Version tag and /etc/ocr-image/release."
  default     = "dev"

  validation {
    condition     = can(regex("^[0-9A-Za-z._-]+$", var.version))
    error_message = "The version may contain letters, digits, dots, dashes and underscores only."
  }
}

variable "volume_size" {
  type        = number
  description = "Root volume size in GiB (images, the AOF, container logs)."
  default     = 20
}

variable "kms_key_id" {
  type        = string
  description = "KMS key for the encrypted root volume and AMI snapshot; null uses the account's default EBS key."
  default     = null
}

variable "subnet_id" {
  type        = string
  description = "Subnet for the build instance; null lets Packer use the default VPC."
  default     = null
}

variable "iam_instance_profile" {
  type        = string
  description = "Instance profile for the build instance, needed when image_reference is in a private ECR repository."
  default     = null
}

variable "log_group_prefix" {
  type        = string
  description = "CloudWatch Logs group prefix: the agent ships to <prefix>/app and <prefix>/docker (the monitoring module's groups, /<name>/...)."
  default     = "/ocr-service"
}

variable "run_image_tests" {
  type        = bool
  description = "Run tests/images/suite against the build instance before the AMI is created."
  default     = true
}

variable "pytest" {
  type        = string
  description = "pytest with the repository's test dependencies; empty: the repository's .venv (make venv)."
  default     = ""
}

locals {
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
  # Tags the redis module's AMI lookup filters on (Application, Role), plus provenance.
  ami_tags = {
    Name        = "ocr-service-redis-${var.version}"
    Application = "ocr-service"
    Role        = "redis"
    Version     = var.version
    BaseAMI     = "{{ .SourceAMIName }}"
    ManagedBy   = "packer"
  }
}

source "amazon-ebs" "redis" {
  region          = var.region
  instance_type   = var.instance_type
  ami_name        = "ocr-service-redis-${var.version}-${local.timestamp}"
  ami_description = "Redis for the OCR service ${var.version} on Amazon Linux 2023"

  source_ami_filter {
    filters = {
      name                = "al2023-ami-2023.*-x86_64"
      architecture        = "x86_64"
      root-device-type    = "ebs"
      virtualization-type = "hvm"
    }
    owners      = ["amazon"]
    most_recent = true
  }

  ssh_username         = "ec2-user"
  subnet_id            = var.subnet_id
  iam_instance_profile = var.iam_instance_profile

  # IMDSv2 only, on the build instance and (imds_support) on instances launched from the AMI.
  imds_support = "v2.0"
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 2
  }

  encrypt_boot = true
  kms_key_id   = var.kms_key_id
  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = var.volume_size
    volume_type           = "gp3"
    encrypted             = true
    delete_on_termination = true
  }

  tags          = local.ami_tags
  snapshot_tags = local.ami_tags
  run_tags = {
    Name        = "packer-build-ocr-service-redis"
    Application = "ocr-service"
  }
}

build {
  name    = "ocr-service-redis"
  sources = ["source.amazon-ebs.redis"]

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
      "REDIS_IMAGE=${var.image_reference}",
      "REDIS_MAXMEMORY=${var.redis_maxmemory}",
      "REDIS_MAXMEMORY_POLICY=${var.redis_maxmemory_policy}",
      "PULL_IMAGES=${var.image_reference}",
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
      image_reference        = var.image_reference
      redis_maxmemory        = var.redis_maxmemory
      redis_maxmemory_policy = var.redis_maxmemory_policy
    }
  }
}

# What the two AMI templates share: the Packer requirements, the build variables and the build
# instance (Amazon Linux 2023, encrypted root volume and AMI, IMDSv2 only). Packer reads every
# *.pkr.hcl of a directory, so this file, ami_ocr.pkr.hcl and ami_redis.pkr.hcl form one
# configuration; each template's build is chosen with -only:
#   packer init .
#   packer build -only='ocr-service.*' -var ocr_image=ghcr.io/acme/ocr-service:1.4.0 -var version=1.4.0 .
#   packer build -only='ocr-service-redis.*' -var version=1.4.0 .
# Each build sets what is its own (AMI name, description, tags) on the shared source.

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
  description = "Root volume size in GiB (images, container logs, the Redis AOF)."
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
  description = "Instance profile for the build instance, needed when the image to pre-pull is in a private ECR repository."
  default     = null
}

variable "log_group_prefix" {
  type        = string
  description = "CloudWatch Logs group prefix: the agent ships to <prefix>/app, <prefix>/docker and <prefix>/metrics (the monitoring module's groups, /<name>/...)."
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
}

source "amazon-ebs" "al2023" {
  # ami_name, ami_description, tags, snapshot_tags and run_tags: set by each build.
  region          = var.region
  instance_type   = var.instance_type

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

}

# Calls the module from outside, as a consumer stack would.
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  type        = string
  description = "AWS region."
  default     = "eu-west-1"
}

locals {
  tags = { Project = "infracheck-selftest" }
}

module "web" {
  source = "../modules/web_sg"
  name   = "selftest"
  tags   = local.tags
}

output "web_security_group_id" {
  description = "ID of the web group."
  value       = module.web.web_security_group_id
}

output "client_security_group_id" {
  description = "ID of the client group."
  value       = module.web.client_security_group_id
}

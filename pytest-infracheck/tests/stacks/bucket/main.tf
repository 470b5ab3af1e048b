# One bucket: the smallest stack that applies against the emulator in seconds.
terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

variable "name" {
  type        = string
  description = "Bucket name."
  default     = "ic-bucket"
}

resource "aws_s3_bucket" "this" {
  bucket = var.name
}

output "bucket" {
  description = "Bucket name."
  value       = aws_s3_bucket.this.bucket
}

# A VPC with two security groups: "web" reachable on var.port only from "client".
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
  description = "Name prefix of every resource."
}

variable "port" {
  type        = number
  description = "Port the web group serves."
  default     = 8080
}

variable "tags" {
  type        = map(string)
  description = "Tags for every resource."
  default     = {}
}

resource "aws_vpc" "this" {
  cidr_block = "10.42.0.0/16"
  tags       = merge(var.tags, { Name = var.name })
}

resource "aws_security_group" "client" {
  name   = "${var.name}-client"
  vpc_id = aws_vpc.this.id
  tags   = var.tags
}

resource "aws_security_group" "web" {
  name   = "${var.name}-web"
  vpc_id = aws_vpc.this.id
  tags   = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "web_from_client" {
  security_group_id            = aws_security_group.web.id
  referenced_security_group_id = aws_security_group.client.id
  ip_protocol                  = "tcp"
  from_port                    = var.port
  to_port                      = var.port
  tags                         = var.tags
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "web_security_group_id" {
  description = "ID of the web group."
  value       = aws_security_group.web.id
}

output "client_security_group_id" {
  description = "ID of the client group."
  value       = aws_security_group.client.id
}

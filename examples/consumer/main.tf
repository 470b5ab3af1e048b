# A consumer stack: a small network of its own, the load balancer and the auto-scaling group from
# this repository's modules (a real consumer would use source = "git::...//modules/alb").
terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 7.0"
    }
  }
}

provider "aws" {
  region = var.region
}

data "aws_availability_zones" "available" {
  state = "available"
}

locals {
  azs  = slice(data.aws_availability_zones.available.names, 0, 2)
  tags = merge(var.tags, { Stack = var.name })
}

resource "aws_vpc" "this" {
  cidr_block           = "10.20.0.0/16"
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = var.name })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = local.tags
}

resource "aws_subnet" "public" {
  count = 2

  vpc_id            = aws_vpc.this.id
  cidr_block        = cidrsubnet(aws_vpc.this.cidr_block, 8, count.index)
  availability_zone = local.azs[count.index]
  tags              = merge(local.tags, { Name = "${var.name}-public-${count.index}" })
}

module "alb" {
  source = "../../modules/alb"

  name                       = var.name
  vpc_id                     = aws_vpc.this.id
  subnet_ids                 = aws_subnet.public[*].id
  target_port                = var.service_port
  enable_deletion_protection = false

  tags = local.tags
}

module "asg" {
  source = "../../modules/asg"

  name                  = var.name
  vpc_id                = aws_vpc.this.id
  subnet_ids            = aws_subnet.public[*].id
  alb_security_group_id = module.alb.security_group_id
  target_group_arns     = [module.alb.target_group_arn]
  service_port          = var.service_port
  instance_type         = "t3.micro"
  ami_id                = var.ami_id
  min_size              = 1
  max_size              = 2
  desired_capacity      = 1
  redis_host            = var.redis_host

  tags = local.tags

  depends_on = [aws_internet_gateway.this]
}

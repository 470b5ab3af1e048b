locals {
  name       = "${var.name}-${var.environment}"
  ssm_prefix = "/${var.name}/${var.environment}"

  tags = merge(var.tags, {
    Application = var.name
    Environment = var.environment
    ManagedBy   = "terraform"
  })
}

data "aws_kms_key" "ssm" {
  count  = var.ssm_kms_key_id == null ? 0 : 1
  key_id = var.ssm_kms_key_id
}

module "vpc" {
  source = "../modules/vpc"

  name               = local.name
  cidr               = var.vpc_cidr
  public_subnets     = var.public_subnets
  private_subnets    = var.private_subnets
  enable_nat_gateway = true
  single_nat_gateway = var.single_nat_gateway
  enable_flow_log    = var.enable_flow_log

  tags = local.tags
}

module "alb" {
  source = "../modules/alb"

  name                       = local.name
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.public_subnet_ids
  ingress_cidr_blocks        = var.alb_ingress_cidr_blocks
  target_port                = var.service_port
  health_check_path          = "/health"
  certificate_arn            = var.certificate_arn
  enable_deletion_protection = var.alb_deletion_protection
  access_logs_bucket         = var.alb_access_logs_bucket

  tags = local.tags
}

# Secrets live in SSM Parameter Store; instances read them at boot through their instance profile.
resource "aws_ssm_parameter" "mongo_connection_string" {
  #checkov:skip=CKV_AWS_337:A customer-managed key is optional (ssm_kms_key_id); the default is the AWS-managed aws/ssm key.
  name        = "${local.ssm_prefix}/mongo-connection-string"
  description = "MongoDB connection string of ${local.name}"
  type        = "SecureString"
  key_id      = var.ssm_kms_key_id
  value       = var.mongo_connection_string

  tags = merge(local.tags, { Name = "${local.name}-mongo-connection-string" })
}

resource "aws_ssm_parameter" "redis_password" {
  #checkov:skip=CKV_AWS_337:A customer-managed key is optional (ssm_kms_key_id); the default is the AWS-managed aws/ssm key.
  name        = "${local.ssm_prefix}/redis-password"
  description = "Redis password of ${local.name}"
  type        = "SecureString"
  key_id      = var.ssm_kms_key_id
  value       = var.redis_password

  tags = merge(local.tags, { Name = "${local.name}-redis-password" })
}

module "asg" {
  source = "../modules/asg"

  name                  = local.name
  vpc_id                = module.vpc.vpc_id
  subnet_ids            = module.vpc.private_subnet_ids
  alb_security_group_id = module.alb.security_group_id
  target_group_arns     = [module.alb.target_group_arn]
  service_port          = var.service_port
  instance_type         = var.ocr_instance_type
  ami_id                = var.ocr_ami_id
  ami_owners            = var.ami_owners
  ami_tags              = var.ocr_ami_tags
  min_size              = var.min_size
  max_size              = var.max_size
  desired_capacity      = var.desired_capacity
  redis_host            = module.redis.private_ip
  redis_port            = module.redis.port
  ssm_kms_key_arn       = try(data.aws_kms_key.ssm[0].arn, null)

  ssm_parameters = {
    MONGO_CONNECTION_STRING = aws_ssm_parameter.mongo_connection_string.name
    REDIS_PASSWORD          = aws_ssm_parameter.redis_password.name
  }

  tags = local.tags
}

module "redis" {
  source = "../modules/redis"

  name                        = local.name
  vpc_id                      = module.vpc.vpc_id
  subnet_id                   = module.vpc.private_subnet_ids[0]
  client_security_group_id    = module.asg.security_group_id
  instance_type               = var.redis_instance_type
  detailed_monitoring         = var.redis_detailed_monitoring
  ami_id                      = var.redis_ami_id
  ami_owners                  = var.ami_owners
  ami_tags                    = var.redis_ami_tags
  password_ssm_parameter_name = aws_ssm_parameter.redis_password.name
  ssm_kms_key_arn             = try(data.aws_kms_key.ssm[0].arn, null)

  tags = local.tags
}

module "monitoring" {
  source = "../modules/monitoring"

  name                    = local.name
  log_group_prefix        = var.log_group_prefix
  log_retention_in_days   = var.log_retention_in_days
  create_sns_topic        = var.create_sns_topic
  sns_topic_arn           = var.alarm_sns_topic_arn
  alb_arn_suffix          = module.alb.lb_arn_suffix
  target_group_arn_suffix = module.alb.target_group_arn_suffix
  autoscaling_group_name  = module.asg.autoscaling_group_name
  redis_instance_id       = module.redis.instance_id

  tags = local.tags
}

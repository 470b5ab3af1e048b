locals {
  name       = "${var.name}-${var.environment}"
  ssm_prefix = "/${var.name}/${var.environment}"

  # The SecureString parameters the instances read at boot. With manage_secrets = false they are
  # created out of band under the same names, and their values never enter the Terraform state.
  parameter_names = {
    mongo_connection_string = "${local.ssm_prefix}/mongo-connection-string"
    redis_password          = "${local.ssm_prefix}/redis-password"
    api_key                 = "${local.ssm_prefix}/api-key"
  }

  # Not a secret: the CA certificate the Redis instance publishes at boot and the OCR instances
  # verify Redis with (a String parameter modules/redis creates whatever manage_secrets says).
  redis_tls_ca_parameter_name = "${local.ssm_prefix}/redis-tls-ca"

  # The same names through the resources when Terraform creates them, so that the instances (which
  # read them at boot) are created after them.
  parameters = {
    mongo_connection_string = coalesce(one(aws_ssm_parameter.mongo_connection_string[*].name), local.parameter_names.mongo_connection_string)
    redis_password          = coalesce(one(aws_ssm_parameter.redis_password[*].name), local.parameter_names.redis_password)
    api_key                 = coalesce(one(aws_ssm_parameter.api_key[*].name), local.parameter_names.api_key)
  }

  # One key per stack decrypts its parameters: the instance roles may use this key and no other.
  kms_key_arn = var.ssm_kms_key_id == null ? aws_kms_key.ssm[0].arn : data.aws_kms_key.ssm[0].arn

  tags = merge(var.tags, {
    Application = var.name
    Environment = var.environment
    ManagedBy   = "terraform"
  })
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_kms_key" "ssm" {
  count  = var.ssm_kms_key_id == null ? 0 : 1
  key_id = var.ssm_kms_key_id
}

# The stack's own customer-managed key, unless ssm_kms_key_id names one. Its policy leaves access to
# IAM (the account root), where the instance roles get kms:Decrypt on this key only, through SSM.
data "aws_iam_policy_document" "ssm_key" {
  #checkov:skip=CKV_AWS_109:In a key policy, Resource "*" is this key; root kms:* is AWS's default key policy, which hands access control to IAM.
  #checkov:skip=CKV_AWS_111:In a key policy, Resource "*" is this key; root kms:* is AWS's default key policy, which hands access control to IAM.
  #checkov:skip=CKV_AWS_356:In a key policy, Resource "*" is this key, not every resource of the account.
  statement {
    sid       = "AccountAdministersThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "ssm" {
  count = var.ssm_kms_key_id == null ? 1 : 0

  description             = "SecureString parameters of ${local.name}"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.ssm_key.json

  tags = merge(local.tags, { Name = "${local.name}-ssm" })
}

resource "aws_kms_alias" "ssm" {
  count = var.ssm_kms_key_id == null ? 1 : 0

  name          = "alias/${local.name}-ssm"
  target_key_id = aws_kms_key.ssm[0].key_id
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
  health_check_path          = "/health/ready"
  certificate_arn            = var.certificate_arn
  ssl_policy                 = var.alb_ssl_policy
  idle_timeout               = var.alb_idle_timeout
  enable_deletion_protection = var.alb_deletion_protection
  access_logs_bucket         = var.alb_access_logs_bucket
  blocked_paths              = ["/metrics"] # open to the agent on each instance, never through here

  tags = local.tags
}

# Secrets live in SSM Parameter Store, encrypted with the stack's key; instances read them at boot
# through their instance profile. Created here only with manage_secrets (their values are then in
# the state too: keep the state encrypted, see backend.tf.example). The secrets are checked in
# preconditions, not variable validations: Terraform prints the value of a variable whose validation
# fails, sensitive or not, while a failed precondition shows only its message.
resource "aws_ssm_parameter" "mongo_connection_string" {
  count = var.manage_secrets ? 1 : 0

  name        = local.parameter_names.mongo_connection_string
  description = "MongoDB connection string of ${local.name}"
  type        = "SecureString"
  key_id      = local.kms_key_arn
  value       = var.mongo_connection_string

  tags = merge(local.tags, { Name = "${local.name}-mongo-connection-string" })

  lifecycle {
    precondition {
      condition     = var.mongo_connection_string != null
      error_message = "manage_secrets needs mongo_connection_string (or set manage_secrets = false and create the parameter out of band)."
    }
    precondition {
      condition     = can(regex("^mongodb(\\+srv)?://", var.mongo_connection_string))
      error_message = "mongo_connection_string must start with mongodb:// or mongodb+srv://."
    }
    precondition {
      condition = (can(regex("^mongodb\\+srv://", var.mongo_connection_string)) && !can(regex("[?&](tls|ssl)=false", var.mongo_connection_string))
      ) || can(regex("^mongodb://[^?]*\\?(.*&)?(tls|ssl)=true(&|$)", var.mongo_connection_string))
      error_message = "mongo_connection_string must ask for TLS: mongodb+srv://... (TLS unless tls=false) or mongodb://...?tls=true."
    }
  }
}

resource "aws_ssm_parameter" "redis_password" {
  count = var.manage_secrets ? 1 : 0

  name        = local.parameter_names.redis_password
  description = "Redis password of ${local.name}"
  type        = "SecureString"
  key_id      = local.kms_key_arn
  value       = var.redis_password

  tags = merge(local.tags, { Name = "${local.name}-redis-password" })

  lifecycle {
    precondition {
      condition     = try(length(var.redis_password) >= 16, false)
      error_message = "redis_password must be at least 16 characters long (manage_secrets needs it; or set manage_secrets = false and create the parameter out of band)."
    }
  }
}

resource "aws_ssm_parameter" "api_key" {
  count = var.manage_secrets ? 1 : 0

  name        = local.parameter_names.api_key
  description = "API key of the default tenant of ${local.name}"
  type        = "SecureString"
  key_id      = local.kms_key_arn
  value       = var.api_key

  tags = merge(local.tags, { Name = "${local.name}-api-key" })

  lifecycle {
    precondition {
      condition     = try(length(var.api_key) >= 32 && !can(regex("\\s", var.api_key)), false)
      error_message = "api_key must be at least 32 characters without spaces (manage_secrets needs it; or set manage_secrets = false and create the parameter out of band)."
    }
  }
}

# The parameters existed unconditionally before manage_secrets.
moved {
  from = aws_ssm_parameter.mongo_connection_string
  to   = aws_ssm_parameter.mongo_connection_string[0]
}

moved {
  from = aws_ssm_parameter.redis_password
  to   = aws_ssm_parameter.redis_password[0]
}

# The OCR instances. Readiness (/health/ready: MongoDB, Redis) gates the load balancer only; the group
# replaces instances on EC2 status checks alone, so an outage of a dependency never kills the OCR in
# flight (the image's unit restarts a service that dies). uvicorn keeps idle connections open longer
# than the load balancer does, and trusts X-Forwarded-* from the VPC, where the load balancer lives.
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
  redis_tls             = module.redis.tls
  redis_username        = module.redis.username
  # The OCR instances wait for the CA the Redis instance publishes, and verify Redis with it.
  redis_tls_ca_ssm_parameter_name = module.redis.tls_ca_ssm_parameter_name
  mongo_cidr_blocks               = var.mongo_cidr_blocks
  ssm_kms_key_arn                 = local.kms_key_arn

  health_check_type = "EC2"

  scaling_metric              = var.scaling_metric
  backlog_target_per_instance = var.backlog_target_per_instance
  cpu_target_value            = var.cpu_target_value

  forwarded_allow_ips = var.vpc_cidr
  keep_alive_timeout  = var.alb_idle_timeout + 15

  # /metrics is open to the CloudWatch agent on the instance; the load balancer never forwards it.
  environment = {
    OPEN_PATHS = jsonencode(["/docs", "/redoc", "/openapi.json", "/ui", "/docs-assets", "/metrics"])
  }

  ssm_parameters = {
    MONGO_CONNECTION_STRING = local.parameters.mongo_connection_string
    REDIS_PASSWORD          = local.parameters.redis_password
    API_KEY                 = local.parameters.api_key
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
  password_ssm_parameter_name = local.parameters.redis_password
  ssm_kms_key_arn             = local.kms_key_arn
  tls                         = true
  service_username            = var.redis_username
  tls_ca_ssm_parameter_name   = local.redis_tls_ca_parameter_name
  tls_ssm_parameter_names     = var.redis_tls_ssm_parameter_names

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

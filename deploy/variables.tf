variable "region" {
  description = "AWS region of the stack."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]+$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "name" {
  description = "Name prefix of every resource of the stack."
  type        = string
  default     = "ocr-service"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,19}$", var.name))
    error_message = "name must be 1-20 lower-case letters, digits or hyphens (it prefixes the load balancer name)."
  }
}

variable "environment" {
  description = "Environment name (prod, staging, ...); part of resource names and SSM parameter paths."
  type        = string
  default     = "prod"

  validation {
    condition     = can(regex("^[a-z0-9]{1,7}$", var.environment))
    error_message = "environment must be 1-7 lower-case letters or digits."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR block of the VPC."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block."
  }
}

variable "public_subnets" {
  description = "CIDR blocks of the public subnets, one per availability zone (at least two)."
  type        = list(string)
  default     = ["10.0.0.0/24", "10.0.1.0/24"]

  validation {
    condition     = length(var.public_subnets) >= 2
    error_message = "public_subnets needs at least two CIDR blocks."
  }
}

variable "private_subnets" {
  description = "CIDR blocks of the private subnets, one per availability zone (at least two)."
  type        = list(string)
  default     = ["10.0.10.0/24", "10.0.11.0/24"]

  validation {
    condition     = length(var.private_subnets) >= 2
    error_message = "private_subnets needs at least two CIDR blocks."
  }
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway instead of one per availability zone."
  type        = bool
  default     = true
}

variable "enable_flow_log" {
  description = "Send VPC flow logs to CloudWatch Logs."
  type        = bool
  default     = false
}

variable "certificate_arn" {
  description = "ACM certificate ARN; the load balancer serves HTTPS with it and redirects HTTP there. Required unless allow_plain_http."
  type        = string
  default     = null
}

variable "allow_plain_http" {
  description = "For trials only: let the public load balancer serve plain HTTP when certificate_arn is null (API keys and documents then cross the internet in clear)."
  type        = bool
  default     = false

  validation {
    condition     = var.certificate_arn != null || var.allow_plain_http
    error_message = "certificate_arn is null, so the public load balancer would serve plain HTTP: give an ACM certificate_arn, or set allow_plain_http = true (for trials only)."
  }
}

variable "alb_ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.2 or newer only)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "alb_idle_timeout" {
  description = "Seconds the load balancer keeps an idle connection open (large uploads on slow links need minutes); the service keeps its own 15 s longer."
  type        = number
  default     = 300

  validation {
    condition     = var.alb_idle_timeout >= 1 && var.alb_idle_timeout <= 4000
    error_message = "alb_idle_timeout must be between 1 and 4000 seconds."
  }
}

variable "alb_ingress_cidr_blocks" {
  description = "IPv4 CIDR blocks allowed to reach the load balancer."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "alb_deletion_protection" {
  description = "Protect the load balancer from deletion (set false for throwaway stacks)."
  type        = bool
  default     = true
}

variable "alb_access_logs_bucket" {
  description = "S3 bucket for load balancer access logs; null disables them."
  type        = string
  default     = null
}

variable "service_port" {
  description = "Port the OCR service listens on in the instances."
  type        = number
  default     = 8000

  validation {
    condition     = var.service_port >= 1 && var.service_port <= 65535
    error_message = "service_port must be between 1 and 65535."
  }
}

variable "ocr_instance_type" {
  description = "EC2 instance type of the OCR instances."
  type        = string
  default     = "c6i.large"
}

variable "ocr_ami_id" {
  description = "AMI ID of the OCR image; null looks up the newest image tagged with ocr_ami_tags."
  type        = string
  default     = null
}

variable "ocr_ami_tags" {
  description = "Tags of the OCR image the lookup matches (set by packer/ami_ocr.pkr.hcl)."
  type        = map(string)
  default = {
    Application = "ocr-service"
    Role        = "ocr"
  }
}

variable "redis_instance_type" {
  description = "EC2 instance type of the Redis instance."
  type        = string
  default     = "t3.small"
}

variable "redis_detailed_monitoring" {
  description = "1-minute EC2 metrics for the Redis instance (its alarms work with the basic 5-minute metrics too)."
  type        = bool
  default     = false
}

variable "redis_ami_id" {
  description = "AMI ID of the Redis image; null looks up the newest image tagged with redis_ami_tags."
  type        = string
  default     = null
}

variable "redis_ami_tags" {
  description = "Tags of the Redis image the lookup matches (set by packer/ami_redis.pkr.hcl)."
  type        = map(string)
  default = {
    Application = "ocr-service"
    Role        = "redis"
  }
}

variable "ami_owners" {
  description = "Owners (account IDs or self) searched by the AMI lookups."
  type        = list(string)
  default     = ["self"]
}

variable "min_size" {
  description = "Minimum number of OCR instances."
  type        = number
  default     = 1
}

variable "max_size" {
  description = "Maximum number of OCR instances."
  type        = number
  default     = 3
}

variable "desired_capacity" {
  description = "Number of OCR instances to start with."
  type        = number
  default     = 2
}

variable "scaling_metric" {
  description = "What the OCR group scales on: backlog (documents waiting per in-service instance) or cpu."
  type        = string
  default     = "backlog"
}

variable "backlog_target_per_instance" {
  description = "Documents waiting per in-service instance the backlog policy keeps the group at."
  type        = number
  default     = 10
}

variable "cpu_target_value" {
  description = "Average CPU percent the cpu policy keeps the group at (scaling_metric = cpu)."
  type        = number
  default     = 60
}

variable "mongo_cidr_blocks" {
  description = "Addresses of MongoDB the instances may reach (the provider's published range, a peering, or a PrivateLink endpoint's subnet); the only MongoDB egress."
  type        = list(string)

  validation {
    condition     = length(var.mongo_cidr_blocks) > 0 && alltrue([for c in var.mongo_cidr_blocks : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "mongo_cidr_blocks must list the IPv4 CIDR blocks of MongoDB, not 0.0.0.0/0."
  }
}

variable "manage_secrets" {
  description = "Create the SecureString parameters from mongo_connection_string, redis_password and api_key (their values then live in the state too); false: they are created out of band under the names of the ssm_parameter_names output."
  type        = bool
  default     = true
}

variable "mongo_connection_string" {
  description = "MongoDB connection string asking for TLS (mongodb+srv://, or tls=true); stored as a SecureString SSM parameter, never in user data."
  type        = string
  default     = null
  sensitive   = true
}

variable "redis_password" {
  description = "Password of the service's Redis ACL user (at least 16 characters); stored as a SecureString SSM parameter, never in user data."
  type        = string
  default     = null
  sensitive   = true
}

variable "redis_username" {
  description = "Redis ACL user the service logs in as (the default user is disabled in the image)."
  type        = string
  default     = "ocr-service"
}

variable "redis_tls_ssm_parameter_names" {
  description = "The deployment's own Redis TLS certificate instead of one the Redis instance makes at first boot: SecureString parameter names (created out of band, with the stack's KMS key) under REDIS_TLS_CERT, REDIS_TLS_KEY and optionally REDIS_TLS_CA. Only the Redis role may read them; the CA reaches the OCR instances through the redis_tls_ca_ssm_parameter_name output either way."
  type        = map(string)
  default     = {}
}

variable "api_key" {
  description = "API key of the default tenant (at least 32 characters), read by the instances as API_KEY; stored as a SecureString SSM parameter, never in user data."
  type        = string
  default     = null
  sensitive   = true
}

variable "ssm_kms_key_id" {
  description = "KMS key (ID, ARN or alias) of the SecureString parameters; null creates a customer-managed key for the stack."
  type        = string
  default     = null
}

variable "log_group_prefix" {
  description = "Prefix of the app, Docker and metrics log groups; must match the log_group_prefix the Packer builds used (their default is /ocr-service)."
  type        = string
  default     = "/ocr-service"
}

variable "log_retention_in_days" {
  description = "Retention of the app and Docker log groups in days."
  type        = number
  default     = 365
}

variable "create_sns_topic" {
  description = "Create an SNS topic the alarms notify."
  type        = bool
  default     = false
}

variable "alarm_sns_topic_arn" {
  description = "Existing SNS topic the alarms notify (when create_sns_topic is false)."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource of the stack."
  type        = map(string)
  default     = {}
}

variable "name" {
  description = "Name of the Redis instance; other resources derive their names from it."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,40}$", var.name))
    error_message = "name must be 1-40 characters of letters, digits and hyphens."
  }
}

variable "vpc_id" {
  description = "ID of the VPC of the instance."
  type        = string
}

variable "subnet_id" {
  description = "Private subnet the instance is launched in."
  type        = string
}

variable "client_security_group_id" {
  description = "Security group of the Redis clients (the OCR service): the only source admitted on the Redis port."
  type        = string
}

variable "redis_port" {
  description = "Host port Redis is published on (the image's ocr-redis.service reads it as REDIS_PORT); the only port the clients' group may reach."
  type        = number
  default     = 6379

  validation {
    condition     = var.redis_port >= 1024 && var.redis_port <= 65535
    error_message = "redis_port must be between 1024 and 65535."
  }
}

variable "tls" {
  description = "Tell the image to serve Redis over TLS only on redis_port (written to its service.env as REDIS_TLS)."
  type        = bool
  default     = true
}

variable "service_username" {
  description = "Redis ACL user the clients log in as (written to the image's service.env as REDIS_USERNAME; the image gives it the password parameter's value and no dangerous commands)."
  type        = string
  default     = "ocr-service"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,64}$", var.service_username)) && var.service_username != "default"
    error_message = "service_username must be 1-64 letters, digits, hyphens or underscores, and not default."
  }
}

variable "password_ssm_parameter_name" {
  description = "Name of the SecureString SSM parameter holding the Redis password; the instance reads it at boot."
  type        = string

  validation {
    condition     = length(var.password_ssm_parameter_name) > 0
    error_message = "password_ssm_parameter_name must not be empty."
  }
}

variable "tls_ca_ssm_parameter_name" {
  description = "Name of a String SSM parameter this module creates and the instance publishes its TLS CA certificate to at every start (public: no key in it); the clients read it (modules/asg's redis_tls_ca_ssm_parameter_name). null: nothing is published, give the clients the CA yourself."
  type        = string
  default     = null

  validation {
    condition     = var.tls_ca_ssm_parameter_name == null || can(regex("^/?[A-Za-z0-9_.\\-/]+$", var.tls_ca_ssm_parameter_name))
    error_message = "tls_ca_ssm_parameter_name must be an SSM parameter name (letters, digits, _ . - /)."
  }
}

variable "tls_ssm_parameter_names" {
  description = "The deployment's own TLS material instead of a CA and certificate made at first boot: SecureString parameter names under the keys REDIS_TLS_CERT, REDIS_TLS_KEY and (the CA that signed the certificate) REDIS_TLS_CA. Only this instance may read them; the CA is still published to tls_ca_ssm_parameter_name."
  type        = map(string)
  default     = {}

  validation {
    condition = length(var.tls_ssm_parameter_names) == 0 || (
      length(setsubtract(keys(var.tls_ssm_parameter_names), ["REDIS_TLS_CERT", "REDIS_TLS_KEY", "REDIS_TLS_CA"])) == 0
      && contains(keys(var.tls_ssm_parameter_names), "REDIS_TLS_CERT") && contains(keys(var.tls_ssm_parameter_names), "REDIS_TLS_KEY")
    )
    error_message = "tls_ssm_parameter_names takes REDIS_TLS_CERT and REDIS_TLS_KEY (both) and optionally REDIS_TLS_CA."
  }
}

variable "ssm_kms_key_arn" {
  description = "KMS key ARN of the password parameter; null allows the AWS-managed aws/ssm key (through SSM only)."
  type        = string
  default     = null
}

variable "instance_type" {
  description = "EC2 instance type of the Redis instance (a type that supports auto-recovery)."
  type        = string
  default     = "t3.small"
}

variable "ami_id" {
  description = "AMI ID of the Redis image; null looks up the newest image matching ami_owners, ami_name_filter and ami_tags."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]+$", var.ami_id))
    error_message = "ami_id must look like ami-0123456789abcdef0, or be null."
  }
}

variable "ami_owners" {
  description = "Owners (account IDs or self) searched when looking the AMI up."
  type        = list(string)
  default     = ["self"]

  validation {
    condition     = length(var.ami_owners) > 0
    error_message = "ami_owners must not be empty."
  }
}

variable "ami_name_filter" {
  description = "Name pattern of the AMI lookup (wildcards allowed); null matches any name."
  type        = string
  default     = null
}

variable "ami_tags" {
  description = "Tags the looked-up AMI must carry (the Packer build sets them)."
  type        = map(string)
  default = {
    Application = "ocr-service"
    Role        = "redis"
  }
}

variable "root_volume_size" {
  description = "Size of the encrypted root volume in GiB (holds the Redis append-only file)."
  type        = number
  default     = 20

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 16384
    error_message = "root_volume_size must be between 8 and 16384 GiB."
  }
}

variable "root_volume_type" {
  description = "EBS volume type of the root volume."
  type        = string
  default     = "gp3"

  validation {
    condition     = contains(["gp2", "gp3", "io1", "io2"], var.root_volume_type)
    error_message = "root_volume_type must be gp2, gp3, io1 or io2."
  }
}

variable "ebs_kms_key_arn" {
  description = "KMS key ARN for the root volume; null uses the account's default EBS key."
  type        = string
  default     = null
}

variable "maxmemory" {
  description = "Redis maxmemory for this instance type (e.g. 1536mb), written to /etc/ocr-redis/conf.d; null keeps the image's setting."
  type        = string
  default     = null

  validation {
    condition     = var.maxmemory == null || can(regex("^[0-9]+(b|kb|mb|gb)?$", var.maxmemory))
    error_message = "maxmemory must be a number optionally followed by b, kb, mb or gb."
  }
}

variable "detailed_monitoring" {
  description = "Publish the instance's EC2 metrics every minute instead of every five."
  type        = bool
  default     = true
}

variable "egress_cidr_blocks" {
  description = "Destinations the instance may reach over HTTPS (SSM and CloudWatch APIs)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.egress_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "egress_cidr_blocks must contain valid IPv4 CIDR blocks."
  }
}

variable "enable_ssm_session_manager" {
  description = "Attach AmazonSSMManagedInstanceCore so operators use Session Manager instead of SSH (no SSH port is ever opened); the role still reads only its own parameter."
  type        = bool
  default     = false
}

variable "recovery_alarm_actions" {
  description = "Extra actions (e.g. an SNS topic ARN) of the auto-recovery alarm, besides EC2 recover."
  type        = list(string)
  default     = []
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

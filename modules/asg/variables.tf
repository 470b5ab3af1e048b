variable "name" {
  description = "Name of the auto-scaling group; other resources derive their names from it."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,40}$", var.name))
    error_message = "name must be 1-40 characters of letters, digits and hyphens."
  }
}

variable "vpc_id" {
  description = "ID of the VPC of the instances."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets the instances are launched in (spread over availability zones)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 1
    error_message = "subnet_ids must contain at least one subnet."
  }
}

variable "alb_security_group_id" {
  description = "Security group of the load balancer: the only source admitted on the service port."
  type        = string
}

variable "target_group_arns" {
  description = "Target groups the instances register with."
  type        = list(string)
  default     = []
}

variable "service_port" {
  description = "Port the OCR service listens on (passed to the instances as PORT)."
  type        = number
  default     = 8000

  validation {
    condition     = var.service_port >= 1 && var.service_port <= 65535
    error_message = "service_port must be between 1 and 65535."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the OCR instances."
  type        = string
  default     = "c6i.large"
}

variable "ami_id" {
  description = "AMI ID of the OCR image; null looks up the newest image matching ami_owners, ami_name_filter and ami_tags."
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
    Role        = "ocr"
  }
}

variable "min_size" {
  description = "Minimum number of instances."
  type        = number
  default     = 1

  validation {
    condition     = var.min_size >= 0
    error_message = "min_size must not be negative."
  }
}

variable "max_size" {
  description = "Maximum number of instances."
  type        = number
  default     = 3

  validation {
    condition     = var.max_size >= 1
    error_message = "max_size must be at least 1."
  }
}

variable "desired_capacity" {
  description = "Number of instances to start with (the scaling policy moves it between min_size and max_size)."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_capacity >= 0
    error_message = "desired_capacity must not be negative."
  }
}

variable "health_check_type" {
  description = "What makes the group replace an instance: EC2 (instance status checks; the default, so a MongoDB or Redis outage that fails the load balancer's readiness check never replaces instances) or ELB (also the target group's health check)."
  type        = string
  default     = "EC2"

  validation {
    condition     = contains(["EC2", "ELB"], var.health_check_type)
    error_message = "health_check_type must be EC2 or ELB."
  }
}

variable "health_check_grace_period" {
  description = "Seconds after launch before failed health checks replace an instance."
  type        = number
  default     = 300

  validation {
    condition     = var.health_check_grace_period >= 0
    error_message = "health_check_grace_period must not be negative."
  }
}

variable "scaling_metric" {
  description = "What the target-tracking policy follows: backlog (documents waiting per in-service instance, from the service's ocr_queue_depth metric) or cpu (average CPU utilisation)."
  type        = string
  default     = "backlog"

  validation {
    condition     = contains(["backlog", "cpu"], var.scaling_metric)
    error_message = "scaling_metric must be backlog or cpu."
  }
}

variable "backlog_target_per_instance" {
  description = "Documents waiting per in-service instance the backlog policy keeps the group at (about what one instance clears within the latency you accept)."
  type        = number
  default     = 10

  validation {
    condition     = var.backlog_target_per_instance > 0
    error_message = "backlog_target_per_instance must be positive."
  }
}

variable "metrics_namespace" {
  description = "CloudWatch namespace the service's metrics are published in (by the CloudWatch agent of the image)."
  type        = string
  default     = "OCRService"
}

variable "instance_warmup" {
  description = "Seconds a new instance needs before its metrics count for the backlog policy (boot, image pull, engine start)."
  type        = number
  default     = 300

  validation {
    condition     = var.instance_warmup >= 0
    error_message = "instance_warmup must not be negative."
  }
}

variable "cpu_target_value" {
  description = "Average CPU utilisation (percent) the cpu target-tracking policy keeps the group at."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_value > 0 && var.cpu_target_value <= 100
    error_message = "cpu_target_value must be between 0 (exclusive) and 100."
  }
}

variable "instance_refresh_min_healthy_percentage" {
  description = "Percentage of the group kept in service while an instance refresh replaces instances."
  type        = number
  default     = 50

  validation {
    condition     = var.instance_refresh_min_healthy_percentage >= 0 && var.instance_refresh_min_healthy_percentage <= 100
    error_message = "instance_refresh_min_healthy_percentage must be between 0 and 100."
  }
}

variable "root_volume_size" {
  description = "Size of the encrypted root volume in GiB."
  type        = number
  default     = 30

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

variable "root_device_name" {
  description = "Device name of the image's root volume."
  type        = string
  default     = "/dev/xvda"
}

variable "ebs_kms_key_arn" {
  description = "KMS key ARN for the root volume; null uses the account's default EBS key."
  type        = string
  default     = null
}

variable "metadata_hop_limit" {
  description = "Hop limit of IMDSv2 responses (2 lets containers reach the metadata service)."
  type        = number
  default     = 1

  validation {
    condition     = var.metadata_hop_limit >= 1 && var.metadata_hop_limit <= 64
    error_message = "metadata_hop_limit must be between 1 and 64."
  }
}

variable "redis_host" {
  description = "Redis host name or IP the service uses (passed as REDIS_HOST); null leaves REDIS_HOST unset (embedded queue and cache on each instance)."
  type        = string
  default     = null
}

variable "redis_port" {
  description = "Redis port (passed as REDIS_PORT; also the only non-HTTPS port the service may reach inside the VPC)."
  type        = number
  default     = 6379

  validation {
    condition     = var.redis_port >= 1 && var.redis_port <= 65535
    error_message = "redis_port must be between 1 and 65535."
  }
}

variable "redis_tls" {
  description = "Connect to Redis over TLS (passed as REDIS_TLS with REDIS_HOST)."
  type        = bool
  default     = true
}

variable "redis_username" {
  description = "Redis ACL user of the service (passed as REDIS_USERNAME with REDIS_HOST); null uses Redis's default user."
  type        = string
  default     = null
}

variable "redis_tls_ca_ssm_parameter_name" {
  description = "SSM parameter holding the PEM CA certificate the service verifies Redis's TLS certificate with (modules/redis's tls_ca_ssm_parameter_name output); the instances wait for it at boot and pass its file as REDIS_TLS_CA_FILE. null: the system's CAs."
  type        = string
  default     = null
}

variable "forwarded_allow_ips" {
  description = "Addresses trusted to set X-Forwarded-For/Proto (passed as FORWARDED_ALLOW_IPS); null trusts the VPC CIDR, where the load balancer lives."
  type        = string
  default     = null
}

variable "keep_alive_timeout" {
  description = "Seconds the service keeps an idle connection open (passed as TIMEOUT_KEEP_ALIVE_S); must exceed the load balancer's idle timeout, or the balancer reuses connections the service has closed (sporadic 502s)."
  type        = number
  default     = 75

  validation {
    condition     = var.keep_alive_timeout >= 1
    error_message = "keep_alive_timeout must be at least 1 second."
  }
}

variable "ssm_parameters" {
  description = "Environment variable name => SSM parameter NAME holding its value (e.g. MONGO_CONNECTION_STRING). Instances read the values at boot; user data carries only the names. A name ending in _FILE gets a file holding a PEM value (waited for at boot) and its path."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.ssm_parameters) : can(regex("^[A-Z][A-Z0-9_]*$", k))])
    error_message = "ssm_parameters keys must be environment variable names (upper case, digits, underscores)."
  }
}

variable "ssm_kms_key_arn" {
  description = "KMS key ARN of the SecureString parameters; null allows the AWS-managed aws/ssm key (through SSM only)."
  type        = string
  default     = null
}

variable "environment" {
  description = "Extra non-secret environment variables for the service (never secrets: user data is readable; use ssm_parameters)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment) : can(regex("^[A-Z][A-Z0-9_]*$", k))])
    error_message = "environment keys must be environment variable names (upper case, digits, underscores)."
  }

  validation {
    condition     = !anytrue([for k in keys(var.environment) : can(regex("PASSWORD|SECRET|TOKEN|CONNECTION_STRING|_KEY$", k))])
    error_message = "environment must not carry secrets (PASSWORD, SECRET, TOKEN, CONNECTION_STRING, *_KEY): pass them through ssm_parameters."
  }
}

variable "egress_cidr_blocks" {
  description = "Destinations the instances may reach on egress_ports (AWS APIs over HTTPS)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.egress_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "egress_cidr_blocks must contain valid IPv4 CIDR blocks."
  }
}

variable "egress_ports" {
  description = "TCP ports the instances may reach in egress_cidr_blocks (443 for AWS APIs); MongoDB has its own narrower rule (mongo_cidr_blocks)."
  type        = list(number)
  default     = [443]

  validation {
    condition     = alltrue([for p in var.egress_ports : p >= 1 && p <= 65535])
    error_message = "egress_ports must be between 1 and 65535."
  }
}

variable "mongo_cidr_blocks" {
  description = "Addresses of MongoDB the instances may reach on mongo_port (the provider's range, a peering or a VPC endpoint); empty: no MongoDB egress."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.mongo_cidr_blocks : can(cidrhost(c, 0)) && c != "0.0.0.0/0"])
    error_message = "mongo_cidr_blocks must contain valid IPv4 CIDR blocks, not 0.0.0.0/0."
  }
}

variable "mongo_port" {
  description = "TCP port of MongoDB."
  type        = number
  default     = 27017

  validation {
    condition     = var.mongo_port >= 1 && var.mongo_port <= 65535
    error_message = "mongo_port must be between 1 and 65535."
  }
}

variable "enable_ssm_session_manager" {
  description = "Attach AmazonSSMManagedInstanceCore so operators use Session Manager instead of SSH (no SSH port is ever opened); the role still reads only its own parameters."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource (and propagated to the instances)."
  type        = map(string)
  default     = {}
}

variable "name" {
  description = "Name of the load balancer; the target group and security group derive their names from it."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-]{0,27}$", var.name)) && !endswith(var.name, "-")
    error_message = "name must be 1-28 letters, digits or hyphens, not starting or ending with a hyphen (ALB and target group names are limited to 32 characters)."
  }
}

variable "vpc_id" {
  description = "ID of the VPC the load balancer and target group live in."
  type        = string
}

variable "subnet_ids" {
  description = "Subnets of the load balancer (public subnets for an internet-facing one), in at least two availability zones."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "An application load balancer needs subnets in at least two availability zones."
  }
}

variable "internal" {
  description = "Create an internal load balancer instead of an internet-facing one."
  type        = bool
  default     = false
}

variable "ingress_cidr_blocks" {
  description = "IPv4 CIDR blocks allowed to reach the listeners (HTTP, and HTTPS when enabled)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for c in var.ingress_cidr_blocks : can(cidrhost(c, 0))])
    error_message = "ingress_cidr_blocks must contain valid IPv4 CIDR blocks."
  }
}

variable "target_port" {
  description = "Port the service listens on in the instances (target group port)."
  type        = number
  default     = 8000

  validation {
    condition     = var.target_port >= 1 && var.target_port <= 65535
    error_message = "target_port must be between 1 and 65535."
  }
}

variable "health_check_path" {
  description = "HTTP path the target group's health check requests."
  type        = string
  default     = "/health"

  validation {
    condition     = startswith(var.health_check_path, "/")
    error_message = "health_check_path must start with a slash."
  }
}

variable "health_check_matcher" {
  description = "HTTP codes that mean healthy."
  type        = string
  default     = "200"
}

variable "health_check_interval" {
  description = "Seconds between health checks."
  type        = number
  default     = 15

  validation {
    condition     = var.health_check_interval >= 5 && var.health_check_interval <= 300
    error_message = "health_check_interval must be between 5 and 300 seconds."
  }
}

variable "health_check_timeout" {
  description = "Seconds a health check may take; must be less than the interval."
  type        = number
  default     = 5

  validation {
    condition     = var.health_check_timeout >= 2 && var.health_check_timeout <= 120
    error_message = "health_check_timeout must be between 2 and 120 seconds."
  }
}

variable "healthy_threshold" {
  description = "Consecutive successful checks before a target counts as healthy."
  type        = number
  default     = 2

  validation {
    condition     = var.healthy_threshold >= 2 && var.healthy_threshold <= 10
    error_message = "healthy_threshold must be between 2 and 10."
  }
}

variable "unhealthy_threshold" {
  description = "Consecutive failed checks before a target counts as unhealthy."
  type        = number
  default     = 3

  validation {
    condition     = var.unhealthy_threshold >= 2 && var.unhealthy_threshold <= 10
    error_message = "unhealthy_threshold must be between 2 and 10."
  }
}

variable "deregistration_delay" {
  description = "Seconds the load balancer lets in-flight requests finish on a deregistering target."
  type        = number
  default     = 60

  validation {
    condition     = var.deregistration_delay >= 0 && var.deregistration_delay <= 3600
    error_message = "deregistration_delay must be between 0 and 3600 seconds."
  }
}

variable "idle_timeout" {
  description = "Seconds a connection may stay idle; large PDF uploads on slow links need minutes."
  type        = number
  default     = 300

  validation {
    condition     = var.idle_timeout >= 1 && var.idle_timeout <= 4000
    error_message = "idle_timeout must be between 1 and 4000 seconds."
  }
}

variable "certificate_arn" {
  description = "ACM certificate ARN. When set, an HTTPS listener forwards to the targets and HTTP redirects to it."
  type        = string
  default     = null
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.2 or newer only)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition = contains([
      "ELBSecurityPolicy-TLS13-1-2-2021-06",
      "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
      "ELBSecurityPolicy-TLS13-1-3-2021-06",
      "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
      "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
      "ELBSecurityPolicy-TLS-1-2-2017-01",
      "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
      "ELBSecurityPolicy-FS-1-2-2019-08",
      "ELBSecurityPolicy-FS-1-2-Res-2020-10",
    ], var.ssl_policy)
    error_message = "ssl_policy must be an ELB security policy that allows only TLS 1.2 or newer."
  }
}

variable "enable_deletion_protection" {
  description = "Protect the load balancer from deletion (turn off to let terraform destroy it)."
  type        = bool
  default     = true
}

variable "access_logs_bucket" {
  description = "S3 bucket for access logs; null disables access logs."
  type        = string
  default     = null
}

variable "access_logs_prefix" {
  description = "Key prefix of the access logs in the bucket."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "blocked_paths" {
  description = "Path patterns the load balancer answers with a 404 instead of forwarding (at most 5), e.g. [\"/metrics\"]."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.blocked_paths) <= 5
    error_message = "blocked_paths takes at most 5 path patterns (one listener rule condition)."
  }
}

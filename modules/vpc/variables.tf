variable "name" {
  description = "Name prefix for every resource the module creates."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,40}$", var.name))
    error_message = "name must be 1-40 characters of letters, digits and hyphens."
  }
}

variable "cidr" {
  description = "IPv4 CIDR block of the VPC."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.cidr, 0))
    error_message = "cidr must be a valid IPv4 CIDR block."
  }
}

variable "azs" {
  description = "Availability zones for the subnets, one per subnet. Empty means the first zones the region offers."
  type        = list(string)
  default     = []

  validation {
    condition     = length(var.azs) == 0 || length(var.azs) >= 2
    error_message = "azs must be empty (automatic) or list at least two availability zones."
  }
}

variable "public_subnets" {
  description = "CIDR blocks of the public subnets (load balancer, NAT gateways), one per availability zone."
  type        = list(string)
  default     = ["10.0.0.0/24", "10.0.1.0/24"]

  validation {
    condition     = length(var.public_subnets) >= 2 && alltrue([for c in var.public_subnets : can(cidrhost(c, 0))])
    error_message = "public_subnets must list at least two valid CIDR blocks (two availability zones)."
  }
}

variable "private_subnets" {
  description = "CIDR blocks of the private subnets (instances), one per availability zone."
  type        = list(string)
  default     = ["10.0.10.0/24", "10.0.11.0/24"]

  validation {
    condition     = length(var.private_subnets) >= 2 && alltrue([for c in var.private_subnets : can(cidrhost(c, 0))])
    error_message = "private_subnets must list at least two valid CIDR blocks (two availability zones)."
  }
}

variable "enable_nat_gateway" {
  description = "Create NAT gateways so private subnets reach the internet (AWS APIs, MongoDB)."
  type        = bool
  default     = true
}

variable "single_nat_gateway" {
  description = "One shared NAT gateway (cheaper) instead of one per availability zone (survives a zone outage)."
  type        = bool
  default     = true
}

variable "enable_flow_log" {
  description = "Send VPC flow logs to a CloudWatch log group (creates the log group and an IAM role)."
  type        = bool
  default     = false
}

variable "flow_log_traffic_type" {
  description = "Traffic the flow log records: ACCEPT, REJECT or ALL."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_log_traffic_type)
    error_message = "flow_log_traffic_type must be ACCEPT, REJECT or ALL."
  }
}

variable "flow_log_retention_in_days" {
  description = "Retention of the flow log group in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_in_days)
    error_message = "flow_log_retention_in_days must be a retention period CloudWatch Logs accepts."
  }
}

variable "flow_log_kms_key_arn" {
  description = "KMS key ARN that encrypts the flow log group; null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

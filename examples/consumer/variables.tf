variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Name of the stack; prefixes every resource."
  type        = string
  default     = "consumer"
}

variable "ami_id" {
  description = "AMI of the service instances."
  type        = string
}

variable "service_port" {
  description = "Port the service listens on."
  type        = number
  default     = 8080
}

variable "redis_host" {
  description = "Redis host the service uses."
  type        = string
  default     = "redis.internal"
}

variable "tags" {
  description = "Tags of every resource."
  type        = map(string)
  default     = {}
}

variable "name" {
  description = "Name prefix of the log groups, alarms and SNS topic."
  type        = string

  validation {
    condition     = can(regex("^[a-zA-Z0-9-]{1,40}$", var.name))
    error_message = "name must be 1-40 characters of letters, digits and hyphens."
  }
}

variable "log_group_prefix" {
  description = "Prefix of the log groups (PREFIX/app, PREFIX/docker and PREFIX/metrics); must match the log_group_prefix the images were built with. null means /NAME."
  type        = string
  default     = null

  validation {
    condition     = var.log_group_prefix == null || can(regex("^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$", var.log_group_prefix))
    error_message = "log_group_prefix must start with a slash and not end with one, like /ocr-service."
  }
}

variable "log_retention_in_days" {
  description = "Retention of the app and Docker log groups in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a retention period CloudWatch Logs accepts."
  }
}

variable "log_kms_key_arn" {
  description = "KMS key ARN that encrypts the log groups; null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null
}

variable "create_sns_topic" {
  description = "Create an SNS topic for alarm actions."
  type        = bool
  default     = false
}

variable "sns_topic_arn" {
  description = "Existing SNS topic for alarm actions (used when create_sns_topic is false); null means no actions."
  type        = string
  default     = null
}

variable "sns_kms_key_id" {
  description = "KMS key (ID, ARN or alias) that encrypts the created SNS topic."
  type        = string
  default     = "alias/aws/sns"
}

variable "create_alb_alarms" {
  description = "Create the load balancer alarms (5xx, unhealthy hosts, response time); needs alb_arn_suffix and target_group_arn_suffix."
  type        = bool
  default     = true
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the load balancer (modules/alb output lb_arn_suffix)."
  type        = string
  default     = null
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the target group (modules/alb output target_group_arn_suffix)."
  type        = string
  default     = null
}

variable "create_asg_alarms" {
  description = "Create the auto-scaling group CPU alarm; needs autoscaling_group_name."
  type        = bool
  default     = true
}

variable "autoscaling_group_name" {
  description = "Name of the OCR auto-scaling group (modules/asg output autoscaling_group_name)."
  type        = string
  default     = null
}

variable "create_service_alarms" {
  description = "Create the service alarms on the metrics the image's CloudWatch agent publishes (queue depth, age of the oldest queued document, failure rate); needs autoscaling_group_name."
  type        = bool
  default     = true
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the service's metrics (dimensions AutoScalingGroupName, and status for ocr_documents_finished_total)."
  type        = string
  default     = "OCRService"
}

variable "queue_depth_threshold" {
  description = "Documents waiting in the queue (ocr_queue_depth) that raise an alarm."
  type        = number
  default     = 100

  validation {
    condition     = var.queue_depth_threshold >= 0
    error_message = "queue_depth_threshold must not be negative."
  }
}

variable "queue_oldest_age_threshold" {
  description = "Seconds the oldest queued document has waited (ocr_queue_oldest_age_seconds) that raise an alarm."
  type        = number
  default     = 900

  validation {
    condition     = var.queue_oldest_age_threshold > 0
    error_message = "queue_oldest_age_threshold must be positive."
  }
}

variable "failure_rate_threshold" {
  description = "Percent of finished documents that failed (ocr_documents_finished_total with status failed, of all statuses) that raises an alarm."
  type        = number
  default     = 10

  validation {
    condition     = var.failure_rate_threshold > 0 && var.failure_rate_threshold <= 100
    error_message = "failure_rate_threshold must be between 0 (exclusive) and 100."
  }
}

variable "failure_rate_period" {
  description = "Period in seconds over which finished documents are counted for the failure rate."
  type        = number
  default     = 300

  validation {
    condition     = var.failure_rate_period >= 60 && var.failure_rate_period % 60 == 0
    error_message = "failure_rate_period must be a multiple of 60 seconds."
  }
}

variable "create_redis_alarms" {
  description = "Create the Redis instance CPU and status-check alarms; needs redis_instance_id."
  type        = bool
  default     = true
}

variable "redis_instance_id" {
  description = "ID of the Redis instance (modules/redis output instance_id)."
  type        = string
  default     = null
}

variable "alarm_period" {
  description = "Period of every alarm's metric in seconds."
  type        = number
  default     = 60

  validation {
    condition     = contains([10, 30], var.alarm_period) || (var.alarm_period >= 60 && var.alarm_period % 60 == 0)
    error_message = "alarm_period must be 10, 30 or a multiple of 60 seconds."
  }
}

variable "redis_cpu_period" {
  description = "Period of the Redis CPU alarm in seconds (300 works with basic EC2 monitoring)."
  type        = number
  default     = 300

  validation {
    condition     = var.redis_cpu_period >= 60 && var.redis_cpu_period % 60 == 0
    error_message = "redis_cpu_period must be a multiple of 60 seconds."
  }
}

variable "alarm_evaluation_periods" {
  description = "Number of periods an alarm's condition must hold before it fires."
  type        = number
  default     = 5

  validation {
    condition     = var.alarm_evaluation_periods >= 1
    error_message = "alarm_evaluation_periods must be at least 1."
  }
}

variable "alb_5xx_threshold" {
  description = "5xx responses per period (from the load balancer or the targets) that raise an alarm."
  type        = number
  default     = 10

  validation {
    condition     = var.alb_5xx_threshold >= 0
    error_message = "alb_5xx_threshold must not be negative."
  }
}

variable "target_response_time_threshold" {
  description = "Average target response time in seconds that raises an alarm (uploads answer 202 quickly; OCR runs in workers)."
  type        = number
  default     = 5

  validation {
    condition     = var.target_response_time_threshold > 0
    error_message = "target_response_time_threshold must be positive."
  }
}

variable "asg_cpu_threshold" {
  description = "Average CPU percent of the OCR instances that raises an alarm."
  type        = number
  default     = 85

  validation {
    condition     = var.asg_cpu_threshold > 0 && var.asg_cpu_threshold <= 100
    error_message = "asg_cpu_threshold must be between 0 (exclusive) and 100."
  }
}

variable "redis_cpu_threshold" {
  description = "CPU percent of the Redis instance that raises an alarm."
  type        = number
  default     = 80

  validation {
    condition     = var.redis_cpu_threshold > 0 && var.redis_cpu_threshold <= 100
    error_message = "redis_cpu_threshold must be between 0 (exclusive) and 100."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "name" {
  description = "Name of the machines; the role and profile names start with it."
  type        = string
}

variable "description" {
  description = "Description of the IAM role."
  type        = string
}

variable "ami_id" {
  description = "AMI ID of the machines; null looks up the newest image matching ami_owners, ami_name_filter and ami_tags."
  type        = string
  default     = null
}

variable "ami_owners" {
  description = "Owners (account IDs or self) searched when looking the AMI up."
  type        = list(string)
  default     = ["self"]
}

variable "ami_name_filter" {
  description = "Name pattern of the AMI lookup (wildcards allowed); null matches any name."
  type        = string
  default     = null
}

variable "ami_tags" {
  description = "Tags the looked-up AMI must carry."
  type        = map(string)
  default     = {}
}

variable "ssm_parameter_names" {
  description = "Names of the SSM parameters the machines may read; every other parameter is explicitly denied."
  type        = list(string)
  default     = []
}

variable "ssm_writable_parameter_names" {
  description = "Names of the SSM parameters the machines may write (PutParameter): what they publish for others, never a secret; writing any other parameter is explicitly denied. Add them to ssm_parameter_names too when the machines read them back."
  type        = list(string)
  default     = []
}

variable "parameters_policy_name" {
  description = "Name of the inline policy that grants reading those parameters (and denies the others)."
  type        = string
  default     = "read-parameters"
}

variable "ssm_kms_key_arn" {
  description = "KMS key ARN of the SecureString parameters; null allows the AWS-managed aws/ssm key (through SSM only)."
  type        = string
  default     = null
}

variable "enable_ssm_session_manager" {
  description = "Attach AmazonSSMManagedInstanceCore so operators use Session Manager instead of SSH."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags for the role and the instance profile."
  type        = map(string)
  default     = {}
}

variable "metric_namespaces" {
  description = "CloudWatch namespaces (wildcards allowed) the machines may publish metrics to; cloudwatch:PutMetricData to any other is explicitly denied."
  type        = list(string)
  default     = ["OCRService", "OCRService/*"]

  validation {
    condition     = length(var.metric_namespaces) > 0
    error_message = "metric_namespaces must not be empty."
  }
}

variable "name" {
  description = "Name of the machines; the role and profile names start with it."
  type        = string
}

variable "description" {
  description = "Description of the IAM role."
  type        = string
}

variable "ssm_parameter_arns" {
  description = "ARNs of the SSM parameters the machines may read (none: no parameter policy)."
  type        = list(string)
  default     = []
}

variable "parameters_policy_name" {
  description = "Name of the inline policy that grants reading those parameters."
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
  default     = true
}

variable "tags" {
  description = "Tags for the role and the instance profile."
  type        = map(string)
  default     = {}
}

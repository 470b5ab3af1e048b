output "ami_id" {
  description = "AMI of the machines (given or looked up)."
  value       = local.ami_id
}

output "region" {
  description = "Region of the provider (for user data and ARNs)."
  value       = local.region
}

output "partition" {
  description = "Partition of the provider (for ARNs)."
  value       = local.partition
}

output "ssm_parameter_arns" {
  description = "ARNs of the parameters the role may read."
  value       = local.parameter_arns
}

output "ssm_writable_parameter_arns" {
  description = "ARNs of the parameters the role may write."
  value       = local.writable_parameter_arns
}

output "role_name" {
  description = "Name of the IAM role."
  value       = aws_iam_role.this.name
}

output "role_arn" {
  description = "ARN of the IAM role."
  value       = aws_iam_role.this.arn
}

output "instance_profile_name" {
  description = "Name of the instance profile."
  value       = aws_iam_instance_profile.this.name
}

output "instance_profile_arn" {
  description = "ARN of the instance profile."
  value       = aws_iam_instance_profile.this.arn
}

output "autoscaling_group_name" {
  description = "Name of the auto-scaling group."
  value       = aws_autoscaling_group.this.name
}

output "autoscaling_group_arn" {
  description = "ARN of the auto-scaling group."
  value       = aws_autoscaling_group.this.arn
}

output "launch_template_id" {
  description = "ID of the launch template."
  value       = aws_launch_template.this.id
}

output "launch_template_latest_version" {
  description = "Latest version of the launch template."
  value       = aws_launch_template.this.latest_version
}

output "security_group_id" {
  description = "ID of the service security group (give it to the Redis module as its only client)."
  value       = aws_security_group.service.id
}

output "iam_role_name" {
  description = "Name of the instances' IAM role."
  value       = module.instance_profile.role_name
}

output "iam_role_arn" {
  description = "ARN of the instances' IAM role."
  value       = module.instance_profile.role_arn
}

output "instance_profile_arn" {
  description = "ARN of the instances' instance profile."
  value       = module.instance_profile.instance_profile_arn
}

output "ami_id" {
  description = "AMI the launch template uses (given or looked up)."
  value       = local.ami_id
}

output "scaling_policy_arn" {
  description = "ARN of the target-tracking scaling policy (backlog or cpu, after scaling_metric)."
  value       = one(concat(aws_autoscaling_policy.backlog[*].arn, aws_autoscaling_policy.cpu[*].arn))
}

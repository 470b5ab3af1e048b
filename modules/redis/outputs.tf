output "instance_id" {
  description = "ID of the Redis instance."
  value       = aws_instance.this.id
}

output "private_ip" {
  description = "Private IP of the Redis instance (the service's REDIS_HOST)."
  value       = aws_instance.this.private_ip
}

output "port" {
  description = "Port Redis is reachable on (give it to the clients as REDIS_PORT)."
  value       = var.redis_port
}

output "security_group_id" {
  description = "ID of the Redis security group."
  value       = aws_security_group.this.id
}

output "iam_role_name" {
  description = "Name of the instance's IAM role."
  value       = module.instance_profile.role_name
}

output "username" {
  description = "Redis ACL user of the clients (give it to them as REDIS_USERNAME)."
  value       = var.service_username
}

output "tls" {
  description = "Whether Redis serves TLS (give it to the clients as REDIS_TLS)."
  value       = var.tls
}

output "tls_ca_ssm_parameter_name" {
  description = "String SSM parameter the instance publishes its TLS CA certificate to (give it to the clients: modules/asg's redis_tls_ca_ssm_parameter_name), or null."
  value       = local.tls_ca_parameter
}

output "ami_id" {
  description = "AMI the instance uses (given or looked up)."
  value       = local.ami_id
}

output "recovery_alarm_arn" {
  description = "ARN of the auto-recovery alarm."
  value       = aws_cloudwatch_metric_alarm.recover.arn
}

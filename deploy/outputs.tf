output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = module.alb.lb_dns_name
}

output "alb_url" {
  description = "Base URL of the OCR service (POST /extract, GET /health, ...)."
  value       = module.alb.url
}

output "alb_zone_id" {
  description = "Route 53 zone ID of the load balancer, for an alias record."
  value       = module.alb.lb_zone_id
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = module.vpc.vpc_id
}

output "public_subnet_ids" {
  description = "IDs of the public subnets."
  value       = module.vpc.public_subnet_ids
}

output "private_subnet_ids" {
  description = "IDs of the private subnets."
  value       = module.vpc.private_subnet_ids
}

output "nat_public_ips" {
  description = "Outbound IPs of the instances (allow-list them at MongoDB)."
  value       = module.vpc.nat_public_ips
}

output "asg_name" {
  description = "Name of the OCR auto-scaling group."
  value       = module.asg.autoscaling_group_name
}

output "service_security_group_id" {
  description = "ID of the OCR service security group."
  value       = module.asg.security_group_id
}

output "target_group_arn" {
  description = "ARN of the OCR target group."
  value       = module.alb.target_group_arn
}

output "redis_private_ip" {
  description = "Private IP of the Redis instance."
  value       = module.redis.private_ip
}

output "redis_instance_id" {
  description = "ID of the Redis instance."
  value       = module.redis.instance_id
}

output "ssm_parameter_names" {
  description = "Names of the SSM parameters holding the secrets (create or update them with aws ssm put-parameter --overwrite)."
  value       = local.parameters
}

output "redis_tls_ca_ssm_parameter_name" {
  description = "String SSM parameter the Redis instance publishes its TLS CA certificate to at boot (not a secret); the OCR instances verify Redis with it."
  value       = module.redis.tls_ca_ssm_parameter_name
}

output "instance_role_names" {
  description = "IAM roles of the OCR instances (ocr) and the Redis instance (redis); each reads only its own parameters."
  value = {
    ocr   = module.asg.iam_role_name
    redis = module.redis.iam_role_name
  }
}

output "ssm_kms_key_arn" {
  description = "KMS key of the SecureString parameters (the only key the instance roles may decrypt with); use it for parameters created out of band."
  value       = local.kms_key_arn
}

output "log_group_names" {
  description = "CloudWatch log groups of the app and Docker logs and of the service's metrics."
  value = {
    app     = module.monitoring.app_log_group_name
    docker  = module.monitoring.docker_log_group_name
    metrics = module.monitoring.metrics_log_group_name
  }
}

output "alarm_sns_topic_arn" {
  description = "SNS topic the alarms notify, or null."
  value       = module.monitoring.sns_topic_arn
}

output "url" {
  description = "Base URL of the service."
  value       = module.alb.url
}

output "autoscaling_group_name" {
  description = "Name of the auto-scaling group."
  value       = module.asg.autoscaling_group_name
}

output "target_group_arn" {
  description = "ARN of the target group."
  value       = module.alb.target_group_arn
}

output "alb_security_group_id" {
  description = "Security group of the load balancer."
  value       = module.alb.security_group_id
}

output "service_security_group_id" {
  description = "Security group of the instances."
  value       = module.asg.security_group_id
}

output "lb_id" {
  description = "ID of the load balancer."
  value       = aws_lb.this.id
}

output "lb_arn" {
  description = "ARN of the load balancer (attach a WAF web ACL to it here)."
  value       = aws_lb.this.arn
}

output "lb_arn_suffix" {
  description = "ARN suffix of the load balancer, the LoadBalancer dimension of its CloudWatch metrics."
  value       = aws_lb.this.arn_suffix
}

output "lb_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "lb_zone_id" {
  description = "Route 53 zone ID of the load balancer, for alias records."
  value       = aws_lb.this.zone_id
}

output "url" {
  description = "Base URL of the service behind the load balancer."
  value       = "${local.https_enabled ? "https" : "http"}://${aws_lb.this.dns_name}"
}

output "target_group_arn" {
  description = "ARN of the target group; give it to the auto-scaling group."
  value       = aws_lb_target_group.this.arn
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the target group, the TargetGroup dimension of its CloudWatch metrics."
  value       = aws_lb_target_group.this.arn_suffix
}

output "target_group_name" {
  description = "Name of the target group."
  value       = aws_lb_target_group.this.name
}

output "security_group_id" {
  description = "ID of the load balancer's security group; the service group admits traffic only from it."
  value       = aws_security_group.this.id
}

output "http_listener_arn" {
  description = "ARN of the HTTP listener."
  value       = aws_lb_listener.http.arn
}

output "https_listener_arn" {
  description = "ARN of the HTTPS listener, or null without a certificate."
  value       = try(aws_lb_listener.https[0].arn, null)
}

output "app_log_group_name" {
  description = "Name of the app log group."
  value       = aws_cloudwatch_log_group.app.name
}

output "app_log_group_arn" {
  description = "ARN of the app log group."
  value       = aws_cloudwatch_log_group.app.arn
}

output "docker_log_group_name" {
  description = "Name of the Docker log group."
  value       = aws_cloudwatch_log_group.docker.name
}

output "docker_log_group_arn" {
  description = "ARN of the Docker log group."
  value       = aws_cloudwatch_log_group.docker.arn
}

output "metrics_log_group_name" {
  description = "Name of the log group of the service's metrics (embedded metric format events from the CloudWatch agent)."
  value       = aws_cloudwatch_log_group.metrics.name
}

output "metrics_log_group_arn" {
  description = "ARN of the metrics log group."
  value       = aws_cloudwatch_log_group.metrics.arn
}

output "sns_topic_arn" {
  description = "ARN of the SNS topic the alarms notify, or null when there is none."
  value       = try(local.alarm_actions[0], null)
}

output "alarm_arns" {
  description = "ARNs of the alarms by short name (alb_5xx, target_5xx, unhealthy_hosts, target_response_time, asg_cpu, queue_depth, queue_oldest_age, failure_rate, redis_cpu, redis_status_check)."
  value = merge(
    { for key, alarm in aws_cloudwatch_metric_alarm.this : key => alarm.arn },
    { for alarm in aws_cloudwatch_metric_alarm.failure_rate : "failure_rate" => alarm.arn },
  )
}

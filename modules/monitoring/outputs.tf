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

output "sns_topic_arn" {
  description = "ARN of the SNS topic the alarms notify, or null when there is none."
  value       = try(local.alarm_actions[0], null)
}

output "alarm_arns" {
  description = "ARNs of the alarms by short name (alb_5xx, target_5xx, unhealthy_hosts, target_response_time, asg_cpu, redis_cpu, redis_status_check)."
  value = merge(
    { for k, a in aws_cloudwatch_metric_alarm.alb_5xx : "alb_5xx" => a.arn },
    { for k, a in aws_cloudwatch_metric_alarm.target_5xx : "target_5xx" => a.arn },
    { for k, a in aws_cloudwatch_metric_alarm.unhealthy_hosts : "unhealthy_hosts" => a.arn },
    { for k, a in aws_cloudwatch_metric_alarm.target_response_time : "target_response_time" => a.arn },
    { for k, a in aws_cloudwatch_metric_alarm.asg_cpu : "asg_cpu" => a.arn },
    { for k, a in aws_cloudwatch_metric_alarm.redis_cpu : "redis_cpu" => a.arn },
    { for k, a in aws_cloudwatch_metric_alarm.redis_status_check : "redis_status_check" => a.arn },
  )
}

locals {
  # The CloudWatch agent in the images ships to <prefix>/app and <prefix>/docker.
  log_group_prefix = coalesce(var.log_group_prefix, "/${var.name}")

  alarm_actions = var.create_sns_topic ? [aws_sns_topic.this[0].arn] : (var.sns_topic_arn == null ? [] : [var.sns_topic_arn])

  alb_dimensions = {
    LoadBalancer = var.alb_arn_suffix
    TargetGroup  = var.target_group_arn_suffix
  }
}

# ---------------------------------------------------------------------------
# Log groups the CloudWatch agent ships to
# ---------------------------------------------------------------------------
resource "aws_cloudwatch_log_group" "app" {
  #checkov:skip=CKV_AWS_158:KMS encryption is optional (log_kms_key_arn); CloudWatch Logs encrypts at rest by default.
  name              = "${local.log_group_prefix}/app"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_arn

  tags = merge(var.tags, { Name = "${var.name}-app" })
}

resource "aws_cloudwatch_log_group" "docker" {
  #checkov:skip=CKV_AWS_158:KMS encryption is optional (log_kms_key_arn); CloudWatch Logs encrypts at rest by default.
  name              = "${local.log_group_prefix}/docker"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_arn

  tags = merge(var.tags, { Name = "${var.name}-docker" })
}

resource "aws_sns_topic" "this" {
  count = var.create_sns_topic ? 1 : 0

  name              = "${var.name}-alarms"
  kms_master_key_id = var.sns_kms_key_id

  tags = merge(var.tags, { Name = "${var.name}-alarms" })
}

# ---------------------------------------------------------------------------
# Load balancer
# ---------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "alb_5xx" {
  count = var.create_alb_alarms ? 1 : 0

  alarm_name          = "${var.name}-alb-5xx"
  alarm_description   = "The load balancer returned more than ${var.alb_5xx_threshold} 5xx responses per period"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_ELB_5XX_Count"
  statistic           = "Sum"
  period              = var.alarm_period
  evaluation_periods  = var.alarm_evaluation_periods
  threshold           = var.alb_5xx_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = { LoadBalancer = var.alb_arn_suffix }
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = merge(var.tags, { Name = "${var.name}-alb-5xx" })

  lifecycle {
    precondition {
      condition     = var.alb_arn_suffix != null
      error_message = "create_alb_alarms needs alb_arn_suffix."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "target_5xx" {
  count = var.create_alb_alarms ? 1 : 0

  alarm_name          = "${var.name}-target-5xx"
  alarm_description   = "The service instances returned more than ${var.alb_5xx_threshold} 5xx responses per period"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  statistic           = "Sum"
  period              = var.alarm_period
  evaluation_periods  = var.alarm_evaluation_periods
  threshold           = var.alb_5xx_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = local.alb_dimensions
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = merge(var.tags, { Name = "${var.name}-target-5xx" })
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_hosts" {
  count = var.create_alb_alarms ? 1 : 0

  alarm_name          = "${var.name}-unhealthy-hosts"
  alarm_description   = "At least one target fails the load balancer's health check"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = var.alarm_period
  evaluation_periods  = var.alarm_evaluation_periods
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = local.alb_dimensions
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = merge(var.tags, { Name = "${var.name}-unhealthy-hosts" })

  lifecycle {
    precondition {
      condition     = var.target_group_arn_suffix != null
      error_message = "create_alb_alarms needs target_group_arn_suffix."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "target_response_time" {
  count = var.create_alb_alarms ? 1 : 0

  alarm_name          = "${var.name}-target-response-time"
  alarm_description   = "Average target response time above ${var.target_response_time_threshold} s"
  namespace           = "AWS/ApplicationELB"
  metric_name         = "TargetResponseTime"
  statistic           = "Average"
  period              = var.alarm_period
  evaluation_periods  = var.alarm_evaluation_periods
  threshold           = var.target_response_time_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  dimensions          = local.alb_dimensions
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = merge(var.tags, { Name = "${var.name}-target-response-time" })
}

# ---------------------------------------------------------------------------
# OCR instances
# ---------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "asg_cpu" {
  count = var.create_asg_alarms ? 1 : 0

  alarm_name          = "${var.name}-asg-cpu"
  alarm_description   = "OCR instances average CPU above ${var.asg_cpu_threshold}% (scaling is not keeping up)"
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  statistic           = "Average"
  period              = var.alarm_period
  evaluation_periods  = var.alarm_evaluation_periods
  threshold           = var.asg_cpu_threshold
  comparison_operator = "GreaterThanThreshold"
  dimensions          = { AutoScalingGroupName = var.autoscaling_group_name }
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = merge(var.tags, { Name = "${var.name}-asg-cpu" })

  lifecycle {
    precondition {
      condition     = var.autoscaling_group_name != null
      error_message = "create_asg_alarms needs autoscaling_group_name."
    }
  }
}

# ---------------------------------------------------------------------------
# Redis instance
# ---------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "redis_cpu" {
  count = var.create_redis_alarms ? 1 : 0

  alarm_name          = "${var.name}-redis-cpu"
  alarm_description   = "Redis instance CPU above ${var.redis_cpu_threshold}%"
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  statistic           = "Average"
  period              = var.redis_cpu_period
  evaluation_periods  = 3
  threshold           = var.redis_cpu_threshold
  comparison_operator = "GreaterThanThreshold"
  dimensions          = { InstanceId = var.redis_instance_id }
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = merge(var.tags, { Name = "${var.name}-redis-cpu" })

  lifecycle {
    precondition {
      condition     = var.redis_instance_id != null
      error_message = "create_redis_alarms needs redis_instance_id."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "redis_status_check" {
  count = var.create_redis_alarms ? 1 : 0

  alarm_name          = "${var.name}-redis-status-check"
  alarm_description   = "Redis instance fails its EC2 status checks"
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed"
  statistic           = "Maximum"
  period              = var.alarm_period
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  dimensions          = { InstanceId = var.redis_instance_id }
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = merge(var.tags, { Name = "${var.name}-redis-status-check" })
}

locals {
  # The CloudWatch agent in the images ships to <prefix>/app, <prefix>/docker and <prefix>/metrics.
  log_group_prefix = coalesce(var.log_group_prefix, "/${var.name}")

  alarm_actions = var.create_sns_topic ? [aws_sns_topic.this[0].arn] : (var.sns_topic_arn == null ? [] : [var.sns_topic_arn])

  alb_dimensions = {
    LoadBalancer = var.alb_arn_suffix
    TargetGroup  = var.target_group_arn_suffix
  }

  # One entry per alarm, keyed by its short name (alarm name: <name>-<key with dashes>).
  # Keys depend only on the create_* switches, so they are known at plan time.
  alarms = merge(
    var.create_alb_alarms ? {
      alb_5xx = {
        description        = "The load balancer returned more than ${var.alb_5xx_threshold} 5xx responses per period"
        namespace          = "AWS/ApplicationELB"
        metric_name        = "HTTPCode_ELB_5XX_Count"
        statistic          = "Sum"
        period             = var.alarm_period
        evaluation_periods = var.alarm_evaluation_periods
        threshold          = var.alb_5xx_threshold
        comparison         = "GreaterThanThreshold"
        missing_data       = "notBreaching"
        dimensions         = { LoadBalancer = var.alb_arn_suffix }
      }
      target_5xx = {
        description        = "The service instances returned more than ${var.alb_5xx_threshold} 5xx responses per period"
        namespace          = "AWS/ApplicationELB"
        metric_name        = "HTTPCode_Target_5XX_Count"
        statistic          = "Sum"
        period             = var.alarm_period
        evaluation_periods = var.alarm_evaluation_periods
        threshold          = var.alb_5xx_threshold
        comparison         = "GreaterThanThreshold"
        missing_data       = "notBreaching"
        dimensions         = local.alb_dimensions
      }
      unhealthy_hosts = {
        description        = "At least one target fails the load balancer's health check"
        namespace          = "AWS/ApplicationELB"
        metric_name        = "UnHealthyHostCount"
        statistic          = "Maximum"
        period             = var.alarm_period
        evaluation_periods = var.alarm_evaluation_periods
        threshold          = 0
        comparison         = "GreaterThanThreshold"
        missing_data       = "notBreaching"
        dimensions         = local.alb_dimensions
      }
      target_response_time = {
        description        = "Average target response time above ${var.target_response_time_threshold} s"
        namespace          = "AWS/ApplicationELB"
        metric_name        = "TargetResponseTime"
        statistic          = "Average"
        period             = var.alarm_period
        evaluation_periods = var.alarm_evaluation_periods
        threshold          = var.target_response_time_threshold
        comparison         = "GreaterThanThreshold"
        missing_data       = "notBreaching"
        dimensions         = local.alb_dimensions
      }
    } : {},
    var.create_asg_alarms ? {
      asg_cpu = {
        description        = "OCR instances average CPU above ${var.asg_cpu_threshold}% (scaling is not keeping up)"
        namespace          = "AWS/EC2"
        metric_name        = "CPUUtilization"
        statistic          = "Average"
        period             = var.alarm_period
        evaluation_periods = var.alarm_evaluation_periods
        threshold          = var.asg_cpu_threshold
        comparison         = "GreaterThanThreshold"
        missing_data       = "missing"
        dimensions         = { AutoScalingGroupName = var.autoscaling_group_name }
      }
    } : {},
    var.create_service_alarms ? {
      queue_depth = {
        description        = "More than ${var.queue_depth_threshold} documents wait in the OCR queue (scaling at max_size, or workers stuck)"
        namespace          = var.metrics_namespace
        metric_name        = "ocr_queue_depth"
        statistic          = "Maximum"
        period             = var.alarm_period
        evaluation_periods = var.alarm_evaluation_periods
        threshold          = var.queue_depth_threshold
        comparison         = "GreaterThanThreshold"
        missing_data       = "notBreaching"
        dimensions         = { AutoScalingGroupName = var.autoscaling_group_name }
      }
      queue_oldest_age = {
        description        = "The oldest queued document has waited more than ${var.queue_oldest_age_threshold} s"
        namespace          = var.metrics_namespace
        metric_name        = "ocr_queue_oldest_age_seconds"
        statistic          = "Maximum"
        period             = var.alarm_period
        evaluation_periods = var.alarm_evaluation_periods
        threshold          = var.queue_oldest_age_threshold
        comparison         = "GreaterThanThreshold"
        missing_data       = "notBreaching"
        dimensions         = { AutoScalingGroupName = var.autoscaling_group_name }
      }
    } : {},
    var.create_redis_alarms ? {
      redis_cpu = {
        description        = "Redis instance CPU above ${var.redis_cpu_threshold}%"
        namespace          = "AWS/EC2"
        metric_name        = "CPUUtilization"
        statistic          = "Average"
        period             = var.redis_cpu_period
        evaluation_periods = 3
        threshold          = var.redis_cpu_threshold
        comparison         = "GreaterThanThreshold"
        missing_data       = "missing"
        dimensions         = { InstanceId = var.redis_instance_id }
      }
      redis_status_check = {
        description        = "Redis instance fails its EC2 status checks"
        namespace          = "AWS/EC2"
        metric_name        = "StatusCheckFailed"
        statistic          = "Maximum"
        period             = var.alarm_period
        evaluation_periods = 2
        threshold          = 1
        comparison         = "GreaterThanOrEqualToThreshold"
        missing_data       = "missing"
        dimensions         = { InstanceId = var.redis_instance_id }
      }
    } : {},
  )
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

# The service's Prometheus metrics (queue depth and age, documents finished) as embedded metric format
# events, from which CloudWatch extracts the metrics the backlog policy and the alarms read. Created
# here, with a retention, rather than by the agent on first write (never expiring).
resource "aws_cloudwatch_log_group" "metrics" {
  #checkov:skip=CKV_AWS_158:KMS encryption is optional (log_kms_key_arn); CloudWatch Logs encrypts at rest by default.
  name              = "${local.log_group_prefix}/metrics"
  retention_in_days = var.log_retention_in_days
  kms_key_id        = var.log_kms_key_arn

  tags = merge(var.tags, { Name = "${var.name}-metrics" })
}

resource "aws_sns_topic" "this" {
  count = var.create_sns_topic ? 1 : 0

  name              = "${var.name}-alarms"
  kms_master_key_id = var.sns_kms_key_id

  tags = merge(var.tags, { Name = "${var.name}-alarms" })
}

# ---------------------------------------------------------------------------
# Alarms: load balancer, OCR instances, Redis instance (see local.alarms)
# ---------------------------------------------------------------------------
resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = "${var.name}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = each.value.evaluation_periods
  threshold           = each.value.threshold
  comparison_operator = each.value.comparison
  treat_missing_data  = each.value.missing_data
  dimensions          = each.value.dimensions
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = merge(var.tags, { Name = "${var.name}-${replace(each.key, "_", "-")}" })

  lifecycle {
    precondition {
      condition     = alltrue([for v in values(each.value.dimensions) : v != null])
      error_message = "Alarm ${each.key} needs its inputs: create_alb_alarms needs alb_arn_suffix and target_group_arn_suffix, create_asg_alarms and create_service_alarms need autoscaling_group_name, create_redis_alarms needs redis_instance_id."
    }
  }
}

# Share of finished documents that failed. The CloudWatch agent turns the Prometheus counter
# ocr_documents_finished_total{status} into per-interval deltas, so a Sum per period counts the
# documents that ended in it; periods without any finished document give no data (not breaching).
resource "aws_cloudwatch_metric_alarm" "failure_rate" {
  count = var.create_service_alarms ? 1 : 0

  alarm_name          = "${var.name}-failure-rate"
  alarm_description   = "More than ${var.failure_rate_threshold}% of the documents finished in a period failed"
  comparison_operator = "GreaterThanThreshold"
  evaluation_periods  = var.alarm_evaluation_periods
  threshold           = var.failure_rate_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "failure_rate"
    label       = "Failed documents (% of finished)"
    expression  = "100 * FILL(failed, 0) / (FILL(failed, 0) + FILL(completed, 0) + FILL(cancelled, 0))"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = toset(["failed", "completed", "cancelled"])
    content {
      id = metric_query.value
      metric {
        namespace   = var.metrics_namespace
        metric_name = "ocr_documents_finished_total"
        period      = var.failure_rate_period
        stat        = "Sum"
        dimensions = {
          AutoScalingGroupName = var.autoscaling_group_name
          status               = metric_query.value
        }
      }
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-failure-rate" })

  lifecycle {
    precondition {
      condition     = var.autoscaling_group_name != null
      error_message = "create_service_alarms needs autoscaling_group_name."
    }
  }
}

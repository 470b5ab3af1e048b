data "aws_vpc" "this" {
  id = var.vpc_id
}

locals {
  ami_id = module.instance_profile.ami_id
  region = module.instance_profile.region

  # The ALB sends X-Forwarded-For/Proto from inside the VPC: trusted from there only.
  forwarded_allow_ips = coalesce(var.forwarded_allow_ips, data.aws_vpc.this.cidr_block)

  # ASG_NAME: the CloudWatch agent's Prometheus target carries it as the AutoScalingGroupName label,
  # the dimension the backlog policy and the queue alarms read; without it the agent drops the metrics.
  environment = merge(
    var.environment,
    {
      PORT                 = tostring(var.service_port)
      AWS_REGION           = local.region
      ASG_NAME             = var.name
      FORWARDED_ALLOW_IPS  = local.forwarded_allow_ips
      TIMEOUT_KEEP_ALIVE_S = tostring(var.keep_alive_timeout)
    },
    var.redis_host == null ? {} : merge(
      { REDIS_HOST = var.redis_host, REDIS_PORT = tostring(var.redis_port), REDIS_TLS = tostring(var.redis_tls) },
      var.redis_username == null ? {} : { REDIS_USERNAME = var.redis_username },
    ),
  )

  # REDIS_TLS_CA_FILE ends in _FILE: the image's fetch-ssm-secrets writes the PEM to a file the
  # container reads and passes that file's path (it waits for the Redis instance to publish it).
  ssm_parameters = merge(
    var.ssm_parameters,
    var.redis_tls_ca_ssm_parameter_name == null ? {} : { REDIS_TLS_CA_FILE = var.redis_tls_ca_ssm_parameter_name },
  )

  user_data = templatefile("${path.module}/templates/user_data.sh.tftpl", {
    environment    = local.environment
    ssm_parameters = local.ssm_parameters
  })
}

# ---------------------------------------------------------------------------
# Service security group: the service port only from the load balancer's group
# ---------------------------------------------------------------------------
resource "aws_security_group" "service" {
  name_prefix = "${var.name}-service-"
  description = "OCR service instances of ${var.name}: service port only from the load balancer"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-service" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "service_from_alb" {
  security_group_id            = aws_security_group.service.id
  description                  = "Service port from the load balancer only"
  ip_protocol                  = "tcp"
  from_port                    = var.service_port
  to_port                      = var.service_port
  referenced_security_group_id = var.alb_security_group_id

  tags = merge(var.tags, { Name = "${var.name}-service-from-alb" })
}

resource "aws_vpc_security_group_egress_rule" "service" {
  for_each = { for pair in setproduct(var.egress_ports, var.egress_cidr_blocks) : "${pair[0]}-${pair[1]}" => { port = pair[0], cidr = pair[1] } }

  security_group_id = aws_security_group.service.id
  description       = "TCP ${each.value.port} to ${each.value.cidr}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr

  tags = merge(var.tags, { Name = "${var.name}-service-egress-${each.value.port}" })
}

# MongoDB only at the given addresses (the provider's range, a peering or a VPC endpoint), never the
# whole internet: the connection string carries credentials.
resource "aws_vpc_security_group_egress_rule" "mongodb" {
  for_each = toset(var.mongo_cidr_blocks)

  security_group_id = aws_security_group.service.id
  description       = "MongoDB ${var.mongo_port} to ${each.value}"
  ip_protocol       = "tcp"
  from_port         = var.mongo_port
  to_port           = var.mongo_port
  cidr_ipv4         = each.value

  tags = merge(var.tags, { Name = "${var.name}-service-mongodb" })
}

resource "aws_vpc_security_group_egress_rule" "redis" {
  security_group_id = aws_security_group.service.id
  description       = "Redis (TLS when redis_tls) inside the VPC"
  ip_protocol       = "tcp"
  from_port         = var.redis_port
  to_port           = var.redis_port
  cidr_ipv4         = data.aws_vpc.this.cidr_block

  tags = merge(var.tags, { Name = "${var.name}-service-redis" })
}

# ---------------------------------------------------------------------------
# Image lookup and instance profile: CloudWatch agent + read only the service's SSM parameters
# ---------------------------------------------------------------------------
module "instance_profile" {
  source = "../instance-profile"

  name                       = var.name
  description                = "OCR service instances of ${var.name}"
  ami_id                     = var.ami_id
  ami_owners                 = var.ami_owners
  ami_name_filter            = var.ami_name_filter
  ami_tags                   = var.ami_tags
  ssm_parameter_names        = values(local.ssm_parameters)
  parameters_policy_name     = "read-service-parameters"
  ssm_kms_key_arn            = var.ssm_kms_key_arn
  enable_ssm_session_manager = var.enable_ssm_session_manager
  metric_namespaces          = [var.metrics_namespace, "${var.metrics_namespace}/*"]
  tags                       = var.tags
}

# The profile's resources lived in this module before it was shared with modules/redis.
moved {
  from = aws_iam_role.this
  to   = module.instance_profile.aws_iam_role.this
}

moved {
  from = aws_iam_role_policy_attachment.cloudwatch_agent
  to   = module.instance_profile.aws_iam_role_policy_attachment.cloudwatch_agent
}

moved {
  from = aws_iam_role_policy_attachment.ssm_core
  to   = module.instance_profile.aws_iam_role_policy_attachment.ssm_core
}

moved {
  from = aws_iam_role_policy.ssm_parameters
  to   = module.instance_profile.aws_iam_role_policy.parameters
}

moved {
  from = aws_iam_instance_profile.this
  to   = module.instance_profile.aws_iam_instance_profile.this
}

# ---------------------------------------------------------------------------
# Launch template and auto-scaling group
# ---------------------------------------------------------------------------
resource "aws_launch_template" "this" {
  name_prefix            = "${var.name}-"
  description            = "OCR service instances of ${var.name}"
  image_id               = local.ami_id
  instance_type          = var.instance_type
  ebs_optimized          = true
  update_default_version = true
  user_data              = base64encode(local.user_data)

  iam_instance_profile {
    arn = module.instance_profile.instance_profile_arn
  }

  network_interfaces {
    associate_public_ip_address = false
    delete_on_termination       = true
    security_groups             = [aws_security_group.service.id]
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = var.metadata_hop_limit
    instance_metadata_tags      = "disabled"
  }

  block_device_mappings {
    device_name = var.root_device_name

    ebs {
      volume_size           = var.root_volume_size
      volume_type           = var.root_volume_type
      encrypted             = true
      kms_key_id            = var.ebs_kms_key_arn
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = var.name })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = var.name })
  }

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_autoscaling_group" "this" {
  name                = var.name
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.desired_capacity
  vpc_zone_identifier = var.subnet_ids
  target_group_arns   = var.target_group_arns
  # GroupInServiceInstances is the denominator of the backlog-per-instance policy.
  enabled_metrics           = ["GroupInServiceInstances", "GroupDesiredCapacity", "GroupMinSize", "GroupMaxSize"]
  metrics_granularity       = "1Minute"
  health_check_type         = var.health_check_type
  health_check_grace_period = var.health_check_grace_period

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  # A new launch template version (new AMI, new user data) rolls the instances.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = var.instance_refresh_min_healthy_percentage
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = var.name })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # The scaling policy owns desired_capacity after creation.
    ignore_changes = [desired_capacity]

    precondition {
      condition     = var.min_size <= var.desired_capacity && var.desired_capacity <= var.max_size
      error_message = "desired_capacity must lie between min_size and max_size."
    }
  }
}

# Scaling: on the OCR backlog per in-service instance (what AWS recommends for queue workers), or on
# average CPU. The service's CloudWatch agent publishes ocr_queue_depth (documents waiting, the same
# for every instance) in the OCRService namespace with the AutoScalingGroupName dimension.
resource "aws_autoscaling_policy" "backlog" {
  count = var.scaling_metric == "backlog" ? 1 : 0

  name                      = "${var.name}-backlog-per-instance"
  autoscaling_group_name    = aws_autoscaling_group.this.name
  policy_type               = "TargetTrackingScaling"
  estimated_instance_warmup = var.instance_warmup

  target_tracking_configuration {
    customized_metric_specification {
      metrics {
        id          = "backlog"
        label       = "Documents waiting"
        return_data = false
        metric_stat {
          metric {
            namespace   = var.metrics_namespace
            metric_name = "ocr_queue_depth"
            dimensions {
              name  = "AutoScalingGroupName"
              value = aws_autoscaling_group.this.name
            }
          }
          stat = "Maximum"
        }
      }

      metrics {
        id          = "in_service"
        label       = "In-service instances"
        return_data = false
        metric_stat {
          metric {
            namespace   = "AWS/AutoScaling"
            metric_name = "GroupInServiceInstances"
            dimensions {
              name  = "AutoScalingGroupName"
              value = aws_autoscaling_group.this.name
            }
          }
          stat = "Average"
        }
      }

      metrics {
        id          = "backlog_per_instance"
        label       = "Documents waiting per in-service instance"
        expression  = "backlog / in_service"
        return_data = true
      }
    }
    target_value = var.backlog_target_per_instance
  }
}

resource "aws_autoscaling_policy" "cpu" {
  count = var.scaling_metric == "cpu" ? 1 : 0

  name                   = "${var.name}-cpu-target"
  autoscaling_group_name = aws_autoscaling_group.this.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
    target_value = var.cpu_target_value
  }
}

# The CPU policy was the only one, without count.
moved {
  from = aws_autoscaling_policy.cpu
  to   = aws_autoscaling_policy.cpu[0]
}

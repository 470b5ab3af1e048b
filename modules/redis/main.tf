locals {
  ami_id    = module.instance_profile.ami_id
  region    = module.instance_profile.region
  partition = module.instance_profile.partition

  publish_tls_ca = var.tls && var.tls_ca_ssm_parameter_name != null
  # Through the resource, so that the instance (which publishes at boot) is created after it.
  tls_ca_parameter = one(aws_ssm_parameter.tls_ca[*].name)

  user_data = templatefile("${path.module}/templates/user_data.sh.tftpl", {
    region             = local.region
    password_parameter = var.password_ssm_parameter_name
    tls_parameters     = var.tls_ssm_parameter_names
    tls_ca_parameter   = local.tls_ca_parameter
    port               = var.redis_port
    maxmemory          = var.maxmemory
    tls                = var.tls
    service_username   = var.service_username
  })
}

# ---------------------------------------------------------------------------
# Security group: the Redis port only from the client (service) group
# ---------------------------------------------------------------------------
resource "aws_security_group" "this" {
  name_prefix = "${var.name}-redis-"
  description = "Redis ${var.name}: Redis port only from the service security group"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-redis" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_service" {
  security_group_id            = aws_security_group.this.id
  description                  = "Redis from the service security group only"
  ip_protocol                  = "tcp"
  from_port                    = var.redis_port
  to_port                      = var.redis_port
  referenced_security_group_id = var.client_security_group_id

  tags = merge(var.tags, { Name = "${var.name}-redis-from-service" })
}

resource "aws_vpc_security_group_egress_rule" "https" {
  for_each = toset(var.egress_cidr_blocks)

  security_group_id = aws_security_group.this.id
  description       = "HTTPS to ${each.value} (SSM, CloudWatch)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value

  tags = merge(var.tags, { Name = "${var.name}-redis-https" })
}

# ---------------------------------------------------------------------------
# The CA certificate the clients verify Redis with, published by the instance
# ---------------------------------------------------------------------------
# The instance makes its CA and certificate at first boot (or reads the deployment's from SSM) and
# writes the CA certificate here at every start when it differs; the clients poll it at boot. Its
# private key never leaves the instance, so it is in no state file. Terraform creates the parameter
# (it owns its life and tags) with a placeholder and ignores the value from then on.
resource "aws_ssm_parameter" "tls_ca" {
  #checkov:skip=CKV2_AWS_34:A CA certificate is public (it holds no key): a String, which the instance may publish and the clients read without a KMS grant.
  count = local.publish_tls_ca ? 1 : 0

  name        = var.tls_ca_ssm_parameter_name
  description = "CA certificate of the TLS certificate of Redis ${var.name}, published by the instance"
  type        = "String"
  value       = "pending: the Redis instance publishes its CA certificate here when it starts"

  tags = merge(var.tags, { Name = "${var.name}-redis-tls-ca" })

  lifecycle {
    ignore_changes = [value]
  }
}

# ---------------------------------------------------------------------------
# Image lookup and instance profile: read only its own parameters (the password, its TLS material,
# the published CA), write only the published CA; CloudWatch agent
# ---------------------------------------------------------------------------
module "instance_profile" {
  source = "../instance-profile"

  name                         = var.name
  description                  = "Redis instance ${var.name}"
  ami_id                       = var.ami_id
  ami_owners                   = var.ami_owners
  ami_name_filter              = var.ami_name_filter
  ami_tags                     = var.ami_tags
  ssm_parameter_names          = concat([var.password_ssm_parameter_name], values(var.tls_ssm_parameter_names), local.publish_tls_ca ? [var.tls_ca_ssm_parameter_name] : [])
  ssm_writable_parameter_names = local.publish_tls_ca ? [var.tls_ca_ssm_parameter_name] : []
  parameters_policy_name       = "read-redis-password"
  ssm_kms_key_arn              = var.ssm_kms_key_arn
  enable_ssm_session_manager   = var.enable_ssm_session_manager
  tags                         = var.tags
}

# The profile's resources lived in this module before it was shared with modules/asg.
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
  from = aws_iam_role_policy.password
  to   = module.instance_profile.aws_iam_role_policy.parameters
}

moved {
  from = aws_iam_instance_profile.this
  to   = module.instance_profile.aws_iam_instance_profile.this
}

# ---------------------------------------------------------------------------
# The instance
# ---------------------------------------------------------------------------
resource "aws_instance" "this" {
  #checkov:skip=CKV_AWS_126:Detailed monitoring is the detailed_monitoring variable (default true); deploy/ leaves it off by default because its Redis alarms use 5-minute periods (and moto_server cannot MonitorInstances).
  ami                         = local.ami_id
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  vpc_security_group_ids      = [aws_security_group.this.id]
  iam_instance_profile        = module.instance_profile.instance_profile_name
  associate_public_ip_address = false
  ebs_optimized               = true
  monitoring                  = var.detailed_monitoring
  # Base64 rather than user_data, which the provider keeps as a hash: the plan shows what changes.
  user_data_base64 = base64encode(local.user_data)

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    volume_size           = var.root_volume_size
    volume_type           = var.root_volume_type
    encrypted             = true
    kms_key_id            = var.ebs_kms_key_arn
    delete_on_termination = true
    tags                  = merge(var.tags, { Name = var.name })
  }

  tags = merge(var.tags, { Name = var.name, Role = "redis" })

  # The role policy must exist before boot, when user data reads the password.
  depends_on = [module.instance_profile]
}

# EC2 auto-recovery: a failed system status check moves the instance to healthy hardware,
# keeping its ID, private IP and EBS volume.
resource "aws_cloudwatch_metric_alarm" "recover" {
  alarm_name          = "${var.name}-redis-auto-recovery"
  alarm_description   = "Recover Redis instance ${var.name} when the system status check fails"
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed_System"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  dimensions = {
    InstanceId = aws_instance.this.id
  }
  alarm_actions = concat(["arn:${local.partition}:automate:${local.region}:ec2:recover"], var.recovery_alarm_actions)

  tags = merge(var.tags, { Name = "${var.name}-redis-auto-recovery" })
}

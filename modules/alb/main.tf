data "aws_vpc" "this" {
  id = var.vpc_id
}

locals {
  https_enabled  = var.certificate_arn != null
  listener_ports = local.https_enabled ? { http = 80, https = 443 } : { http = 80 }
}

resource "aws_security_group" "this" {
  name_prefix = "${var.name}-alb-"
  description = "Load balancer ${var.name}: listeners from the allowed CIDRs, traffic to targets in the VPC"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "listener" {
  #checkov:skip=CKV_AWS_260:The load balancer is the public entry point; port 80 serves the service or redirects to HTTPS.
  for_each = { for pair in setproduct(keys(local.listener_ports), var.ingress_cidr_blocks) : "${pair[0]}-${pair[1]}" => { port = local.listener_ports[pair[0]], cidr = pair[1] } }

  security_group_id = aws_security_group.this.id
  description       = "Listener port ${each.value.port} from ${each.value.cidr}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr

  tags = merge(var.tags, { Name = "${var.name}-alb-${each.key}" })
}

# Egress only to the service port inside the VPC: requests and health checks to the targets.
resource "aws_vpc_security_group_egress_rule" "targets" {
  security_group_id = aws_security_group.this.id
  description       = "Service port of the targets inside the VPC"
  ip_protocol       = "tcp"
  from_port         = var.target_port
  to_port           = var.target_port
  cidr_ipv4         = data.aws_vpc.this.cidr_block

  tags = merge(var.tags, { Name = "${var.name}-alb-targets" })
}

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:Access logs are optional (access_logs_bucket) because they need an S3 bucket with an ELB-writable policy.
  #checkov:skip=CKV2_AWS_28:WAF is left to the consumer (aws_wafv2_web_acl_association on the lb_arn output); not every deployment needs it.
  name               = var.name
  load_balancer_type = "application"
  internal           = var.internal
  security_groups    = [aws_security_group.this.id]
  subnets            = var.subnet_ids

  idle_timeout               = var.idle_timeout
  drop_invalid_header_fields = true
  enable_deletion_protection = var.enable_deletion_protection

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == null ? [] : [var.access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = var.access_logs_prefix
      enabled = true
    }
  }

  tags = merge(var.tags, { Name = var.name })
}

resource "aws_lb_target_group" "this" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; targets are reached over HTTP inside private subnets.
  name                 = "${var.name}-tg"
  port                 = var.target_port
  protocol             = "HTTP"
  target_type          = "instance"
  vpc_id               = var.vpc_id
  deregistration_delay = var.deregistration_delay

  health_check {
    enabled             = true
    path                = var.health_check_path
    port                = "traffic-port"
    protocol            = "HTTP"
    matcher             = var.health_check_matcher
    interval            = var.health_check_interval
    timeout             = var.health_check_timeout
    healthy_threshold   = var.healthy_threshold
    unhealthy_threshold = var.unhealthy_threshold
  }

  tags = merge(var.tags, { Name = "${var.name}-tg" })

  lifecycle {
    precondition {
      condition     = var.health_check_timeout < var.health_check_interval
      error_message = "health_check_timeout must be less than health_check_interval."
    }
  }
}

# HTTP forwards to the targets, or redirects to HTTPS when a certificate is given.
resource "aws_lb_listener" "http" {
  #checkov:skip=CKV_AWS_2:Plain HTTP is the fallback when no certificate_arn is given; with one, this listener only redirects to HTTPS.
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type             = local.https_enabled ? "redirect" : "forward"
    target_group_arn = local.https_enabled ? null : aws_lb_target_group.this.arn

    dynamic "redirect" {
      for_each = local.https_enabled ? [1] : []
      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-http" })
}

resource "aws_lb_listener" "https" {
  count = local.https_enabled ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }

  tags = merge(var.tags, { Name = "${var.name}-https" })
}

# Paths the load balancer answers itself with a 404, never forwarding them (e.g. /metrics, which the
# service opens to the monitoring agent on the instance).
resource "aws_lb_listener_rule" "blocked" {
  count = length(var.blocked_paths) > 0 ? 1 : 0

  listener_arn = local.https_enabled ? aws_lb_listener.https[0].arn : aws_lb_listener.http.arn
  priority     = 1

  action {
    type = "fixed-response"

    fixed_response {
      content_type = "application/json"
      message_body = jsonencode({ error = { code = "not_found", message = "There is no such path." } })
      status_code  = "404"
    }
  }

  condition {
    path_pattern {
      values = var.blocked_paths
    }
  }

  tags = merge(var.tags, { Name = "${var.name}-blocked" })
}

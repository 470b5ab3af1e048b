"""Invariant helpers on parsed HCL: each failure names the file, line and resource."""

import pytest

import infracheck as ic
from infracheck import load_stack


def test_good_module_passes(stacks):
    module = load_stack(stacks / "modules/web_sg")
    ic.assert_ingress_only_from(module, 8080, "aws_security_group.client")
    ic.assert_no_open_ingress(module, [22, 8080])
    ic.assert_tags_present(module)
    # The port comes from var.port's default (8080): another port has no rule at all.
    assert ic.ingress_only_from_problems(module, 9090, "aws_security_group.client") == []


def test_ingress_from_another_group_fails(stacks):
    module = load_stack(stacks / "modules/web_sg")
    with pytest.raises(AssertionError) as failure:
        ic.assert_ingress_only_from(module, 8080, "aws_security_group.web")
    main = stacks / "modules/web_sg/main.tf"
    assert (
        f"{main}:45: aws_vpc_security_group_ingress_rule.web_from_client: ports 8080-8080/tcp "
        "reachable from ${aws_security_group.client.id}; only aws_security_group.web is allowed" in str(failure.value)
    )


def test_open_redis_port_is_reported(stacks):
    broken = load_stack(stacks / "broken")
    main = stacks / "broken/main.tf"
    with pytest.raises(AssertionError) as failure:
        ic.assert_no_open_ingress(broken, [22, 6379])
    assert f"{main}:2: aws_security_group.redis: ports 6379-6379/tcp open to 0.0.0.0/0 (covers port 6379)" in str(
        failure.value
    )
    assert "covers port 22" not in str(failure.value)
    problems = [str(p) for p in ic.ingress_only_from_problems(broken, 6379, "var.service_security_group_id")]
    assert problems == [
        f"{main}:2: aws_security_group.redis: ports 6379-6379/tcp open to CIDR 0.0.0.0/0; "
        "port 6379 must only be reachable from security group var.service_security_group_id"
    ]


def test_launch_template_without_imdsv2_or_encryption(stacks):
    broken = load_stack(stacks / "broken")
    main = stacks / "broken/main.tf"
    assert [str(p) for p in ic.imdsv2_problems(broken)] == [
        f"{main}:13: aws_launch_template.app: IMDSv2 not required (metadata_options.http_tokens = None, "
        'want "required")'
    ]
    assert [str(p) for p in ic.encryption_problems(broken)] == [
        f"{main}:13: aws_launch_template.app: no block_device_mappings: root volume encryption is left to the AMI"
    ]
    with pytest.raises(AssertionError, match="aws_launch_template.app: sets no tags"):
        ic.assert_tags_present(broken)


def test_good_launch_template_and_target_group(tmp_path):
    (tmp_path / "main.tf").write_text("""
variable "path" {
  type        = string
  description = "Health check path."
  default     = "/health"
}
resource "aws_launch_template" "app" {
  metadata_options {
    http_tokens = "required"
  }
  block_device_mappings {
    device_name = "/dev/xvda"
    ebs {
      encrypted = true
    }
  }
}
resource "aws_lb_target_group" "app" {
  health_check {
    path = var.path
  }
}
resource "aws_lb_target_group" "other" {
  health_check {
    path = "/"
  }
}
""")
    stack = load_stack(tmp_path)
    ic.assert_imdsv2_required(stack)
    ic.assert_volumes_encrypted(stack)
    ic.assert_health_check_path(stack, "/health", target_group="aws_lb_target_group.app")
    with pytest.raises(
        AssertionError,
        match=r"main.tf:23: aws_lb_target_group.other: health check path is '/', "
        r"want '/health'",
    ):
        ic.assert_health_check_path(stack, "/health")


def test_for_each_rules_are_matched_through_their_collection(tmp_path):
    (tmp_path / "main.tf").write_text("""
resource "aws_vpc_security_group_ingress_rule" "redis" {
  for_each                     = toset(var.client_security_group_ids)
  security_group_id            = aws_security_group.redis.id
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}
""")
    stack = load_stack(tmp_path)
    ic.assert_ingress_only_from(stack, 6379, "var.client_security_group_ids", security_group="aws_security_group.redis")
    with pytest.raises(AssertionError, match="only var.other is allowed"):
        ic.assert_ingress_only_from(stack, 6379, "var.other")

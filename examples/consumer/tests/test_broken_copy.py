"""A deliberately broken copy of the stack must fail the checks with messages naming file and resource:
a Redis group open to 0.0.0.0/0, a module input dropped, a variable that is not declared."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import infracheck as ic

STACK = Path(__file__).resolve().parents[1]

OPEN_REDIS = """
resource "aws_security_group" "redis" {
  name   = "${var.name}-redis"
  vpc_id = aws_vpc.this.id

  ingress {
    from_port   = 6379
    to_port     = 6379
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }
}
"""


@pytest.fixture
def broken(tmp_path) -> Path:
    copy = ic.working_copy(STACK, tmp_path)
    main = copy / "main.tf"
    text = main.read_text()
    # The service group must name the ALB's group: drop that input, and use an undeclared variable.
    text, dropped = re.subn(r"^\s*alb_security_group_id\s*=.*\n", "", text, flags=re.M)
    text, replaced = re.subn(r'instance_type(\s*)= "t3.micro"', r"instance_type\1= var.instance_type", text)
    assert dropped == 1 and replaced == 1, "the example changed: adapt the breakage"
    main.write_text(text + OPEN_REDIS)
    return copy


def test_open_redis_port_names_file_and_resource(broken):
    stack = ic.load_stack(broken)
    line = stack.resources["aws_security_group.redis"].line
    with pytest.raises(AssertionError) as failure:
        ic.assert_no_open_ingress(stack, [6379])
    assert f"{broken / 'main.tf'}:{line}: aws_security_group.redis: ports 6379-6379/tcp open to 0.0.0.0/0" in str(
        failure.value
    )


def test_missing_input_and_undeclared_variable_name_file_and_block(broken):
    stack = ic.load_stack(broken)
    with pytest.raises(AssertionError) as failure:
        stack.check()
    message = str(failure.value)
    call = stack.modules["asg"]
    assert f"{broken / 'main.tf'}:{call.line}: module.asg: required input 'alb_security_group_id'" in message
    assert "module.asg: reference var.instance_type does not resolve" in message

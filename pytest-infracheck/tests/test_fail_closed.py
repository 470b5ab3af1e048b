"""HCL checks evaluate for_each, variables, locals and collection functions, and fail closed: a CIDR
that cannot be evaluated is reported, never passed as "not open"."""

import textwrap

import pytest

import infracheck as ic
from infracheck.evaluate import Evaluator, Unknown

RULE = """
resource "aws_vpc_security_group_ingress_rule" "https" {{
  security_group_id = aws_security_group.web.id
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
{body}
}}
"""


def stack(tmp_path, text: str) -> ic.Stack:
    (tmp_path / "main.tf").write_text(textwrap.dedent(text))
    return ic.load_stack(tmp_path)


def problems(target, ports=(443,)) -> list[str]:
    return [str(p) for p in ic.open_ingress_problems(target, list(ports))]


def test_world_open_cidr_behind_toset_of_a_variable_default(tmp_path):
    s = stack(
        tmp_path,
        """
        variable "https_cidrs" {
          type    = list(string)
          default = ["10.0.0.0/8", "0.0.0.0/0"]
        }
        """
        + RULE.format(body="  for_each = toset(var.https_cidrs)\n  cidr_ipv4 = each.value"),
    )
    main = tmp_path / "main.tf"
    assert problems(s) == [
        f'{main}:7: aws_vpc_security_group_ingress_rule.https["0.0.0.0/0"]: '
        "ports 443-443/tcp open to 0.0.0.0/0 (covers port 443)"
    ]
    with pytest.raises(AssertionError, match="open to 0.0.0.0/0"):
        ic.assert_no_open_ingress(s, [443])
    # The twin: the same stack with private ranges only passes.
    (tmp_path / "main.tf").write_text(main.read_text().replace('"0.0.0.0/0"', '"192.168.0.0/16"'))
    assert problems(ic.load_stack(tmp_path)) == []


def test_world_open_cidr_as_each_key_of_a_set_variable(tmp_path):
    s = stack(
        tmp_path,
        """
        variable "https_cidrs" {
          type    = set(string)
          default = ["0.0.0.0/0"]
        }
        """
        + RULE.format(body="  for_each = var.https_cidrs\n  cidr_ipv4 = each.key"),
    )
    assert problems(s) == [
        f'{tmp_path / "main.tf"}:7: aws_vpc_security_group_ingress_rule.https["0.0.0.0/0"]: '
        "ports 443-443/tcp open to 0.0.0.0/0 (covers port 443)"
    ]


def test_cidr_from_a_variable_without_default_fails_closed(tmp_path):
    s = stack(
        tmp_path,
        """
        variable "cidr" {
          type = string
        }
        """
        + RULE.format(body="  cidr_ipv4 = var.cidr"),
    )
    main = tmp_path / "main.tf"
    assert problems(s) == [
        f"{main}:11: aws_vpc_security_group_ingress_rule.https: cannot evaluate cidr_ipv4 at main.tf:11 "
        "(${var.cidr}: var.cidr has no default); check the plan instead"
    ]
    # A port it does not cover is not affected.
    assert problems(s, [22]) == []


def test_for_each_that_cannot_be_evaluated_fails_closed(tmp_path):
    s = stack(tmp_path, RULE.format(body="  for_each = toset(data.external.cidrs.result)\n  cidr_ipv4 = each.value"))
    (problem,) = problems(s)
    assert "aws_vpc_security_group_ingress_rule.https: cannot evaluate cidr_ipv4 at main.tf:8" in problem
    assert "check the plan instead" in problem


def test_locals_concat_and_flatten(tmp_path):
    s = stack(
        tmp_path,
        """
        variable "extra" {
          type    = list(list(string))
          default = [["::/0"]]
        }
        locals {
          office = ["203.0.113.0/24"]
          cidrs  = concat(local.office, flatten(var.extra))
        }
        resource "aws_security_group" "web" {
          name = "web"
          ingress {
            from_port        = 0
            to_port          = 65535
            protocol         = "tcp"
            ipv6_cidr_blocks = [for c in local.cidrs : c if length(split(":", c)) > 1]
          }
        }
        """,
    )
    assert problems(s, [22]) == [
        f"{tmp_path / 'main.tf'}:10: aws_security_group.web: ports 0-65535/tcp open to ::/0 (covers port 22)"
    ]


def test_dynamic_ingress_over_a_variable(tmp_path):
    s = stack(
        tmp_path,
        """
        variable "rules" {
          type    = map(object({ port = number, cidr = string }))
          default = { ssh = { port = 22, cidr = "0.0.0.0/0" }, web = { port = 443, cidr = "10.0.0.0/8" } }
        }
        resource "aws_security_group" "web" {
          name = "web"
          dynamic "ingress" {
            for_each = var.rules
            content {
              from_port   = ingress.value.port
              to_port     = ingress.value.port
              protocol    = "tcp"
              cidr_blocks = [ingress.value.cidr]
            }
          }
        }
        """,
    )
    assert problems(s, [22, 443]) == [
        f"{tmp_path / 'main.tf'}:6: aws_security_group.web: ports 22-22/tcp open to 0.0.0.0/0 (covers port 22)"
    ]


def test_module_inputs_reach_the_module_recursively(tmp_path):
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod/main.tf").write_text(
        'variable "cidrs" {\n  type = list(string)\n  default = []\n}\n'
        + RULE.format(body="  for_each = toset(var.cidrs)\n  cidr_ipv4 = each.value")
    )
    (tmp_path / "root").mkdir()
    (tmp_path / "root/main.tf").write_text(
        'variable "open" {\n  type = bool\n  default = true\n}\n'
        'module "web" {\n  source = "../mod"\n  cidrs = var.open ? ["0.0.0.0/0"] : ["10.0.0.0/8"]\n}\n'
    )
    root = ic.load_stack(tmp_path / "root")
    assert problems(ic.resources(root, recursive=True)) == [
        f'{tmp_path / "mod/main.tf"}:6: module.web.aws_vpc_security_group_ingress_rule.https["0.0.0.0/0"]: '
        "ports 443-443/tcp open to 0.0.0.0/0 (covers port 443)"
    ]
    # The module alone, with its default: nothing.
    assert problems(ic.load_stack(tmp_path / "mod")) == []


def test_unknown_port_and_count(tmp_path):
    s = stack(
        tmp_path,
        """
        variable "enabled" {
          type    = bool
          default = false
        }
        resource "aws_security_group_rule" "maybe" {
          count             = var.enabled ? 1 : 0
          type              = "ingress"
          security_group_id = "sg-1"
          from_port         = 22
          to_port           = 22
          protocol          = "tcp"
          cidr_blocks       = ["0.0.0.0/0"]
        }
        resource "aws_security_group_rule" "computed" {
          type              = "ingress"
          security_group_id = "sg-1"
          from_port         = data.x.y.port
          to_port           = data.x.y.port
          protocol          = "tcp"
          cidr_blocks       = ["0.0.0.0/0"]
        }
        """,
    )
    found = problems(s, [22])
    assert len(found) == 1 and "aws_security_group_rule.computed: ports" in found[0], found


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ('toset(["b", "a", "b"])', ["a", "b"]),
        ('tolist(toset(["x"]))', ["x"]),
        ('concat(["a"], ["b"], [])', ["a", "b"]),
        ('flatten([["a"], [["b"]], "c"])', ["a", "b", "c"]),
        ('{ for k, v in { a = 1, b = 2 } : v => k if v > 1 }', {"2": "b"}),
        ('merge({ a = 1 }, { b = "${1 + 1}" })', {"a": 1, "b": "2"}),
        ('lookup({ a = 1 }, "b", 3)', 3),
        ('"a-${upper("b")}"', "a-B"),
        ('try(lookup({}, "k"), "fallback")', "fallback"),
    ],
)
def test_expressions(tmp_path, expression, value):
    s = stack(tmp_path, 'locals {\n  x = 1\n}\n')
    assert Evaluator(s).expression(expression, {}) == value


def test_unknown_keeps_the_expression(tmp_path):
    s = stack(tmp_path, 'locals {\n  x = 1\n}\n')
    value = Evaluator(s).value("${aws_vpc.this.cidr_block}")
    assert isinstance(value, Unknown) and "aws_vpc.this.cidr_block" in value
    assert "known only after apply" in value.reason

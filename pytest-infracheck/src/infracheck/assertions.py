"""Assertions for the invariants users check most, on parsed HCL (a Stack) or a plan (a Plan).

Each `assert_*` raises AssertionError listing every offender as `file:line: address: what is wrong`;
each has a `find_*`/`*_problems` twin returning the list, for tests that expect a failure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .hcl import Problem, Stack, format_problems
from .plan import Plan, Resource

OPEN_CIDRS = {"0.0.0.0/0", "::/0"}
_EXACT_REF = re.compile(r"^\$\{((?:var|local)\.[A-Za-z_][\w-]*)\}$")
_SG_REF = re.compile(r"aws_security_group\.[A-Za-z_][\w-]*")

# Resource types that carry `tags` in the AWS provider and that stacks of this kind use.
TAGGABLE = {
    "aws_vpc",
    "aws_subnet",
    "aws_internet_gateway",
    "aws_nat_gateway",
    "aws_eip",
    "aws_route_table",
    "aws_security_group",
    "aws_vpc_security_group_ingress_rule",
    "aws_vpc_security_group_egress_rule",
    "aws_lb",
    "aws_lb_target_group",
    "aws_lb_listener",
    "aws_launch_template",
    "aws_instance",
    "aws_ebs_volume",
    "aws_cloudwatch_metric_alarm",
    "aws_cloudwatch_log_group",
    "aws_iam_role",
    "aws_iam_policy",
    "aws_iam_instance_profile",
    "aws_sns_topic",
    "aws_ssm_parameter",
    "aws_flow_log",
    "aws_s3_bucket",
    "aws_kms_key",
    "aws_autoscaling_group",
}


def resources(target: Stack | Plan | Iterable[Resource], *types: str, recursive: bool = False) -> list[Resource]:
    """Resources of a Stack (HCL; with `recursive`, also of its local modules) or of a Plan."""
    if isinstance(target, Plan):
        return target.resources(*types)
    if isinstance(target, Stack):
        found = [
            Resource(
                b.address, b.type, _resolve_vars(target, b.body or {}), b.file, b.line, (b.body or {}).get("for_each")
            )
            for b in target.resources.values()
            if not types or b.type in types
        ]
        if recursive:
            for name in target.modules:
                if target.module_dir(name) is not None:
                    for res in resources(target.module(name), *types, recursive=True):
                        res.address = f"module.{name}.{res.address}"
                        found.append(res)
        return found
    return [r for r in target if not types or r.type in types]


def _resolve_vars(stack: Stack, value: Any) -> Any:
    """Replace `${var.x}` / `${local.x}` standing alone by the variable's default or the local's literal."""
    if isinstance(value, str):
        match = _EXACT_REF.match(value)
        if match:
            root, name = match.group(1).split(".", 1)
            if root == "var" and name in stack.variables and "default" in (stack.variables[name].body or {}):
                return stack.variables[name].body["default"]
            if root == "local" and name in stack.locals and not _is_expr(stack.locals[name].body):
                return stack.locals[name].body
        return value
    if isinstance(value, dict):
        return {k: _resolve_vars(stack, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_vars(stack, v) for v in value]
    return value


def _is_expr(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def _fail(problems: list[Problem], title: str) -> None:
    if problems:
        raise AssertionError(format_problems(problems, title))


def _problem(res: Resource, message: str) -> Problem:
    return Problem(res.file, res.line, res.address, message)


def _first(value: Any) -> dict:
    if isinstance(value, list):
        return value[0] if value and isinstance(value[0], dict) else {}
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


# ---- security group ingress --------------------------------------------------------------
@dataclass
class IngressRule:
    resource: Resource
    security_group: str  # address of the group it belongs to, or the expression naming it
    from_port: Any
    to_port: Any
    protocol: Any
    cidrs: list
    sources: list  # security group expressions (or ids, or "self")

    def covers(self, port: int) -> bool:
        if str(self.protocol) in ("-1", "all"):
            return True
        try:
            return int(self.from_port) <= port <= int(self.to_port)
        except (TypeError, ValueError):
            return True  # a port computed from an expression: assume the worst

    def describe(self) -> str:
        return f"ports {self.from_port}-{self.to_port}/{self.protocol}"


def _group_of(expression: Any) -> str:
    match = _SG_REF.search(str(expression))
    return match.group(0) if match else str(expression)


def _each(res: Resource, value: Any) -> Any:
    """In HCL, `each.value` names an element of for_each: stand it in by the for_each expression."""
    if isinstance(value, str) and "each." in value and res.for_each is not None:
        return value.replace("each.value", str(res.for_each)).replace("each.key", str(res.for_each))
    return value


def ingress_rules(target: Stack | Plan | Iterable[Resource]) -> list[IngressRule]:
    """Ingress rules from inline `ingress` blocks, aws_security_group_rule and aws_vpc_security_group_ingress_rule."""
    rules = []
    for res in resources(
        target, "aws_security_group", "aws_security_group_rule", "aws_vpc_security_group_ingress_rule"
    ):
        body = res.body
        if res.type == "aws_security_group":
            blocks = list(_as_list(body.get("ingress")))
            for dyn in _as_list(body.get("dynamic")):
                if isinstance(dyn, dict) and "ingress" in dyn:
                    blocks += [
                        dict(c, _for_each=dyn["ingress"].get("for_each"))
                        for c in _as_list(dyn["ingress"].get("content"))
                    ]
            for block in blocks:
                if not isinstance(block, dict):
                    continue
                sources = _as_list(block.get("security_groups")) + (["self"] if _truthy(block.get("self")) else [])
                rules.append(
                    IngressRule(
                        res,
                        res.address,
                        block.get("from_port"),
                        block.get("to_port"),
                        block.get("protocol"),
                        _as_list(block.get("cidr_blocks")) + _as_list(block.get("ipv6_cidr_blocks")),
                        sources,
                    )
                )
        elif res.type == "aws_security_group_rule":
            if body.get("type") != "ingress":
                continue
            sources = _as_list(body.get("source_security_group_id")) + (["self"] if _truthy(body.get("self")) else [])
            rules.append(
                IngressRule(
                    res,
                    _group_of(body.get("security_group_id")),
                    body.get("from_port"),
                    body.get("to_port"),
                    body.get("protocol"),
                    _as_list(body.get("cidr_blocks")) + _as_list(body.get("ipv6_cidr_blocks")),
                    [_each(res, s) for s in sources],
                )
            )
        else:
            rules.append(
                IngressRule(
                    res,
                    _group_of(body.get("security_group_id")),
                    body.get("from_port"),
                    body.get("to_port"),
                    body.get("ip_protocol"),
                    [c for c in (_each(res, body.get("cidr_ipv4")), _each(res, body.get("cidr_ipv6"))) if c],
                    [_each(res, s) for s in _as_list(body.get("referenced_security_group_id"))]
                    + [_each(res, p) for p in _as_list(body.get("prefix_list_id"))],
                )
            )
    return rules


def ingress_only_from_problems(target, port: int, source: str, security_group: str | None = None) -> list[Problem]:
    problems = []
    for rule in ingress_rules(target):
        if not rule.covers(port):
            continue
        if (
            security_group
            and security_group not in (rule.security_group, rule.resource.address)
            and not rule.resource.address.endswith(security_group)
        ):
            continue
        res = rule.resource
        for cidr in rule.cidrs:
            problems.append(
                _problem(
                    res,
                    f"{rule.describe()} open to CIDR {cidr}; port {port} must only be "
                    f"reachable from security group {source}",
                )
            )
        others = [s for s in rule.sources if source not in str(s)]
        for other in others:
            problems.append(_problem(res, f"{rule.describe()} reachable from {other}; only {source} is allowed"))
        if not rule.cidrs and not rule.sources:
            problems.append(
                _problem(res, f"{rule.describe()} names no source security group; only {source} is allowed")
            )
    return problems


def assert_ingress_only_from(target, port: int, source: str, security_group: str | None = None) -> None:
    """Every ingress rule covering `port` (of `security_group`, if given) admits only `source`, never a CIDR.

    `source` is matched as a substring of the rule's source expression: an address such as
    `aws_security_group.service`, a variable such as `var.client_security_group_ids`, or a group id.
    """
    _fail(
        ingress_only_from_problems(target, port, source, security_group),
        f"port {port} must be reachable only from {source}",
    )


def open_ingress_problems(target, ports: Iterable[int]) -> list[Problem]:
    problems = []
    for rule in ingress_rules(target):
        for port in ports:
            open_cidrs = [c for c in rule.cidrs if c in OPEN_CIDRS]
            if rule.covers(port) and open_cidrs:
                problems.append(
                    _problem(rule.resource, f"{rule.describe()} open to {', '.join(open_cidrs)} (covers port {port})")
                )
    return problems


def assert_no_open_ingress(target, ports: Iterable[int]) -> None:
    """No ingress rule opens any of `ports` to 0.0.0.0/0 or ::/0."""
    ports = list(ports)
    _fail(open_ingress_problems(target, ports), f"ports {ports} must not be open to the internet")


# ---- instances -----------------------------------------------------------------------------
def imdsv2_problems(target) -> list[Problem]:
    problems = []
    for res in resources(target, "aws_launch_template", "aws_instance"):
        tokens = _first(res.body.get("metadata_options")).get("http_tokens")
        if tokens != "required":
            problems.append(
                _problem(res, f'IMDSv2 not required (metadata_options.http_tokens = {tokens!r}, want "required")')
            )
    return problems


def assert_imdsv2_required(target) -> None:
    """Every launch template and instance sets metadata_options { http_tokens = "required" }."""
    _fail(imdsv2_problems(target), "IMDSv2 must be required")


def encryption_problems(target) -> list[Problem]:
    problems = []
    for res in resources(target, "aws_launch_template", "aws_instance", "aws_ebs_volume"):
        body = res.body
        if res.type == "aws_launch_template":
            mappings = _as_list(body.get("block_device_mappings"))
            if not mappings:
                problems.append(_problem(res, "no block_device_mappings: root volume encryption is left to the AMI"))
            for mapping in mappings:
                ebs = _first(_first(mapping).get("ebs"))
                if not _truthy(ebs.get("encrypted")):
                    problems.append(
                        _problem(
                            res,
                            f"volume {_first(mapping).get('device_name')} not encrypted "
                            f"(ebs.encrypted = {ebs.get('encrypted')!r})",
                        )
                    )
        elif res.type == "aws_instance":
            root = _first(body.get("root_block_device"))
            if not _truthy(root.get("encrypted")):
                problems.append(
                    _problem(res, f"root_block_device not encrypted (encrypted = {root.get('encrypted')!r})")
                )
            for ebs in _as_list(body.get("ebs_block_device")):
                if not isinstance(ebs, dict):  # unknown until apply in a plan: nothing declared
                    continue
                if not _truthy(_first(ebs).get("encrypted")):
                    problems.append(_problem(res, f"ebs_block_device {_first(ebs).get('device_name')} not encrypted"))
        elif not _truthy(body.get("encrypted")):
            problems.append(_problem(res, "volume not encrypted"))
    return problems


def assert_volumes_encrypted(target) -> None:
    """Launch templates, instances and EBS volumes encrypt every volume they define."""
    _fail(encryption_problems(target), "volumes must be encrypted")


# ---- load balancing ------------------------------------------------------------------------
def health_check_problems(target, path: str, target_group: str | None = None) -> list[Problem]:
    problems = []
    groups = [
        r for r in resources(target, "aws_lb_target_group") if target_group is None or r.address.endswith(target_group)
    ]
    if not groups:
        return [Problem("-", 0, target_group or "aws_lb_target_group", "no target group found")]
    for res in groups:
        check = _first(res.body.get("health_check"))
        if check.get("path") != path:
            problems.append(_problem(res, f"health check path is {check.get('path')!r}, want {path!r}"))
        if check and not _truthy(check.get("enabled", True)):
            problems.append(_problem(res, "health check disabled"))
    return problems


def assert_health_check_path(target, path: str, target_group: str | None = None) -> None:
    """Every target group (or the one whose address ends with `target_group`) checks `path`."""
    _fail(health_check_problems(target, path, target_group), f"health check must use {path}")


# ---- tags ------------------------------------------------------------------------------------
def tag_problems(target, keys: Iterable[str] = (), types: Iterable[str] | None = None) -> list[Problem]:
    """HCL: taggable resources set `tags` (or `tag` blocks). Plan: their tags_all holds every key."""
    keys, wanted = list(keys), set(types or TAGGABLE)
    problems = []
    for res in resources(target):
        if res.type not in wanted:
            continue
        body = res.body
        if isinstance(target, Plan):
            if res.type == "aws_autoscaling_group":
                present = {t.get("key") for t in _as_list(body.get("tag")) if isinstance(t, dict)}
            else:
                tags = body.get("tags_all")
                if isinstance(tags, str):  # unknown until apply (default_tags from a computed value)
                    continue
                present = set(tags or {})
            missing = [k for k in keys if k not in present]
            if missing:
                problems.append(_problem(res, f"missing tags {missing}"))
        else:
            has = (
                "tags" in body
                or "tag" in body
                or any(isinstance(d, dict) and "tag" in d for d in _as_list(body.get("dynamic")))
            )
            if not has:
                problems.append(_problem(res, "sets no tags (merge var.tags into it)"))
            elif keys and isinstance(body.get("tags"), dict):
                missing = [k for k in keys if k not in body["tags"]]
                if missing:
                    problems.append(_problem(res, f"missing tags {missing}"))
    return problems


def assert_tags_present(target, keys: Iterable[str] = (), types: Iterable[str] | None = None) -> None:
    _fail(tag_problems(target, keys, types), "resources must be tagged")

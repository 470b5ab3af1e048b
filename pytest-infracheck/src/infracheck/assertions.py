"""Assertions for the invariants users check most, on parsed HCL (a Stack) or a plan (a Plan).

Each `assert_*` raises AssertionError listing every offender as `file:line: address: what is wrong`;
each has a `find_*`/`*_problems` twin returning the list, for tests that expect a failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .evaluate import Evaluator, Unknown, for_each_instances
from .hcl import MODULE_META_ARGS, Problem, Stack, format_problems
from .plan import Plan, Resource

OPEN_CIDRS = {"0.0.0.0/0", "::/0"}
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


def resources(
    target: Stack | Plan | Iterable[Resource],
    *types: str,
    recursive: bool = False,
    inputs: dict[str, Any] | None = None,
) -> list[Resource]:
    """Resources of a Stack (HCL; with `recursive`, also of its local modules) or of a Plan.

    On HCL, values are evaluated (see `infracheck.evaluate`): variables take their defaults, or
    `inputs` when given (with `recursive`, what each module call passes), and a resource with
    `for_each` or `count` becomes one Resource per instance (`aws_x.y["key"]`). What cannot be
    evaluated is an `Unknown` keeping the expression's text, which every check counts against the rule.
    """
    if isinstance(target, Plan):
        return target.resources(*types)
    if isinstance(target, Stack):
        evaluator = Evaluator(target, inputs)
        found = []
        for block in target.resources.values():
            if not types or block.type in types:
                found.extend(_instances(evaluator, block))
        if recursive:
            for name, call in target.modules.items():
                if target.module_dir(name) is None:
                    continue
                passed = {
                    k: evaluator.value(v, {"each": Unknown(str(call.body.get("for_each")), "module for_each")})
                    for k, v in (call.body or {}).items()
                    if k not in MODULE_META_ARGS
                }
                for res in resources(target.module(name), *types, recursive=True, inputs=passed):
                    res.address = f"module.{name}.{res.address}"
                    found.append(res)
        return found
    return [r for r in target if not types or r.type in types]


def _instances(evaluator: Evaluator, block) -> list[Resource]:
    """One Resource per instance of a resource block: for_each and count expanded when they can be evaluated."""
    body = block.body or {}
    for_each = body.get("for_each")

    def make(address: str, scope: dict, raw: dict) -> Resource:
        evaluated = _evaluate_body(evaluator, raw, scope)
        return Resource(address, block.type, evaluated, block.file, block.line, for_each)

    if for_each is not None:
        pairs = for_each_instances(evaluator, for_each)
        if isinstance(pairs, Unknown):
            # each.* names an element of a collection that cannot be evaluated: its values are
            # unknown, but keep the collection's text in them so the rule can still be named.
            raw = _replace_each(body, str(for_each))
            return [make(block.address, {}, raw)]
        return [
            make(f'{block.address}["{_key_text(k)}"]', {"each": {"key": k, "value": v}}, body) for k, v in pairs
        ]
    if "count" in body:
        count = evaluator.value(body["count"])
        if isinstance(count, (int, float)) and not isinstance(count, bool):
            return [make(f"{block.address}[{i}]", {"count": {"index": i}}, body) for i in range(int(count))]
        return [make(block.address, {"count": {"index": Unknown("${count.index}", "count cannot be evaluated")}}, body)]
    return [make(block.address, {}, body)]


def _key_text(key: Any) -> str:
    return str(key).lower() if isinstance(key, bool) else str(key)


def _replace_each(value: Any, collection: str) -> Any:
    if isinstance(value, str):
        inner = collection[2:-1] if collection.startswith("${") and collection.endswith("}") else collection
        return value.replace("each.value", f"({inner})").replace("each.key", f"({inner})")
    if isinstance(value, dict):
        return {k: _replace_each(v, collection) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_each(v, collection) for v in value]
    return value


def _evaluate_body(evaluator: Evaluator, body: dict, scope: dict) -> dict:
    """Evaluate a block body; `dynamic "x"` blocks are expanded into `x` (kept under `dynamic` too)."""
    out = {}
    for key, value in body.items():
        if key == "dynamic":
            continue
        if key in ("lifecycle", "provisioner", "connection"):
            out[key] = value  # meta blocks: not checked, and their expressions may name self
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            out[key] = [_evaluate_body(evaluator, v, scope) for v in value]
        else:
            out[key] = evaluator.value(value, scope)
    for dynamic in _as_list(body.get("dynamic")):
        if not isinstance(dynamic, dict):
            continue
        for name, spec in dynamic.items():
            spec = _first(spec)
            iterator = spec.get("iterator", name)
            contents = [c for c in _as_list(spec.get("content")) if isinstance(c, dict)]
            pairs = for_each_instances(evaluator, spec.get("for_each"))
            expanded = out.setdefault(name, [])
            if not isinstance(expanded, list):
                expanded = out[name] = [expanded]
            if isinstance(pairs, Unknown):
                unknown = Unknown(str(spec.get("for_each")), pairs.reason)
                for content in contents:
                    expanded.append(
                        dict(
                            _evaluate_body(evaluator, content, {**scope, iterator: {"key": unknown, "value": unknown}}),
                            _for_each=spec.get("for_each"),
                        )
                    )
                continue
            for k, v in pairs:
                for content in contents:
                    expanded.append(_evaluate_body(evaluator, content, {**scope, iterator: {"key": k, "value": v}}))
    if "dynamic" in body:
        out["dynamic"] = body["dynamic"]
    return out


def _fail(problems: list[Problem], title: str) -> None:
    __tracebackhide__ = True
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
def _unknown(value: Any) -> bool:
    """Unknown on HCL (an Unknown), or unknown until apply in a plan (a "${references}" string)."""
    return isinstance(value, Unknown) or (isinstance(value, str) and value.startswith("${"))


_LINES: dict[str, list[str]] = {}


def attribute_line(res: Resource, name: str) -> int:
    """Line of `name =` in the resource's block (its header line when not found)."""
    path = str(res.file)
    if path not in _LINES:
        try:
            with open(path, encoding="utf-8") as handle:
                _LINES[path] = handle.read().splitlines()
        except OSError:
            _LINES[path] = []
    lines = _LINES[path]
    pattern = re.compile(rf"^\s*{re.escape(name)}\s*=")
    for number in range(max(res.line, 1), len(lines) + 1):
        if pattern.match(lines[number - 1]):
            return number
    return res.line


def unknown_problem(res: Resource, attribute: str, value: Any) -> Problem:
    """The fail-closed finding: a value a check needs could not be evaluated."""
    line = attribute_line(res, attribute)
    where = f"{Path(str(res.file)).name}:{line}"
    if isinstance(value, Unknown):
        reason = f" ({value.text}: {value.reason})" if value.reason else f" ({value.text})"
        message = f"cannot evaluate {attribute} at {where}{reason}; check the plan instead"
        return Problem(res.file, line, res.address, message)
    return Problem(
        res.file,
        line,
        res.address,
        f"{attribute} is unknown until apply ({value}); check the applied resource instead",
    )


@dataclass
class IngressRule:
    resource: Resource
    security_group: str  # address of the group it belongs to, or the expression naming it
    from_port: Any
    to_port: Any
    protocol: Any
    cidrs: list
    sources: list  # security group expressions (or ids, or "self")
    cidr_attributes: list = field(default_factory=list)  # the attribute each CIDR comes from

    def covers(self, port: int) -> bool:
        if str(self.protocol) in ("-1", "all"):
            return True
        try:
            return int(self.from_port) <= port <= int(self.to_port)
        except (TypeError, ValueError):
            return True  # a port computed from an expression: assume the worst

    def describe(self) -> str:
        return f"ports {self.from_port}-{self.to_port}/{self.protocol}"

    def cidr_items(self) -> list[tuple[str, Any]]:
        names = self.cidr_attributes + ["cidr"] * (len(self.cidrs) - len(self.cidr_attributes))
        return list(zip(names, self.cidrs, strict=True))


def _group_of(expression: Any) -> str:
    match = _SG_REF.search(str(expression))
    return match.group(0) if match else str(expression)


def _cidrs(body: dict, *names: str) -> tuple[list, list]:
    values, attributes = [], []
    for name in names:
        value = body.get(name)
        items = [value] if isinstance(value, (str, Unknown)) else _as_list(value)
        for item in items:
            if item is not None and item != "":
                values.append(item)
                attributes.append(name)
    return values, attributes


def ingress_rules(target: Stack | Plan | Iterable[Resource]) -> list[IngressRule]:
    """Ingress rules from inline `ingress` blocks, aws_security_group_rule and aws_vpc_security_group_ingress_rule."""
    rules = []
    for res in resources(
        target, "aws_security_group", "aws_security_group_rule", "aws_vpc_security_group_ingress_rule"
    ):
        body = res.body
        if res.type == "aws_security_group":
            for block in _as_list(body.get("ingress")):
                if not isinstance(block, dict):
                    continue
                sources = _as_list(block.get("security_groups")) + (["self"] if _truthy(block.get("self")) else [])
                cidrs, attributes = _cidrs(block, "cidr_blocks", "ipv6_cidr_blocks")
                rules.append(
                    IngressRule(
                        res,
                        res.address,
                        block.get("from_port"),
                        block.get("to_port"),
                        block.get("protocol"),
                        cidrs,
                        sources,
                        attributes,
                    )
                )
        elif res.type == "aws_security_group_rule":
            kind = body.get("type")
            if kind != "ingress" and not _unknown(kind):
                continue
            sources = _as_list(body.get("source_security_group_id")) + (["self"] if _truthy(body.get("self")) else [])
            cidrs, attributes = _cidrs(body, "cidr_blocks", "ipv6_cidr_blocks")
            rules.append(
                IngressRule(
                    res,
                    _group_of(body.get("security_group_id")),
                    body.get("from_port"),
                    body.get("to_port"),
                    body.get("protocol"),
                    cidrs,
                    sources,
                    attributes,
                )
            )
        else:
            cidrs, attributes = _cidrs(body, "cidr_ipv4", "cidr_ipv6")
            rules.append(
                IngressRule(
                    res,
                    _group_of(body.get("security_group_id")),
                    body.get("from_port"),
                    body.get("to_port"),
                    body.get("ip_protocol"),
                    cidrs,
                    _as_list(body.get("referenced_security_group_id")) + _as_list(body.get("prefix_list_id")),
                    attributes,
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
    __tracebackhide__ = True
    _fail(
        ingress_only_from_problems(target, port, source, security_group),
        f"port {port} must be reachable only from {source}",
    )


def open_ingress_problems(target, ports: Iterable[int]) -> list[Problem]:
    """Rules open to the internet on any of `ports`; a CIDR that cannot be evaluated counts as open."""
    problems = []
    ports = list(ports)
    for rule in ingress_rules(target):
        covered = [port for port in ports if rule.covers(port)]
        if not covered:
            continue
        for port in covered:
            open_cidrs = [c for c in rule.cidrs if c in OPEN_CIDRS]
            if open_cidrs:
                problems.append(
                    _problem(rule.resource, f"{rule.describe()} open to {', '.join(open_cidrs)} (covers port {port})")
                )
        for attribute, cidr in rule.cidr_items():
            if _unknown(cidr):
                problems.append(unknown_problem(rule.resource, attribute, cidr))
    return _unique(problems)


def _unique(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for problem in problems:
        if str(problem) not in seen:
            seen.add(str(problem))
            out.append(problem)
    return out


def assert_no_open_ingress(target, ports: Iterable[int]) -> None:
    """No ingress rule opens any of `ports` to 0.0.0.0/0 or ::/0."""
    __tracebackhide__ = True
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
    __tracebackhide__ = True
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
    __tracebackhide__ = True
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
    __tracebackhide__ = True
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
    __tracebackhide__ = True
    _fail(tag_problems(target, keys, types), "resources must be tagged")


# ---- storage, queues, IAM ------------------------------------------------------------------
def _module_prefix(res: Resource) -> str:
    return res.address[: res.address.rfind(res.type + ".")]


def _local_address(res: Resource) -> str:
    """`aws_s3_bucket.logs` for `module.x.aws_s3_bucket.logs["a"]`: how its own module names it."""
    return re.sub(r"\[[^\]]*\]$", "", res.address[len(_module_prefix(res)) :])


def _names(value: Any, res: Resource) -> bool:
    """Whether an expression (HCL Unknown or plan "${refs}") or a known value refers to `res`."""
    local = _local_address(res)
    text = str(value)
    if re.search(rf"(?<![\w.]){re.escape(local)}(?![\w-])", text):
        return True
    name = res.body.get("bucket") or res.body.get("name")
    return isinstance(name, str) and not _unknown(name) and text == name


def _companions(all_resources: list[Resource], owner: Resource, rtype: str, attribute: str) -> list[Resource]:
    prefix = _module_prefix(owner)
    return [
        r
        for r in all_resources
        if r.type == rtype and _module_prefix(r) == prefix and _names(r.body.get(attribute), owner)
    ]


def s3_encryption_problems(target) -> list[Problem]:
    """Buckets without default encryption (inline block or aws_s3_bucket_server_side_encryption_configuration)."""
    everything = resources(target)
    problems = []
    for bucket in [r for r in everything if r.type == "aws_s3_bucket"]:
        rules = [_first(bucket.body.get("server_side_encryption_configuration")).get("rule")]
        rules += [c.body.get("rule") for c in _companions(everything, bucket, SSE_CONFIG, "bucket")]
        algorithms = [
            _first(_first(rule).get("apply_server_side_encryption_by_default")).get("sse_algorithm")
            for rule in rules
            if rule
        ]
        if not algorithms:
            problems.append(_problem(bucket, f"no default encryption (add an {SSE_CONFIG})"))
        for algorithm in algorithms:
            if _unknown(algorithm):
                problems.append(unknown_problem(bucket, "sse_algorithm", algorithm))
            elif algorithm not in ("AES256", "aws:kms", "aws:kms:dsse"):
                problems.append(_problem(bucket, f"default encryption sse_algorithm is {algorithm!r}"))
    return problems


SSE_CONFIG = "aws_s3_bucket_server_side_encryption_configuration"


def assert_s3_encrypted(target) -> None:
    """Every aws_s3_bucket has default encryption (AES256 or aws:kms)."""
    __tracebackhide__ = True
    _fail(s3_encryption_problems(target), "S3 buckets must be encrypted by default")


def s3_versioning_problems(target) -> list[Problem]:
    """Buckets whose versioning is not Enabled (inline `versioning` or aws_s3_bucket_versioning)."""
    everything = resources(target)
    problems = []
    for bucket in [r for r in everything if r.type == "aws_s3_bucket"]:
        states = []
        inline = _first(bucket.body.get("versioning"))
        if "enabled" in inline and not _unknown(inline.get("enabled")) and inline.get("enabled") is not None:
            states.append("Enabled" if _truthy(inline.get("enabled")) else "Disabled")
        for companion in _companions(everything, bucket, "aws_s3_bucket_versioning", "bucket"):
            states.append(_first(companion.body.get("versioning_configuration")).get("status"))
        if not states:
            problems.append(_problem(bucket, "versioning is not enabled (add an aws_s3_bucket_versioning)"))
        for state in states:
            if _unknown(state):
                problems.append(unknown_problem(bucket, "status", state))
            elif state != "Enabled":
                problems.append(_problem(bucket, f"versioning status is {state!r}, want 'Enabled'"))
    return problems


def assert_s3_versioned(target) -> None:
    """Every aws_s3_bucket has versioning Enabled."""
    __tracebackhide__ = True
    _fail(s3_versioning_problems(target), "S3 buckets must be versioned")


PUBLIC_ACCESS_FLAGS = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")


def s3_public_access_problems(target) -> list[Problem]:
    """Buckets without an aws_s3_bucket_public_access_block setting all four flags to true."""
    everything = resources(target)
    problems = []
    for bucket in [r for r in everything if r.type == "aws_s3_bucket"]:
        blocks = _companions(everything, bucket, "aws_s3_bucket_public_access_block", "bucket")
        if not blocks:
            problems.append(_problem(bucket, "no aws_s3_bucket_public_access_block"))
        for block in blocks:
            for flag in PUBLIC_ACCESS_FLAGS:
                value = block.body.get(flag)
                if _unknown(value):
                    problems.append(unknown_problem(block, flag, value))
                elif not _truthy(value):
                    problems.append(_problem(block, f"{flag} is {value!r}, want true (bucket {bucket.address})"))
    return problems


def assert_s3_public_access_blocked(target) -> None:
    """Every aws_s3_bucket has a public access block with all four flags true."""
    __tracebackhide__ = True
    _fail(s3_public_access_problems(target), "S3 buckets must block public access")


def sqs_dead_letter_problems(target) -> list[Problem]:
    """Queues without a dead-letter queue (redrive_policy or aws_sqs_queue_redrive_policy); queues that
    are another queue's dead-letter queue are exempt."""
    everything = resources(target)
    queues = [r for r in everything if r.type == "aws_sqs_queue"]
    policies = {q.address: [q.body.get("redrive_policy")] for q in queues}
    for q in queues:
        companions = _companions(everything, q, "aws_sqs_queue_redrive_policy", "queue_url")
        policies[q.address] += [c.body.get("redrive_policy") for c in companions]
    problems = []
    for queue in queues:
        if any(_names(p, queue) for other, ps in policies.items() if other != queue.address for p in ps if p):
            continue  # a dead-letter queue itself
        # In a plan, "${unknown}" (no references) is a computed attribute the configuration leaves unset.
        present = [p for p in policies[queue.address] if p not in (None, "", "${unknown}")]
        if not present:
            problems.append(_problem(queue, "no dead-letter queue (redrive_policy with deadLetterTargetArn)"))
        for policy in present:
            if _unknown(policy):
                # jsonencode() of an ARN known after apply: fine when it names a dead-letter queue
                names_queue = any(_names(policy, other) for other in queues if other is not queue)
                if "deadLetterTargetArn" not in str(policy) and not names_queue:
                    problems.append(unknown_problem(queue, "redrive_policy", policy))
                continue
            try:
                parsed = json.loads(policy) if isinstance(policy, str) else policy
            except ValueError:
                parsed = {}
            if not isinstance(parsed, dict) or not parsed.get("deadLetterTargetArn"):
                problems.append(_problem(queue, f"redrive_policy names no deadLetterTargetArn: {policy!r}"))
    return problems


def assert_sqs_dead_letter_queue(target) -> None:
    """Every aws_sqs_queue (but the dead-letter queues themselves) redrives to a dead-letter queue."""
    __tracebackhide__ = True
    _fail(sqs_dead_letter_problems(target), "SQS queues must have a dead-letter queue")


IAM_POLICY_TYPES = {
    "aws_iam_policy": "policy",
    "aws_iam_role_policy": "policy",
    "aws_iam_user_policy": "policy",
    "aws_iam_group_policy": "policy",
}
_DOCUMENT_REF = re.compile(r"data\.aws_iam_policy_document\.([A-Za-z_][\w-]*)")


def _statements(document: Any) -> list[dict]:
    if isinstance(document, str):
        document = json.loads(document)
    statements = document.get("Statement", []) if isinstance(document, dict) else []
    return [s for s in _as_list(statements) if isinstance(s, dict)]


def _document_statements(target, name: str) -> list[dict] | None:
    """Statements of a `data "aws_iam_policy_document"` in HCL, in the JSON policy's shape."""
    if not isinstance(target, Stack) or name not in [b.name for b in target.data.values()]:
        return None
    block = next(b for b in target.data.values() if b.type == "aws_iam_policy_document" and b.name == name)
    evaluator = Evaluator(target)
    out = []
    for statement in _as_list((block.body or {}).get("statement")):
        body = _evaluate_body(evaluator, statement, {})
        out.append(
            {
                "Effect": body.get("effect", "Allow"),
                "Action": body.get("actions", []),
                "Resource": body.get("resources", []),
            }
        )
    return out


def _plan_document_statements(plan: Plan, res: Resource, name: str) -> list[dict] | None:
    """Statements of a `data "aws_iam_policy_document"` in a plan (read at apply when it depends on
    values unknown until then): its planned arguments, unknown parts as Unknown."""
    module = _module_prefix(res).rstrip(".") or None
    for rc in plan.raw.get("resource_changes", []):
        if (
            rc.get("mode") == "data"
            and rc.get("type") == "aws_iam_policy_document"
            and rc.get("name") == name
            and (rc.get("module_address") or None) == module
        ):
            change = rc.get("change", {})
            after, unknown = change.get("after") or {}, change.get("after_unknown") or {}
            out = []
            statements = after.get("statement") or []
            unknown_statements = unknown.get("statement") if isinstance(unknown.get("statement"), list) else []
            for i, statement in enumerate(statements):
                flags = unknown_statements[i] if i < len(unknown_statements) else {}
                values = {}
                for key in ("actions", "resources"):
                    if flags.get(key) is True:
                        values[key] = [Unknown(f"${{data.aws_iam_policy_document.{name}.{key}}}", "known at apply")]
                    else:
                        marks = flags.get(key) if isinstance(flags.get(key), list) else []
                        values[key] = [
                            Unknown(f"${{data.aws_iam_policy_document.{name}.{key}}}", "known at apply")
                            if j < len(marks) and marks[j] is True
                            else v
                            for j, v in enumerate(statement.get(key) or [])
                        ]
                effect = statement.get("effect") or "Allow"
                out.append({"Effect": effect, "Action": values["actions"], "Resource": values["resources"]})
            return out
    return None


def iam_wildcard_problems(target) -> list[Problem]:
    """Allow statements granting `*` actions (or `*:*`) on `*` resources, in IAM policies and roles'
    inline policies. A policy, action or resource that cannot be evaluated is reported (fail closed)."""
    problems = []
    for res in resources(target, *IAM_POLICY_TYPES, "aws_iam_role"):
        if res.type == "aws_iam_role":
            documents = [("inline_policy", _first(b).get("policy")) for b in _as_list(res.body.get("inline_policy"))]
        else:
            documents = [("policy", res.body.get("policy"))]
        for attribute, document in documents:
            if document in (None, "", "${unknown}"):
                continue
            statements = None
            if _unknown(document):
                match = _DOCUMENT_REF.search(str(document))
                if match and isinstance(target, Stack):
                    statements = _document_statements(target, match.group(1))
                elif match and isinstance(target, Plan):
                    statements = _plan_document_statements(target, res, match.group(1))
                if statements is None:
                    problems.append(unknown_problem(res, attribute, document))
                    continue
            else:
                try:
                    statements = _statements(document)
                except ValueError:
                    problems.append(_problem(res, f"{attribute} is not JSON: {str(document)[:80]!r}"))
                    continue
            for statement in statements:
                if statement.get("Effect", "Allow") != "Allow":
                    continue
                actions = _as_list(statement.get("Action"))
                targets = _as_list(statement.get("Resource"))
                wild_action = [a for a in actions if _unknown(a) or str(a) in ("*", "*:*")]
                wild_target = [r for r in targets if _unknown(r) or str(r) == "*"]
                if not (wild_action and wild_target):
                    continue
                unknown = next((v for v in wild_action + wild_target if _unknown(v)), None)
                if unknown is not None:
                    problems.append(unknown_problem(res, attribute, unknown))
                else:
                    sid = f" (Sid {statement['Sid']})" if statement.get("Sid") else ""
                    problems.append(_problem(res, f'{attribute} allows action "*" on resource "*"{sid}'))
    return problems


def assert_no_iam_wildcards(target) -> None:
    """No IAM policy allows `*` actions on `*` resources."""
    __tracebackhide__ = True
    _fail(iam_wildcard_problems(target), 'IAM policies must not allow "*" on "*"')

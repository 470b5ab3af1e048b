"""The backlog metric end to end, without an AWS account: what the OCR image's CloudWatch agent publishes
(packer/files/cloudwatch: the EMF declarations, the Prometheus scrape, the target labels the real
prometheus-targets script writes) against what the plan of modules/asg (scaling policy, user data, IAM)
and modules/monitoring (alarms, log groups) read. One plan, against moto_server, of a small root stack
calling modules/asg twice (scaling_metric backlog and cpu) and modules/monitoring."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from fnmatch import fnmatchcase
from pathlib import Path

import hcl2
import pytest
import yaml
from hcl2 import SerializationOptions
from project_stacks import MODULES_DIR, REPO, register_images

import infracheck as ic
from tests.support.iam import allowed, statements

CLOUDWATCH = REPO / "packer" / "files" / "cloudwatch"
PROMETHEUS_TARGETS = REPO / "packer" / "files" / "bin" / "prometheus-targets"
BACKLOG, CPU, MONITORING = "scaling-backlog", "scaling-cpu", "scaling-alarms"
MANAGED_AGENT_POLICY = "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"


def _packer_default(name: str):
    options = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)
    with open(REPO / "packer" / "common.pkr.hcl") as f:
        (block,) = [v[name] for v in hcl2.load(f, serialization_options=options)["variable"] if name in v]
    return block["default"]


LOG_GROUP_PREFIX = _packer_default("log_group_prefix")


def _stack(folder: Path) -> Path:
    modules = os.path.relpath(MODULES_DIR, folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.tf").write_text(f"""
terraform {{
  required_providers {{
    aws = {{ source = "hashicorp/aws" }}
  }}
}}

variable "vpc_id" {{ type = string }}
variable "subnet_ids" {{ type = list(string) }}
variable "alb_security_group_id" {{ type = string }}

module "backlog" {{
  source                = "{modules}/asg"
  name                  = "{BACKLOG}"
  vpc_id                = var.vpc_id
  subnet_ids            = var.subnet_ids
  alb_security_group_id = var.alb_security_group_id
}}

module "cpu" {{
  source                = "{modules}/asg"
  name                  = "{CPU}"
  vpc_id                = var.vpc_id
  subnet_ids            = var.subnet_ids
  alb_security_group_id = var.alb_security_group_id
  scaling_metric        = "cpu"
}}

module "monitoring" {{
  source                 = "{modules}/monitoring"
  name                   = "{MONITORING}"
  log_group_prefix       = "{LOG_GROUP_PREFIX}"
  autoscaling_group_name = module.backlog.autoscaling_group_name
  create_alb_alarms      = false
  create_redis_alarms    = false
}}
""")
    return folder


@pytest.fixture(scope="module")
def plan(module_terraform, aws_emulator, tmp_path_factory):
    ec2 = aws_emulator.client("ec2")
    register_images(ec2)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.42.{i}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
        for i, zone in enumerate(zones)
    ]
    alb_group = ec2.create_security_group(GroupName="scaling-alb", Description="load balancer", VpcId=vpc)["GroupId"]
    tf = module_terraform(
        _stack(tmp_path_factory.mktemp("scaling") / "stack"),
        {"vpc_id": vpc, "subnet_ids": subnets, "alb_security_group_id": alb_group},
    )
    tf.init()
    return tf.plan()


@pytest.fixture(scope="module")
def agent():
    """What the OCR image's agent publishes from the service's /metrics: namespace, and per metric the
    dimension sets and the Prometheus job it must come from; plus its log group and scrape config."""
    config = json.loads((CLOUDWATCH / "ocr.json").read_text())
    prometheus = config["logs"]["metrics_collected"]["prometheus"]
    emf = prometheus["emf_processor"]
    declared: dict[str, list[dict]] = {}
    for declaration in emf["metric_declaration"]:
        for selector in declaration["metric_selectors"]:
            declared.setdefault(selector, []).append(declaration)
    return {
        "config": config,
        "namespace": emf["metric_namespace"],
        "declared": declared,
        "log_group": prometheus["log_group_name"].replace("@LOG_GROUP_PREFIX@", LOG_GROUP_PREFIX),
        "scrape": yaml.safe_load((CLOUDWATCH / "prometheus.yaml").read_text()),
    }


def _declarations(agent, metric_name: str) -> list[dict]:
    found = [d for selector, ds in agent["declared"].items() if re.search(selector, metric_name) for d in ds]
    assert found, f"the agent publishes no {metric_name} (metric_selectors in ocr.json)"
    return found


def _assert_published(agent, namespace: str, metric_name: str, dimensions: dict[str, str], reader: str):
    """The agent publishes metric_name in namespace with exactly these dimension names."""
    assert namespace == agent["namespace"], f"{reader} reads {namespace}, the agent writes {agent['namespace']}"
    dimension_sets = [sorted(s) for d in _declarations(agent, metric_name) for s in d["dimensions"]]
    assert sorted(dimensions) in dimension_sets, (
        f"{reader} reads {metric_name} with dimensions {sorted(dimensions)}; the agent publishes {dimension_sets}"
    )


def _target_labels(tmp_path: Path, asg_name: str) -> dict[str, str]:
    """The labels the image's real prometheus-targets script gives the service's target. Instance
    metadata does not exist here: a curl that fails stands in for its absence (no traffic leaves)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text("#!/bin/sh\nexit 7\n")
    (bin_dir / "curl").chmod(0o755)
    out = tmp_path / "targets.json"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "ASG_NAME": asg_name}
    subprocess.run(["bash", str(PROMETHEUS_TARGETS), "8000", str(out)], env=env, check=True, timeout=30)
    (target,) = json.loads(out.read_text())
    assert target["targets"] == ["127.0.0.1:8000"]
    return target["labels"]


def _user_data_settings(plan, module: str) -> dict[str, str]:
    (template,) = [r for r in plan.resources("aws_launch_template") if r.address.startswith(f"module.{module}.")]
    text = base64.b64decode(template.body["user_data"]).decode()
    body = text.split("<<'ENV'\n", 1)[1].split("\nENV", 1)[0]
    return dict(line.split("=", 1) for line in body.splitlines())


def _of(plan, module: str, resource_type: str) -> list:
    return [r for r in plan.resources(resource_type) if r.address.startswith(f"module.{module}.")]


def _policies(plan, module: str) -> dict[str, dict]:
    return {r.address: r.body for r in _of(plan, module, "aws_autoscaling_policy")}


def _group(plan, module: str) -> dict:
    (group,) = [r for r in plan.resources("aws_autoscaling_group") if r.address.startswith(f"module.{module}.")]
    return group.body


def _backlog_metrics(plan) -> dict[str, dict]:
    (policy,) = _policies(plan, "backlog").values()
    (config,) = policy["target_tracking_configuration"]
    (spec,) = config["customized_metric_specification"]
    return {m["id"]: m for m in spec["metrics"]}


def _metric(query: dict) -> tuple[str, str, dict[str, str]]:
    (stat,) = query["metric_stat"]
    (metric,) = stat["metric"]
    return metric["namespace"], metric["metric_name"], {d["name"]: d["value"] for d in metric["dimensions"]}


# ---- the scaling policy reads what the agent publishes -----------------------------------------
def test_backlog_policy_reads_what_the_agent_publishes(plan, agent):
    metrics = _backlog_metrics(plan)
    namespace, name, dimensions = _metric(metrics["backlog"])
    assert name == "ocr_queue_depth"
    _assert_published(agent, namespace, name, dimensions, "the backlog policy")
    assert dimensions == {"AutoScalingGroupName": _group(plan, "backlog")["name"]}


def test_backlog_per_instance_is_the_depth_over_the_in_service_instances(plan):
    (policy,) = _policies(plan, "backlog").values()
    assert policy["policy_type"] == "TargetTrackingScaling" and policy["estimated_instance_warmup"] == 300
    (config,) = policy["target_tracking_configuration"]
    assert config["target_value"] == 10
    metrics = _backlog_metrics(plan)
    assert metrics["backlog_per_instance"]["expression"] == "backlog / in_service"
    assert [i for i, m in metrics.items() if m["return_data"]] == ["backlog_per_instance"]
    # Every instance reports the same queue: the maximum is the queue, a sum would count it n times.
    assert metrics["backlog"]["metric_stat"][0]["stat"] == "Maximum"
    namespace, name, dimensions = _metric(metrics["in_service"])
    group = _group(plan, "backlog")
    assert (namespace, name, dimensions) == (
        "AWS/AutoScaling",
        "GroupInServiceInstances",
        {"AutoScalingGroupName": group["name"]},
    )
    assert "GroupInServiceInstances" in group["enabled_metrics"], "the denominator needs the group's metrics"


def test_cpu_tracking_stays_available(plan):
    assert list(_policies(plan, "backlog")) == ["module.backlog.aws_autoscaling_policy.backlog[0]"]
    policies = _policies(plan, "cpu")
    assert list(policies) == ["module.cpu.aws_autoscaling_policy.cpu[0]"]
    (config,) = policies["module.cpu.aws_autoscaling_policy.cpu[0]"]["target_tracking_configuration"]
    assert config["predefined_metric_specification"][0]["predefined_metric_type"] == "ASGAverageCPUUtilization"
    assert config["target_value"] == 60 and not config.get("customized_metric_specification")


# ---- the instance labels its metrics with the group the policy names ---------------------------
def test_instances_label_their_metrics_with_the_group_name(plan, agent, tmp_path):
    """User data's ASG_NAME becomes the target's AutoScalingGroupName label, the dimension the policy and
    the alarms name; every dimension the agent declares is a label of the scraped target (or the
    metric's own), so no declaration drops the queue metrics."""
    settings = _user_data_settings(plan, "backlog")
    group_name = _group(plan, "backlog")["name"]
    assert settings["ASG_NAME"] == group_name
    labels = _target_labels(tmp_path, settings["ASG_NAME"])
    assert labels["AutoScalingGroupName"] == group_name
    for metric in ("ocr_queue_depth", "ocr_queue_oldest_age_seconds"):
        for declaration in _declarations(agent, metric):
            for dimension_set in declaration["dimensions"]:
                assert set(dimension_set) <= set(labels), f"{metric}: {dimension_set} not all among {labels}"


def test_agent_scrapes_the_service_job_it_declares(agent):
    (job,) = agent["scrape"]["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    for metric in ("ocr_queue_depth", "ocr_queue_oldest_age_seconds", "ocr_documents_finished_total"):
        for declaration in _declarations(agent, metric):
            assert declaration["source_labels"] == ["job"]
            assert re.search(declaration["label_matcher"], job["job_name"]), (job["job_name"], declaration)
    (targets_file,) = job["file_sd_configs"][0]["files"]
    unit = (REPO / "packer" / "files" / "systemd" / "ocr-service.service").read_text()
    assert f"prometheus-targets ${{PORT}} {targets_file}" in unit


def test_the_service_exposes_the_metrics_the_policy_reads():
    """The service's own exposition names the gauges the agent selects (queue of 3, oldest queued now)."""
    from datetime import UTC, datetime

    from prometheus_client.parser import text_string_to_metric_families

    from ocr_service.metrics import exposition

    text, _ = exposition((3, datetime.now(UTC)))
    families = {f.name: f for f in text_string_to_metric_families(text.decode())}
    assert families["ocr_queue_depth"].samples[0].value == 3
    assert families["ocr_queue_oldest_age_seconds"].type == "gauge"


# ---- the alarms read the same ------------------------------------------------------------------
def test_queue_alarms_read_what_the_agent_publishes(plan, agent):
    group_name = _group(plan, "backlog")["name"]
    alarms = {r.body["alarm_name"]: r.body for r in plan.resources("aws_cloudwatch_metric_alarm")}
    for short, metric in (("queue-depth", "ocr_queue_depth"), ("queue-oldest-age", "ocr_queue_oldest_age_seconds")):
        alarm = alarms[f"{MONITORING}-{short}"]
        assert alarm["metric_name"] == metric
        _assert_published(agent, alarm["namespace"], metric, alarm["dimensions"], alarm["alarm_name"])
        assert alarm["dimensions"] == {"AutoScalingGroupName": group_name}
    rate = alarms[f"{MONITORING}-failure-rate"]
    queries = [q["metric"][0] for q in rate["metric_query"] if q.get("metric")]
    assert len(queries) == 3
    for metric in queries:
        _assert_published(agent, metric["namespace"], metric["metric_name"], metric["dimensions"], "failure-rate")
        assert metric["dimensions"]["AutoScalingGroupName"] == group_name


# ---- the instances may publish, and the log groups exist ----------------------------------------
def test_agent_log_groups_exist_with_retention(plan, agent):
    groups = {r.body["name"]: r.body for r in plan.resources("aws_cloudwatch_log_group")}
    files = agent["config"]["logs"]["logs_collected"]["files"]["collect_list"]
    wanted = {agent["log_group"]} | {f["log_group_name"].replace("@LOG_GROUP_PREFIX@", LOG_GROUP_PREFIX) for f in files}
    assert f"{LOG_GROUP_PREFIX}/metrics" in wanted
    for name in wanted:
        assert name in groups, f"the agent writes to {name}, which no module creates"
        assert groups[name]["retention_in_days"] > 0


def test_instances_may_publish_only_their_own_namespaces(plan, agent, aws_emulator):
    """The managed agent policy (as the emulator ships it) and the role's inline policies together: the
    agent's instance metrics and the EMF events go through, PutMetricData to a foreign namespace does not."""
    attached = [
        r.body["policy_arn"]
        for r in plan.resources("aws_iam_role_policy_attachment")
        if r.address.startswith("module.backlog.")
    ]
    assert attached == [MANAGED_AGENT_POLICY]
    iam = aws_emulator.client("iam")
    version = iam.get_policy(PolicyArn=MANAGED_AGENT_POLICY)["Policy"]["DefaultVersionId"]
    managed = iam.get_policy_version(PolicyArn=MANAGED_AGENT_POLICY, VersionId=version)["PolicyVersion"]["Document"]
    inline = [r.body["policy"] for r in _of(plan, "backlog", "aws_iam_role_policy")]
    assert all(p.startswith("{") for p in inline), f"inline policies unknown at plan time: {inline}"
    role = statements(managed, *inline)

    def may_put(namespace: str) -> bool:
        return allowed(role, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": namespace})

    assert may_put(agent["config"]["metrics"]["namespace"]), "the agent's instance metrics are denied"
    assert may_put(agent["namespace"])
    for foreign in ("AWS/EC2", "OtherApp", "OCRServiceX"):
        assert not may_put(foreign), f"PutMetricData allowed in {foreign}"
    arn = f"arn:aws:logs:{aws_emulator.region}:123456789012:log-group:{agent['log_group']}:log-stream:i-1"
    assert allowed(role, "logs:PutLogEvents", arn, {})


def test_redis_instances_may_publish_their_namespace():
    """modules/redis keeps the profile's default namespaces: the Redis image's agent namespace is among them."""
    default = ic.load_stack(MODULES_DIR / "instance-profile").variables["metric_namespaces"].body["default"]
    namespace = json.loads((CLOUDWATCH / "redis.json").read_text())["metrics"]["namespace"]
    assert any(fnmatchcase(namespace, pattern) for pattern in default), (namespace, default)
    assert not any(fnmatchcase("AWS/EC2", pattern) for pattern in default)

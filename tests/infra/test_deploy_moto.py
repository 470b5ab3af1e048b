"""Plan deploy/ against moto_server with plan-JSON assertions, then ONE apply per module (its defaults,
with a certificate from the emulator's ACM), boto3 checks on what it built, and destroy at teardown
(also when a check fails)."""

from __future__ import annotations

import base64
import json
import time

import pytest
from project_stacks import DEPLOY_DIR, DEPLOY_VARS, SECRETS, register_images, request_certificate

import infracheck as ic
from tests.support.iam import allowed, statements

NAME = "ocr-service-prod"  # deploy/'s "${var.name}-${var.environment}" with the defaults
PARAMETERS = ["mongo_connection_string", "redis_password", "api_key"]
REDIS_CA = "/ocr-service/prod/redis-tls-ca"  # deploy/'s name of the CA parameter Redis publishes


@pytest.fixture(scope="module")
def stack(module_terraform, aws_emulator):
    """deploy/ planned and applied once; destroyed by the plugin when the module's tests are done."""
    aws_emulator.reset()
    register_images(aws_emulator.client("ec2"))
    certificate = request_certificate(aws_emulator.client("acm"))
    tf = module_terraform(DEPLOY_DIR, {**DEPLOY_VARS, "certificate_arn": certificate})
    tf.init()
    plan = tf.plan()
    started = time.monotonic()
    tf.apply()
    print(f"\ndeploy/ apply against moto took {time.monotonic() - started:.0f}s")
    return tf, plan, tf.outputs()


@pytest.fixture(scope="module")
def plan(stack):
    return stack[1]


@pytest.fixture(scope="module")
def outputs(stack):
    return stack[2]


def user_data_of(resource) -> str:
    """The user data a planned launch template or instance carries, decoded."""
    encoded = str(resource.body.get("user_data_base64") or resource.body.get("user_data") or "")
    return "" if encoded.startswith("${") else base64.b64decode(encoded).decode()


# ---- the plan -----------------------------------------------------------------------------------
def test_plan_creates_the_whole_stack(plan):
    actions = plan.actions()
    assert all(a == ["create"] for a in actions.values() if a != ["read"]), actions
    for address in (
        "module.alb.aws_lb.this",
        "module.asg.aws_autoscaling_group.this",
        "module.asg.aws_launch_template.this",
        "module.redis.aws_instance.this",
        "module.vpc.aws_vpc.this",
    ):
        assert address in actions, f"{address} not planned"
    assert set(plan.output_changes()) >= {"alb_dns_name"}


def test_plan_spreads_subnets_over_two_zones(plan):
    subnets = plan.resources("aws_subnet")
    public = [s for s in subnets if ".public" in s.address]
    private = [s for s in subnets if ".private" in s.address]
    assert len(public) >= 2 and len(private) >= 2, [s.address for s in subnets]
    for group in (public, private):
        zones = {s.body.get("availability_zone") for s in group}
        assert len(zones) >= 2 and all(isinstance(z, str) and not z.startswith("${") for z in zones), zones


def test_plan_asg_sizes_and_health_checks(plan):
    (group,) = plan.resources("aws_autoscaling_group")
    sizes = {k: group.body[k] for k in ("min_size", "max_size", "desired_capacity")}
    assert sizes == {"min_size": 1, "max_size": 3, "desired_capacity": 2}, f"{group.where}: {sizes}"
    # A MongoDB or Redis outage fails readiness: the load balancer stops routing, the group replaces nothing.
    assert group.body["health_check_type"] == "EC2", group.where
    ic.assert_health_check_path(plan, "/health/ready")
    (target_group,) = plan.resources("aws_lb_target_group")
    assert target_group.body["health_check"][0]["matcher"] == "200", target_group.where


def test_plan_tls_listeners(plan):
    listeners = {r.address: r.body for r in plan.resources("aws_lb_listener")}
    http = listeners["module.alb.aws_lb_listener.http"]
    https = listeners["module.alb.aws_lb_listener.https[0]"]
    (action,) = http["default_action"]
    assert action["type"] == "redirect", "plain HTTP must only redirect when a certificate is given"
    assert action["redirect"][0]["protocol"] == "HTTPS" and action["redirect"][0]["status_code"] == "HTTP_301"
    assert https["protocol"] == "HTTPS" and https["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["default_action"][0]["type"] == "forward"


def test_plan_metrics_reach_the_agent_but_not_the_internet(plan):
    """The service opens /metrics (OPEN_PATHS) for the CloudWatch agent on the instance; the load balancer
    answers /metrics itself with a 404, so nobody outside scrapes it."""
    (rule,) = [r.body for r in plan.resources("aws_lb_listener_rule")]
    assert rule["action"][0]["type"] == "fixed-response"
    assert rule["action"][0]["fixed_response"][0]["status_code"] == "404"
    assert rule["condition"][0]["path_pattern"][0]["values"] == ["/metrics"]


def test_plan_scales_on_backlog_per_instance(plan):
    policies = {r.address: r.body for r in plan.resources("aws_autoscaling_policy")}
    assert list(policies) == ["module.asg.aws_autoscaling_policy.backlog[0]"], policies
    (config,) = policies["module.asg.aws_autoscaling_policy.backlog[0]"]["target_tracking_configuration"]
    (spec,) = config["customized_metric_specification"]
    metrics = {m["id"]: m for m in spec["metrics"]}
    assert metrics["backlog_per_instance"]["expression"] == "backlog / in_service"
    assert [m["id"] for m in spec["metrics"] if m["return_data"]] == ["backlog_per_instance"]
    (depth,) = metrics["backlog"]["metric_stat"]
    assert depth["stat"] == "Maximum"
    assert (depth["metric"][0]["namespace"], depth["metric"][0]["metric_name"]) == ("OCRService", "ocr_queue_depth")
    (in_service,) = metrics["in_service"]["metric_stat"]
    assert in_service["metric"][0]["metric_name"] == "GroupInServiceInstances"
    assert config["target_value"] == 10
    (group,) = plan.resources("aws_autoscaling_group")
    assert "GroupInServiceInstances" in group.body["enabled_metrics"], "the denominator needs group metrics"


def test_plan_service_alarms(plan):
    alarms = {r.body["alarm_name"]: r.body for r in plan.resources("aws_cloudwatch_metric_alarm")}
    depth, age = alarms[f"{NAME}-queue-depth"], alarms[f"{NAME}-queue-oldest-age"]
    assert (depth["namespace"], depth["metric_name"], depth["statistic"]) == (
        "OCRService",
        "ocr_queue_depth",
        "Maximum",
    )
    assert (age["namespace"], age["metric_name"]) == ("OCRService", "ocr_queue_oldest_age_seconds")
    rate = alarms[f"{NAME}-failure-rate"]
    queries = {q["id"]: q for q in rate["metric_query"]}
    assert queries["failure_rate"]["return_data"] and "failed" in queries["failure_rate"]["expression"]
    statuses = {q["metric"][0]["dimensions"]["status"] for q in queries.values() if q.get("metric")}
    assert statuses == {"failed", "completed", "cancelled"}
    assert {q["metric"][0]["metric_name"] for q in queries.values() if q.get("metric")} == {
        "ocr_documents_finished_total"
    }


def test_plan_no_session_manager_policy_by_default(plan):
    attached = [r.body["policy_arn"] for r in plan.resources("aws_iam_role_policy_attachment")]
    assert attached and not [a for a in attached if a.endswith("AmazonSSMManagedInstanceCore")], attached


def test_plan_mongodb_egress_only_to_its_cidrs(plan):
    rules = plan.resources("aws_vpc_security_group_egress_rule")
    mongo = [r for r in rules if r.body.get("from_port") == 27017]
    assert sorted(r.body["cidr_ipv4"] for r in mongo) == DEPLOY_VARS["mongo_cidr_blocks"], [r.address for r in mongo]
    wide = [r.address for r in rules if r.body.get("cidr_ipv4") == "0.0.0.0/0" and r.body.get("from_port") != 443]
    assert not wide, f"egress open to the internet on more than HTTPS: {wide}"


def test_plan_security_invariants(plan):
    ic.assert_ingress_only_from(
        plan, 6379, "module.asg.security_group_id", security_group="module.redis.aws_security_group.this"
    )
    ic.assert_ingress_only_from(
        plan, 8000, "module.alb.security_group_id", security_group="module.asg.aws_security_group.service"
    )
    ic.assert_no_open_ingress(plan, [22, 6379, 8000])
    ic.assert_imdsv2_required(plan)
    ic.assert_volumes_encrypted(plan)
    ic.assert_tags_present(plan, ["Application", "Environment", "ManagedBy"])


def test_plan_keeps_secrets_in_ssm(plan):
    parameters = [p for p in plan.resources("aws_ssm_parameter") if p.body["type"] == "SecureString"]
    assert sorted(p.address for p in parameters) == [f"aws_ssm_parameter.{n}[0]" for n in sorted(PARAMETERS)]
    # Encrypted with the stack's own key (known after apply: see test_ssm_parameters_hold_the_secrets).
    assert all(p.body["key_id"] == "${local.kms_key_arn}" for p in parameters), [p.body["key_id"] for p in parameters]
    assert plan.resources("aws_kms_key")[0].body["enable_key_rotation"] is True
    for res in plan.resources("aws_launch_template", "aws_instance"):
        user_data = user_data_of(res)  # the launch template's is known after apply only (REDIS_HOST)
        assert res.type == "aws_launch_template" or "ssm-parameters" in user_data, res.address
        for secret in SECRETS:
            assert secret not in user_data, f"{res.where}: {res.address} carries a secret in its user data"


def test_plan_publishes_the_redis_ca_for_the_ocr_instances(plan):
    """The one String parameter: Redis's CA certificate (public), created with a placeholder that the
    Redis instance overwrites at boot; the Redis user data names it for publishing (the OCR user data
    names it as REDIS_TLS_CA_FILE: test_launch_template_requires_imdsv2_and_carries_no_secret)."""
    strings = [p for p in plan.resources("aws_ssm_parameter") if p.body["type"] != "SecureString"]
    assert [(p.address, p.body["type"], p.body["name"]) for p in strings] == [
        ("module.redis.aws_ssm_parameter.tls_ca[0]", "String", REDIS_CA)
    ]
    assert not strings[0].body["value"].startswith("-----BEGIN"), "the placeholder must not pass for a PEM"
    (redis,) = plan.resources("aws_instance")
    redis_data = user_data_of(redis)
    assert f"REDIS_TLS_CA_PARAMETER={REDIS_CA}\n" in redis_data, redis_data


# ---- what apply built, seen through boto3 ------------------------------------------------------------
def test_subnets_in_two_zones(outputs, aws_client):
    ec2 = aws_client("ec2")
    for key in ("public_subnet_ids", "private_subnet_ids"):
        subnets = ec2.describe_subnets(SubnetIds=outputs[key])["Subnets"]
        assert len({s["AvailabilityZone"] for s in subnets}) >= 2, f"{key}: {subnets}"
        assert all(s["VpcId"] == outputs["vpc_id"] for s in subnets)


def test_load_balancer_listener_and_health_check(outputs, aws_client):
    elb = aws_client("elbv2")
    lbs = [lb for lb in elb.describe_load_balancers()["LoadBalancers"] if lb["DNSName"] == outputs["alb_dns_name"]]
    assert len(lbs) == 1, outputs["alb_dns_name"]
    lb = lbs[0]
    assert lb.get("Scheme", "internet-facing") == "internet-facing" and len(lb["AvailabilityZones"]) >= 2
    listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    http = [listener for listener in listeners if listener["Port"] == 80]
    assert len(http) == 1 and http[0]["Protocol"] == "HTTP"
    action = http[0]["DefaultActions"][0]
    assert action["Type"] == "redirect" and action["RedirectConfig"]["Protocol"] == "HTTPS"
    (https,) = [listener for listener in listeners if listener["Port"] == 443]
    assert https["Protocol"] == "HTTPS" and https["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["DefaultActions"][0]["TargetGroupArn"] == outputs["target_group_arn"]
    (group,) = elb.describe_target_groups(TargetGroupArns=[outputs["target_group_arn"]])["TargetGroups"]
    assert group["HealthCheckPath"] == "/health/ready" and group["Port"] == 8000 and group["HealthCheckEnabled"]
    attributes = {
        a["Key"]: a["Value"]
        for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]
    }
    assert attributes.get("routing.http.drop_invalid_header_fields.enabled") == "true"


def test_autoscaling_group_has_two_instances_in_service(outputs, aws_client):
    autoscaling = aws_client("autoscaling")
    deadline = time.monotonic() + 60
    while True:
        (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[outputs["asg_name"]])[
            "AutoScalingGroups"
        ]
        in_service = [i for i in group["Instances"] if i["LifecycleState"] == "InService"]
        if len(in_service) == 2 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (1, 3, 2)
    assert len(in_service) == 2, group["Instances"]
    assert group["HealthCheckType"] == "EC2" and outputs["target_group_arn"] in group["TargetGroupARNs"]
    assert len({i["AvailabilityZone"] for i in group["Instances"]}) >= 1


def test_launch_template_requires_imdsv2_and_carries_no_secret(outputs, aws_client):
    ec2 = aws_client("ec2")
    (group,) = aws_client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[outputs["asg_name"]])[
        "AutoScalingGroups"
    ]
    template_id = group["LaunchTemplate"]["LaunchTemplateId"]
    (version,) = ec2.describe_launch_template_versions(LaunchTemplateId=template_id, Versions=["$Latest"])[
        "LaunchTemplateVersions"
    ]
    data = version["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert all(m["Ebs"]["Encrypted"] for m in data["BlockDeviceMappings"])
    user_data = base64.b64decode(data["UserData"]).decode()
    assert "REDIS_HOST" in user_data and outputs["redis_private_ip"] in user_data
    settings = dict(line.split("=", 1) for line in user_data.split("<<'ENV'\n", 1)[1].split("\nENV", 1)[0].splitlines())
    assert settings["REDIS_TLS"] == "true" and settings["REDIS_USERNAME"] == "ocr-service"
    # Forwarded headers trusted from the VPC only; idle connections outlive the load balancer's.
    assert settings["FORWARDED_ALLOW_IPS"] == "10.0.0.0/16"
    assert int(settings["TIMEOUT_KEEP_ALIVE_S"]) > 300  # alb_idle_timeout's default
    # /metrics open to the CloudWatch agent on the instance (the load balancer answers it 404 itself)
    assert "/metrics" in json.loads(settings["OPEN_PATHS"])
    # The agent labels the queue metrics with it: the dimension the backlog policy and the alarms read.
    assert settings["ASG_NAME"] == outputs["asg_name"]
    assert f"API_KEY={outputs['ssm_parameter_names']['api_key']}" in user_data
    # The CA Redis publishes, which the instances wait for and verify Redis with.
    parameters = user_data.split("<<'PARAMS'\n", 1)[1].split("\nPARAMS", 1)[0].splitlines()
    assert f"REDIS_TLS_CA_FILE={outputs['redis_tls_ca_ssm_parameter_name']}" in parameters, parameters
    for secret in SECRETS:
        assert secret not in user_data, "a secret is baked into the launch template's user data"
    for name in (
        outputs["ssm_parameter_names"].values()
        if isinstance(outputs["ssm_parameter_names"], dict)
        else outputs["ssm_parameter_names"]
    ):
        assert name in user_data, f"user data does not name the SSM parameter {name}"


def test_security_group_rules(outputs, aws_client):
    ec2 = aws_client("ec2")

    def ingress(group_id):
        rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
        return [r for r in rules["SecurityGroupRules"] if not r["IsEgress"]]

    service_sg = outputs["service_security_group_id"]
    (redis,) = ec2.describe_instances(InstanceIds=[outputs["redis_instance_id"]])["Reservations"][0]["Instances"]
    # moto lists the groups of a VPC instance on its network interface only.
    redis_sgs = {g["GroupId"] for g in redis["SecurityGroups"]} | {
        g["GroupId"] for ni in redis.get("NetworkInterfaces", []) for g in ni["Groups"]
    }
    assert len(redis_sgs) == 1, redis_sgs
    redis_sgs = sorted(redis_sgs)
    redis_rules = ingress(redis_sgs[0])
    assert [
        (r["FromPort"], r["ToPort"], r.get("CidrIpv4"), r.get("ReferencedGroupInfo", {}).get("GroupId"))
        for r in redis_rules
    ] == [(6379, 6379, None, service_sg)]
    service_rules = ingress(service_sg)
    assert len(service_rules) == 1 and service_rules[0]["FromPort"] == 8000 and "CidrIpv4" not in service_rules[0]
    alb_sg = service_rules[0]["ReferencedGroupInfo"]["GroupId"]
    assert alb_sg != service_sg
    open_ports = {r["FromPort"] for r in ingress(alb_sg) if r.get("CidrIpv4") == "0.0.0.0/0"}
    assert open_ports == {80, 443}, f"load balancer open to the internet on {open_ports}"
    assert redis["MetadataOptions"]["HttpTokens"] == "required"
    assert not redis.get("PublicIpAddress")


def test_alarms(aws_client):
    alarms = {a["AlarmName"]: a for a in aws_client("cloudwatch").describe_alarms()["MetricAlarms"]}
    for suffix in (
        "alb-5xx",
        "target-5xx",
        "unhealthy-hosts",
        "target-response-time",
        "asg-cpu",
        "queue-depth",
        "queue-oldest-age",
        "failure-rate",
        "redis-cpu",
        "redis-status-check",
        "redis-auto-recovery",
    ):
        assert f"{NAME}-{suffix}" in alarms, f"alarm {NAME}-{suffix} missing; have {sorted(alarms)}"
    recover = alarms[f"{NAME}-redis-auto-recovery"]
    assert any(":automate:" in action and action.endswith(":ec2:recover") for action in recover["AlarmActions"])


def test_agent_log_groups_exist(outputs, aws_client):
    """The groups the agent writes to (app and Docker logs, the metrics' EMF events), with a retention."""
    groups = {g["logGroupName"]: g for g in aws_client("logs").describe_log_groups()["logGroups"]}
    assert set(outputs["log_group_names"]) == {"app", "docker", "metrics"}
    for name in outputs["log_group_names"].values():
        assert groups[name].get("retentionInDays"), f"{name} missing or kept forever"


def test_ssm_parameters_hold_the_secrets(outputs, aws_client):
    ssm = aws_client("ssm")
    names = outputs["ssm_parameter_names"]
    names = list(names.values()) if isinstance(names, dict) else names
    values = {ssm.get_parameter(Name=n, WithDecryption=True)["Parameter"]["Value"] for n in names}
    assert values == set(SECRETS)
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": names}])["Parameters"]
    assert len(described) == len(names) and all(p["Type"] == "SecureString" for p in described)
    key_id = aws_client("kms").describe_key(KeyId=outputs["ssm_kms_key_arn"])["KeyMetadata"]["KeyId"]
    assert {p["KeyId"].rsplit("/", 1)[-1] for p in described} == {key_id}, described


def test_scaling_policy_tracks_backlog(outputs, aws_client):
    (policy,) = aws_client("autoscaling").describe_policies(AutoScalingGroupName=outputs["asg_name"])["ScalingPolicies"]
    assert policy["PolicyType"] == "TargetTrackingScaling" and policy["PolicyName"].endswith("backlog-per-instance")
    spec = policy["TargetTrackingConfiguration"]["CustomizedMetricSpecification"]
    assert [m["Expression"] for m in spec["Metrics"] if m.get("ReturnData")] == ["backlog / in_service"]


def _role_statements(iam, role_name: str) -> list[dict]:
    names = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
    inline = [iam.get_role_policy(RoleName=role_name, PolicyName=n)["PolicyDocument"] for n in names]
    attached = iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]
    managed = []
    for policy in attached:
        version = iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=policy["PolicyArn"], VersionId=version)["PolicyVersion"]["Document"]
        managed.append(json.loads(document) if isinstance(document, str) else document)
    return statements(*inline, *managed)


def test_each_role_reads_only_its_own_parameters(outputs, aws_client):
    """IAM as applied (inline and managed policies together): the OCR role reads its three parameters,
    the Redis role only the password, neither any other parameter; kms:Decrypt only with the stack's key;
    metrics only in their own namespaces."""
    iam, ssm = aws_client("iam"), aws_client("ssm")
    arns = {
        key: ssm.get_parameter(Name=name)["Parameter"]["ARN"] for key, name in outputs["ssm_parameter_names"].items()
    }
    # Another stack's parameter, and the CloudWatch agent's (its managed policy grants AmazonCloudWatch-*).
    elsewhere = [
        arns["api_key"].replace(f"/{NAME.replace('-prod', '')}/prod/", "/other-stack/prod/"),
        arns["api_key"].rsplit(":parameter/", 1)[0] + ":parameter/AmazonCloudWatch-config",
    ]
    roles = outputs["instance_role_names"]
    ocr, redis = _role_statements(iam, roles["ocr"]), _role_statements(iam, roles["redis"])
    for key, arn in arns.items():
        assert allowed(ocr, "ssm:GetParameter", arn), f"the OCR role cannot read {key}"
    assert allowed(redis, "ssm:GetParameter", arns["redis_password"])
    assert not allowed(redis, "ssm:GetParameter", arns["mongo_connection_string"]), "Redis role reads the MongoDB URI"
    assert not allowed(redis, "ssm:GetParameter", arns["api_key"])
    for role in (ocr, redis):
        assert all(not allowed(role, "ssm:GetParameter", arn) for arn in elsewhere)
        assert not allowed(role, "ssm:GetParametersByPath", arns["api_key"].rsplit("/", 1)[0])
        assert allowed(role, "kms:Decrypt", outputs["ssm_kms_key_arn"])
        other_key = outputs["ssm_kms_key_arn"].rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000"
        assert not allowed(role, "kms:Decrypt", other_key), "kms:Decrypt beyond the stack's key"
    # The managed agent policy allows PutMetricData anywhere; the roles' Deny keeps them to their namespaces.
    for role, namespace in ((ocr, "OCRService/Instances"), (redis, "OCRService/Redis")):
        assert allowed(role, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": namespace})
        assert not allowed(role, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AWS/EC2"})


def test_redis_ca_parameter_is_published_by_redis_alone(outputs, aws_client):
    """IAM as applied: the Redis role may write the CA parameter (and read it back, to skip an
    unchanged write) and write nothing else; the OCR role reads the CA but may not write it, and reads
    no TLS material of Redis's own that the deployment may keep in SSM."""
    iam, ssm = aws_client("iam"), aws_client("ssm")
    assert outputs["redis_tls_ca_ssm_parameter_name"] == REDIS_CA
    parameter = ssm.get_parameter(Name=REDIS_CA)["Parameter"]
    assert parameter["Type"] == "String" and not parameter["Value"].startswith("-----BEGIN")
    ca_arn = parameter["ARN"]
    secrets = {
        key: ssm.get_parameter(Name=name)["Parameter"]["ARN"] for key, name in outputs["ssm_parameter_names"].items()
    }
    roles = outputs["instance_role_names"]
    ocr, redis = _role_statements(iam, roles["ocr"]), _role_statements(iam, roles["redis"])
    assert allowed(redis, "ssm:PutParameter", ca_arn) and allowed(redis, "ssm:GetParameter", ca_arn)
    for arn in [*secrets.values(), ca_arn.replace("redis-tls-ca", "other-parameter")]:
        assert not allowed(redis, "ssm:PutParameter", arn), f"the Redis role may overwrite {arn}"
    assert not allowed(redis, "ssm:DeleteParameter", ca_arn)
    assert allowed(ocr, "ssm:GetParameter", ca_arn)
    assert not allowed(ocr, "ssm:PutParameter", ca_arn), "an OCR instance could replace the CA it trusts"
    for own_tls in ("redis-tls-key", "redis-tls-cert"):
        assert not allowed(ocr, "ssm:GetParameter", ca_arn.replace("redis-tls-ca", own_tls))


def test_published_ca_survives_the_next_plan(stack, aws_client):
    """What the Redis instance does at first boot (a PEM overwrites the placeholder) is no drift:
    the next plan leaves the parameter alone instead of putting the placeholder back."""
    tf, _, _ = stack
    pem = "-----BEGIN CERTIFICATE-----\nMIIB-not-a-real-certificate\n-----END CERTIFICATE-----"
    aws_client("ssm").put_parameter(Name=REDIS_CA, Value=pem, Type="String", Overwrite=True)
    again = tf.plan()
    assert again.actions()["module.redis.aws_ssm_parameter.tls_ca[0]"] == ["no-op"]
    assert aws_client("ssm").get_parameter(Name=REDIS_CA)["Parameter"]["Value"] == pem

"""Check kind 3: plan deploy/ against moto_server with plan-JSON assertions, then ONE apply per session
(module-scoped), boto3 checks on what it built, and destroy at teardown (also when a check fails)."""

from __future__ import annotations

import base64
import time

import pytest
from project_stacks import DEPLOY_DIR, DEPLOY_VARS, register_images

import infracheck as ic

NAME = "ocr-service-prod"  # deploy/'s "${var.name}-${var.environment}" with the defaults
SECRETS = [DEPLOY_VARS["mongo_connection_string"], DEPLOY_VARS["redis_password"]]


@pytest.fixture(scope="module")
def stack(module_terraform, aws_emulator):
    """deploy/ planned and applied once; destroyed by the plugin when the module's tests are done."""
    aws_emulator.reset()
    register_images(aws_emulator.client("ec2"))
    tf = module_terraform(DEPLOY_DIR, DEPLOY_VARS)
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
    assert group.body["health_check_type"] == "ELB", group.where
    ic.assert_health_check_path(plan, "/health")


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
    parameters = plan.resources("aws_ssm_parameter")
    assert len(parameters) == 2 and all(p.body["type"] == "SecureString" for p in parameters)
    for res in plan.resources("aws_launch_template", "aws_instance"):
        user_data = str(res.body.get("user_data") or "")
        for secret in SECRETS:
            assert secret not in user_data, f"{res.where}: {res.address} carries a secret in its user data"


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
    assert action["Type"] == "forward" and action["TargetGroupArn"] == outputs["target_group_arn"]
    (group,) = elb.describe_target_groups(TargetGroupArns=[outputs["target_group_arn"]])["TargetGroups"]
    assert group["HealthCheckPath"] == "/health" and group["Port"] == 8000 and group["HealthCheckEnabled"]
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
    assert group["HealthCheckType"] == "ELB" and outputs["target_group_arn"] in group["TargetGroupARNs"]
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
    assert open_ports == {80}, f"load balancer open to the internet on {open_ports}"
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
        "redis-cpu",
        "redis-status-check",
        "redis-auto-recovery",
    ):
        assert f"{NAME}-{suffix}" in alarms, f"alarm {NAME}-{suffix} missing; have {sorted(alarms)}"
    recover = alarms[f"{NAME}-redis-auto-recovery"]
    assert any(":automate:" in action and action.endswith(":ec2:recover") for action in recover["AlarmActions"])


def test_ssm_parameters_hold_the_secrets(outputs, aws_client):
    ssm = aws_client("ssm")
    names = outputs["ssm_parameter_names"]
    names = list(names.values()) if isinstance(names, dict) else names
    values = {ssm.get_parameter(Name=n, WithDecryption=True)["Parameter"]["Value"] for n in names}
    assert values == set(SECRETS)

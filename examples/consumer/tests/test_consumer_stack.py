"""A consumer's tests for its stack, written only against the installed pytest-infracheck plugin:
parse checks, validate, plan assertions, one apply against moto_server, boto3 checks, destroy."""

from __future__ import annotations

from pathlib import Path

import pytest

import infracheck as ic

STACK = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ami_id(aws_emulator):
    """An image for the launch template: registered in the emulator, as a Packer build would."""
    image = aws_emulator.client("ec2").register_image(
        Name="consumer-service",
        RootDeviceName="/dev/xvda",
        Architecture="x86_64",
        VirtualizationType="hvm",
        BlockDeviceMappings=[{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8}}],
    )
    return image["ImageId"]


@pytest.fixture(scope="module")
def applied(module_terraform, ami_id):
    """The stack planned and applied once for this module; the plugin destroys it afterwards."""
    tf = module_terraform(STACK, variables={"ami_id": ami_id, "tags": {"Team": "consumers"}})
    plan = tf.init_and_plan()
    tf.apply()
    return tf, plan


def test_hcl_references_resolve_and_modules_get_their_inputs():
    stack = ic.load_stack(STACK)
    stack.check()  # unresolved references and missing module inputs, with file and line
    assert set(stack.modules) == {"alb", "asg"}
    assert not stack.variable_problems()


def test_validate(terraform):
    tf = terraform(STACK, emulator=False)
    tf.init()
    assert tf.validate()["valid"]


def test_plan_invariants(applied):
    _, plan = applied
    ic.assert_health_check_path(plan, "/health")
    ic.assert_imdsv2_required(plan)
    ic.assert_volumes_encrypted(plan)
    ic.assert_no_open_ingress(plan, [22, 8080])
    ic.assert_ingress_only_from(
        plan, 8080, "module.alb.security_group_id", security_group="module.asg.aws_security_group.service"
    )
    ic.assert_tags_present(plan, ["Team"], types=["aws_lb", "aws_launch_template", "aws_vpc"])
    (group,) = plan.resources("aws_autoscaling_group")
    assert (group.body["min_size"], group.body["desired_capacity"]) == (1, 1)


def test_load_balancer_forwards_to_healthy_instances(applied, aws_client):
    tf, _ = applied
    elb = aws_client("elbv2")
    (target_group,) = elb.describe_target_groups(TargetGroupArns=[tf.output("target_group_arn")])["TargetGroups"]
    assert target_group["HealthCheckPath"] == "/health" and target_group["Port"] == 8080
    (lb_arn,) = target_group["LoadBalancerArns"]
    (listener,) = elb.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    assert listener["Port"] == 80 and listener["DefaultActions"][0]["TargetGroupArn"] == target_group["TargetGroupArn"]


def test_instances_in_service_behind_the_alb_group(applied, aws_client):
    tf, _ = applied
    autoscaling = aws_client("autoscaling")

    def group():
        (found,) = autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[tf.output("autoscaling_group_name")]
        )["AutoScalingGroups"]
        return found

    in_service = ic.retry(
        group, timeout=60, interval=2, until=lambda g: any(i["LifecycleState"] == "InService" for i in g["Instances"])
    )
    assert [i["LifecycleState"] for i in in_service["Instances"]] == ["InService"]
    rules = aws_client("ec2").describe_security_group_rules(
        Filters=[{"Name": "group-id", "Values": [tf.output("service_security_group_id")]}]
    )["SecurityGroupRules"]
    ingress = [r for r in rules if not r["IsEgress"]]
    assert [(r["FromPort"], r["ReferencedGroupInfo"]["GroupId"]) for r in ingress] == [
        (8080, tf.output("alb_security_group_id"))
    ]

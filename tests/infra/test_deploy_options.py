"""deploy/ planned (not applied) against moto_server on its other paths: plain HTTP allowed for a
trial, a given KMS key, secrets created out of band, CPU scaling. With the key given, the instance
roles' policies are known at plan time: least privilege is proven on the plan's IAM policy JSON."""

from __future__ import annotations

import base64
import json

import pytest
from project_stacks import DEPLOY_DIR, DEPLOY_VARS, SECRETS, register_images

from tests.support.iam import allowed, statements

PREFIX = "/ocr-service/prod"
REDIS_CA = f"{PREFIX}/redis-tls-ca"  # public: Redis publishes it, the OCR instances read it
# The deployment's own Redis certificate, kept in SSM out of band: Redis's alone.
REDIS_TLS = {"REDIS_TLS_CERT": f"{PREFIX}/redis-tls-cert", "REDIS_TLS_KEY": f"{PREFIX}/redis-tls-key",
             "REDIS_TLS_CA": f"{PREFIX}/redis-tls-own-ca"}
OWN = {
    "ocr": [f"{PREFIX}/mongo-connection-string", f"{PREFIX}/redis-password", f"{PREFIX}/api-key", REDIS_CA],
    "redis": [f"{PREFIX}/redis-password", *REDIS_TLS.values(), REDIS_CA],
}
ALL = sorted({name for names in OWN.values() for name in names})


@pytest.fixture(scope="module")
def options(module_terraform, aws_emulator):
    register_images(aws_emulator.client("ec2"))
    key_arn = aws_emulator.client("kms").create_key(Description="given key")["KeyMetadata"]["Arn"]
    variables = {
        k: v for k, v in DEPLOY_VARS.items() if k not in ("mongo_connection_string", "redis_password", "api_key")
    }
    variables |= {
        "allow_plain_http": True,
        "ssm_kms_key_id": key_arn,
        "manage_secrets": False,
        "scaling_metric": "cpu",
        "redis_tls_ssm_parameter_names": REDIS_TLS,
    }
    tf = module_terraform(DEPLOY_DIR, variables)
    tf.init()
    return tf.plan(), key_arn, aws_emulator


def _parameter_arn(emulator, name: str) -> str:
    return f"arn:aws:ssm:{emulator.region}:123456789012:parameter{name}"


def _role_policy(plan, module: str) -> list[dict]:
    """The statements of the module's inline role policies (parameters, metric namespaces)."""
    policies = [r for r in plan.resources("aws_iam_role_policy") if r.address.startswith(f"module.{module}.")]
    assert policies, f"module.{module} has no inline role policy"
    for policy in policies:
        assert policy.body["policy"].startswith("{"), f"{policy.address}: policy unknown at plan time"
    return statements(*(json.loads(p.body["policy"]) for p in policies))


def test_plain_http_only_when_allowed(options):
    plan, _, _ = options
    listeners = {r.address: r.body for r in plan.resources("aws_lb_listener")}
    assert list(listeners) == ["module.alb.aws_lb_listener.http"], listeners
    assert listeners["module.alb.aws_lb_listener.http"]["default_action"][0]["type"] == "forward"


def test_secrets_out_of_band_stay_out_of_the_plan(options):
    plan, _, _ = options
    created = [p.body["name"] for p in plan.resources("aws_ssm_parameter")]
    assert created == [REDIS_CA], "manage_secrets = false must create no parameter but the public CA's"
    raw = json.dumps(plan.raw)
    assert not [s for s in SECRETS if s in raw]
    assert plan.resources("aws_kms_key") == [], "a given key: no key of the stack's own"


@pytest.mark.parametrize("role", ["ocr", "redis"])
def test_each_role_reads_only_its_own_parameters(options, role):
    plan, key_arn, emulator = options
    policy = _role_policy(plan, "asg" if role == "ocr" else "redis")
    for name in OWN[role]:
        assert allowed(policy, "ssm:GetParameter", _parameter_arn(emulator, name)), f"{role} cannot read {name}"
    others = [n for n in ALL if n not in OWN[role]] + ["/other-stack/prod/api-key", "/AmazonCloudWatch-linux"]
    for name in others:
        assert not allowed(policy, "ssm:GetParameter", _parameter_arn(emulator, name)), f"{role} reads {name}"
        # The explicit Deny outranks what a managed policy (Session Manager, CloudWatch agent) may allow.
        deny = [s for s in policy if s["Effect"] == "Deny"]
        assert not allowed(
            deny + [{"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}],
            "ssm:GetParameter",
            _parameter_arn(emulator, name),
        )
    assert not allowed(policy, "ssm:GetParametersByPath", _parameter_arn(emulator, PREFIX))
    assert allowed(policy, "kms:Decrypt", key_arn)
    assert [s["Resource"] for s in policy if "kms:Decrypt" in s["Action"]] in ([key_arn], [[key_arn]])


@pytest.mark.parametrize("role", ["ocr", "redis"])
def test_only_the_redis_role_writes_and_only_the_ca(options, role):
    plan, _, emulator = options
    policy = _role_policy(plan, "asg" if role == "ocr" else "redis")
    ca = _parameter_arn(emulator, REDIS_CA)
    assert allowed(policy, "ssm:PutParameter", ca) == (role == "redis")
    for name in [n for n in ALL if n != REDIS_CA] + ["/other-stack/prod/redis-tls-ca"]:
        arn = _parameter_arn(emulator, name)
        for action in ("ssm:PutParameter", "ssm:DeleteParameter", "ssm:LabelParameterVersion"):
            assert not allowed(policy, action, arn), f"{role} may {action} {name}"
            # Explicitly denied: no managed policy attached later can allow it.
            deny = [s for s in policy if s["Effect"] == "Deny"]
            assert not allowed(deny + [{"Effect": "Allow", "Action": "ssm:*", "Resource": "*"}], action, arn)


def test_redis_tls_material_from_ssm_reaches_redis_alone(options):
    """The deployment's own certificate: named in Redis's user data for redis-tls-setup (the OCR
    role may not read it: test_each_role_reads_only_its_own_parameters)."""
    plan, _, _ = options
    (redis,) = plan.resources("aws_instance")
    redis_data = base64.b64decode(redis.body["user_data_base64"]).decode()
    for variable, name in REDIS_TLS.items():
        assert f"{variable}={name}\n" in redis_data
    (ca,) = plan.resources("aws_ssm_parameter")
    assert ca.address == "module.redis.aws_ssm_parameter.tls_ca[0]"
    assert (ca.body["type"], ca.body["name"]) == ("String", REDIS_CA)


def test_redis_role_cannot_read_the_mongodb_uri(options):
    plan, _, emulator = options
    uri = _parameter_arn(emulator, f"{PREFIX}/mongo-connection-string")
    assert allowed(_role_policy(plan, "asg"), "ssm:GetParameter", uri)
    assert not allowed(_role_policy(plan, "redis"), "ssm:GetParameter", uri)


def test_no_session_manager_policy(options):
    plan, _, _ = options
    attached = [r.body["policy_arn"] for r in plan.resources("aws_iam_role_policy_attachment")]
    assert len(attached) == 2 and all(a.endswith("/CloudWatchAgentServerPolicy") for a in attached), attached


def test_cpu_scaling_is_still_available(options):
    plan, _, _ = options
    (policy,) = plan.resources("aws_autoscaling_policy")
    assert policy.address == "module.asg.aws_autoscaling_policy.cpu[0]"
    (config,) = policy.body["target_tracking_configuration"]
    assert config["predefined_metric_specification"][0]["predefined_metric_type"] == "ASGAverageCPUUtilization"
    assert config["target_value"] == 60

"""Breaking an invariant in a copy of the stack makes the checks fail with messages that name the
file and the resource (opening 6379 to 0.0.0.0/0 makes a test fail), and deploy/ refuses insecure
inputs at plan with a message naming the variable."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from project_stacks import DEPLOY_DIR, DEPLOY_VARS, register_images

import infracheck as ic

REDIS_RULE = "aws_vpc_security_group_ingress_rule.redis_from_service"


def _edit(path: Path, pattern: str, replacement: str) -> int:
    """Apply one regex edit; returns the (1-based) line where it landed."""
    text = path.read_text()
    match = re.search(pattern, text, re.M)
    assert match, f"{path}: the stack changed, cannot find {pattern!r} to break"
    path.write_text(text[: match.start()] + replacement + text[match.end() :])
    return text.count("\n", 0, match.start()) + 1


@pytest.fixture
def broken(tmp_path) -> dict:
    """A copy of deploy/ + modules/ with Redis open to the internet and a required module input dropped."""
    deploy = ic.working_copy(DEPLOY_DIR, tmp_path)
    redis_main = tmp_path / "modules/redis/main.tf"
    _edit(redis_main, r"referenced_security_group_id\s*=\s*var\.client_security_group_id", 'cidr_ipv4 = "0.0.0.0/0"')
    header = ic.load_stack(tmp_path / "modules/redis").resources[REDIS_RULE].line
    deploy_main = deploy / "main.tf"
    call_line = ic.load_stack(deploy).modules["redis"].line
    _edit(deploy_main, r"^\s*client_security_group_id\s*=.*\n", "")
    return {
        "deploy": deploy,
        "redis_main": redis_main,
        "rule_line": header,
        "deploy_main": deploy_main,
        "call_line": call_line,
    }


def test_open_redis_port_is_named_by_file_and_resource(broken):
    redis = ic.load_stack(broken["redis_main"].parent)
    with pytest.raises(AssertionError) as failure:
        ic.assert_ingress_only_from(redis, 6379, "var.client_security_group_id")
    message = str(failure.value)
    assert (
        f"{broken['redis_main']}:{broken['rule_line']}: {REDIS_RULE}: ports 6379-6379/tcp open to CIDR 0.0.0.0/0"
        in message
    )
    # Through deploy/, the same rule is named with its module address.
    everything = ic.resources(ic.load_stack(broken["deploy"]), recursive=True)
    problems = [str(p) for p in ic.open_ingress_problems(everything, [22, 6379])]
    assert problems == [
        f"{broken['redis_main']}:{broken['rule_line']}: module.redis.{REDIS_RULE}: "
        "ports 6379-6379/tcp open to 0.0.0.0/0 (covers port 6379)"
    ]


def test_missing_module_input_is_named_by_file_and_module(broken):
    deploy = ic.load_stack(broken["deploy"])
    problems = [str(p) for p in deploy.module_input_problems()]
    assert len(problems) == 1
    assert problems[0].startswith(
        f"{broken['deploy_main']}:{broken['call_line']}: module.redis: required input 'client_security_group_id' of "
    )
    # The redis module no longer uses var.client_security_group_id, but still declares it: resolution is fine.
    assert deploy.unresolved() == []


def test_unresolved_reference_is_named_by_file_and_line(broken):
    line = _edit(broken["deploy_main"], r"module\.vpc\.vpc_id", "module.network.vpc_id")
    problems = [str(p) for p in ic.load_stack(broken["deploy"]).unresolved()]
    assert any(
        p.startswith(f"{broken['deploy_main']}:{line}: module.")
        and "reference module.network.vpc_id does not resolve" in p
        for p in problems
    ), problems


def test_terraform_validate_names_the_missing_argument(terraform, broken):
    tf = terraform(broken["deploy"], emulator=False)
    tf.init()
    with pytest.raises(ic.TerraformError) as failure:
        tf.validate()
    assert f"main.tf:{broken['call_line']}: error: Missing required argument" in str(failure.value)
    assert '"client_security_group_id" is required' in str(failure.value)


def test_plan_of_open_redis_port_is_named_by_file_and_resource(terraform, aws_emulator, tmp_path_factory):
    """The same breakage caught on the plan JSON, before anything is applied."""
    root = tmp_path_factory.mktemp("open-redis")
    deploy = ic.working_copy(DEPLOY_DIR, root)
    redis_main = root / "modules/redis/main.tf"
    _edit(redis_main, r"referenced_security_group_id\s*=\s*var\.client_security_group_id", 'cidr_ipv4 = "0.0.0.0/0"')
    line = ic.load_stack(root / "modules/redis").resources[REDIS_RULE].line
    register_images(aws_emulator.client("ec2"))
    tf = terraform(deploy, {**DEPLOY_VARS, "allow_plain_http": True})
    tf.init()
    plan = tf.plan()
    with pytest.raises(AssertionError) as failure:
        ic.assert_no_open_ingress(plan, [6379])
    assert f"{redis_main}:{line}: module.redis.{REDIS_RULE}: ports 6379-6379/tcp open to 0.0.0.0/0" in str(
        failure.value
    )
    with pytest.raises(AssertionError, match=rf"module\.redis\.{REDIS_RULE}: .*open to CIDR 0\.0\.0\.0/0"):
        ic.assert_ingress_only_from(plan, 6379, "module.asg.security_group_id")


# ---- secure defaults: refused at plan, with a message naming the variable -------------------------
@pytest.fixture(scope="module")
def deploy_checked(module_terraform, aws_emulator):
    """deploy/ initialised once; each case plans it with other -var values (command-line -var wins over
    the tfvars file). No certificate_arn and no allow_plain_http in the file."""
    register_images(aws_emulator.client("ec2"))
    tf = module_terraform(DEPLOY_DIR)
    tf.init()
    (tf.workdir / "checks.auto.tfvars.json").write_text(json.dumps(DEPLOY_VARS))
    return tf


def _refused(tf, *variables: str) -> str:
    result = tf.run("plan", "-input=false", "-no-color", "-lock=false", *(f"-var={v}" for v in variables), check=False)
    assert result.returncode != 0, f"terraform plan accepted {variables}"
    return re.sub(r"\s*│\s*", " ", result.stderr)


def test_plain_http_without_the_flag_is_refused(deploy_checked):
    message = _refused(deploy_checked)
    assert "on variables.tf line" in message and "var.allow_plain_http" in message, message
    assert "certificate_arn is null" in message and "allow_plain_http = true" in message, message


@pytest.mark.parametrize(
    "uri",
    [
        "mongodb://ocr:pw@db.example.net:27017/ocr",
        "mongodb://ocr:pw@db.example.net:27017/ocr?retryWrites=true&tls=false",
        "mongodb+srv://ocr:pw@cluster.example.net/ocr?tls=false",
    ],
    ids=["no-tls", "tls-false", "srv-tls-false"],
)
def test_mongodb_uri_without_tls_is_refused(deploy_checked, uri):
    message = _refused(deploy_checked, "allow_plain_http=true", f"mongo_connection_string={uri}")
    assert "Resource precondition failed" in message and "mongo_connection_string must ask for TLS" in message, message
    assert "pw@" not in message, "the refusal prints the URI's credentials"


def test_short_secrets_are_refused_without_printing_them(deploy_checked):
    message = _refused(deploy_checked, "allow_plain_http=true", "redis_password=short-pw-12", "api_key=short-key-34")
    assert "redis_password must be at least 16 characters" in message and "api_key must be at least 32" in message
    assert "short-pw-12" not in message and "short-key-34" not in message, message


def test_mongodb_egress_to_the_internet_is_refused(deploy_checked):
    message = _refused(deploy_checked, "allow_plain_http=true", 'mongo_cidr_blocks=["0.0.0.0/0"]')
    assert "var.mongo_cidr_blocks" in message and "not 0.0.0.0/0" in message, message

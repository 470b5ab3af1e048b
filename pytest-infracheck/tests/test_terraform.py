"""The emulator and terraform fixtures: a real apply of a tiny stack against moto_server."""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

import infracheck as ic

pytest_plugins = ["pytester"]


def test_plan_apply_and_boto3(terraform, aws_client, stacks):
    tf = terraform(stacks / "root")
    tf.init()
    assert tf.validate()["valid"]
    plan = tf.plan()
    assert sorted(plan.addresses()) == [
        "module.web.aws_security_group.client",
        "module.web.aws_security_group.web",
        "module.web.aws_vpc.this",
        "module.web.aws_vpc_security_group_ingress_rule.web_from_client",
    ]
    # Unknown ids are replaced by their references, so group identity is checked before apply.
    ic.assert_ingress_only_from(plan, 8080, "aws_security_group.client")
    with pytest.raises(AssertionError, match=r"web_sg/main.tf:45: module.web.aws_vpc_security_group_ingress_rule"):
        ic.assert_ingress_only_from(plan, 8080, "aws_security_group.web")
    ic.assert_tags_present(plan, ["Project"], types=["aws_vpc"])
    tf.apply()
    web, client = tf.output("web_security_group_id"), tf.output("client_security_group_id")
    rules = aws_client("ec2").describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [web]}])[
        "SecurityGroupRules"
    ]
    ingress = [r for r in rules if not r["IsEgress"]]
    assert [(r["FromPort"], r["ReferencedGroupInfo"]["GroupId"]) for r in ingress] == [(8080, client)]
    # The provider override targets the emulator's region, whatever the stack's default says.
    assert aws_client("ec2").meta.region_name == "us-east-1"


def test_validate_failure_names_file_and_line(terraform, stacks):
    tf = terraform(stacks / "broken", emulator=False)
    tf.init()
    with pytest.raises(
        ic.TerraformError, match=r"main.tf:24: error: Missing required argument: The argument \"name\" is required"
    ):
        tf.validate()


def test_working_copy_keeps_relative_module_sources(tmp_path, stacks):
    copied = ic.working_copy(stacks / "root", tmp_path)
    assert copied == tmp_path / "root"
    assert (tmp_path / "modules/web_sg/main.tf").is_file()
    assert ic.load_stack(copied).module("web").path.resolve() == (tmp_path / "modules/web_sg").resolve()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        # A zombie is gone for our purposes; /proc tells.
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


def test_failing_test_still_destroys_and_leaves_nothing(pytester, stacks):
    """Terratest's `defer terraform.Destroy`: a test failing after apply still gets its resources destroyed,
    and neither moto, terraform nor temp state outlive the session."""
    record = pytester.path / "record.json"
    pytester.makeconftest(
        textwrap.dedent(f"""
        import json, os, pytest

        @pytest.fixture(scope="session")
        def survivors(aws_emulator):
            # Torn down after the test's terraform factory and before the emulator: sees what destroy left.
            yield
            vpcs = aws_emulator.client("ec2").describe_vpcs(
                Filters=[{{"Name": "tag:Project", "Values": ["infracheck-selftest"]}}])["Vpcs"]
            data = json.load(open({str(record)!r}))
            data["vpcs_after_teardown"] = len(vpcs)
            json.dump(data, open({str(record)!r}, "w"))
    """)
    )
    pytester.makepyfile(
        test_inner=textwrap.dedent(f"""
        import json, os

        def test_applies_then_fails(survivors, aws_emulator, terraform_env, terraform):
            tf = terraform({str(stacks / "root")!r})
            tf.init()
            tf.apply()
            json.dump({{"moto_pid": aws_emulator.process.pid, "workdir": str(tf.workdir),
                       "base": terraform_env["INFRACHECK_BASE"],
                       "vpcs_applied": len(aws_emulator.client("ec2").describe_vpcs(
                           Filters=[{{"Name": "tag:Project", "Values": ["infracheck-selftest"]}}])["Vpcs"])}},
                      open({str(record)!r}, "w"))
            assert False, "deliberate failure after apply"
    """)
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:timeout")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*deliberate failure after apply*"])
    data = json.loads(record.read_text())
    assert data["vpcs_applied"] == 1
    assert data["vpcs_after_teardown"] == 0, "destroy did not run after the failing test"
    assert not _alive(data["moto_pid"]), "moto_server outlived the session"
    assert not os.path.exists(data["workdir"]) and not os.path.exists(data["base"]), "temp state left behind"
    leftovers = subprocess.run(["pgrep", "-f", data["base"]], capture_output=True, text=True).stdout.split()
    assert leftovers == [], f"processes still running in {data['base']}: {leftovers}"


def test_timeout_stops_the_whole_process_group(tmp_path):
    # A stand-in that never ends, with a child that ignores SIGINT (a background job of sh):
    # the runner interrupts, then kills the whole group after the grace period.
    script = tmp_path / "hang"
    script.write_text("#!/bin/sh\nsleep 300 &\nwait\n")
    script.chmod(0o755)
    tf = ic.Terraform(tmp_path, binary=str(script), timeout=1, interrupt_grace=1)
    with pytest.raises(ic.TerraformError, match="timed out after 1s"):
        tf.run("apply")
    leftovers = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True).stdout.split()
    assert leftovers == [], f"processes left behind: {leftovers}"


def test_emulator_dies_with_a_killed_session(pytester):
    """pytest killed outright (no teardown at all): moto_server must not run on as an orphan."""
    record = pytester.path / "pid"
    pytester.makepyfile(
        test_inner=textwrap.dedent(f"""
        import time

        def test_hangs(aws_emulator):
            open({str(record)!r}, "w").write(str(aws_emulator.process.pid))
            time.sleep(120)
    """)
    )
    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:timeout"],
        cwd=pytester.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            if record.exists() and record.read_text():
                break
            time.sleep(0.1)
        moto_pid = int(record.read_text())
        assert _alive(moto_pid)
    finally:
        inner.kill()
        inner.wait()
    for _ in range(100):
        if not _alive(moto_pid):
            break
        time.sleep(0.1)
    assert not _alive(moto_pid), "moto_server outlived a killed session"

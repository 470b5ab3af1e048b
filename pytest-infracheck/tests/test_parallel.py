"""pytest-xdist: one emulator per worker, module-scoped applies once per module with --dist loadscope,
and `.tftest.hcl` run blocks as items in the same run."""

import json
import shutil
import textwrap

import pytest

pytest.importorskip("xdist")

pytest_plugins = ["pytester"]

TFTEST = """
variables {
  name = "ic-tftest"
}

run "plans_the_name" {
  command = plan
  assert {
    condition     = aws_s3_bucket.this.bucket == "ic-tftest"
    error_message = "wrong bucket name"
  }
}

run "fails_on_purpose" {
  command = plan
  assert {
    condition     = aws_s3_bucket.this.bucket == "something-else"
    error_message = "deliberate failure: the bucket is ${aws_s3_bucket.this.bucket}"
  }
}
"""

MODULE = """
import json, os
import pytest
import infracheck as ic


STACK = {stack!r}


@pytest.fixture(scope="module")
def planned(module_terraform):
    # A plan, not an apply: what matters here is that module scope holds per module under loadscope.
    name = "ic-" + ic.unique_id()
    plan = module_terraform(STACK, variables={{"name": name}}).init_and_plan()
    with open({record!r}, "a") as out:
        out.write(json.dumps({{"event": "setup", "module": __name__}}) + "\\n")
    return name, plan


@pytest.mark.parametrize("n", [1, 2])
def test_bucket(planned, aws_emulator, n):
    name, plan = planned
    assert plan.resources("aws_s3_bucket")[0].body["bucket"] == name
    aws_emulator.client("s3").create_bucket(Bucket=f"{{name}}-{{n}}")  # this worker's emulator answers
    with open({record!r}, "a") as out:
        out.write(json.dumps({{"event": "test", "module": __name__,
                               "worker": os.environ.get("PYTEST_XDIST_WORKER"), "port": aws_emulator.port}}) + "\\n")
"""


@pytest.mark.timeout(1500)
def test_two_workers_loadscope_and_tftest(pytester, stacks):
    stack = pytester.path / "bucket"
    shutil.copytree(stacks / "bucket", stack)
    (stack / "tests").mkdir()
    (stack / "tests" / "bucket.tftest.hcl").write_text(TFTEST)
    record = pytester.path / "record.jsonl"
    for name in ("test_first", "test_second"):
        pytester.makepyfile(**{name: textwrap.dedent(MODULE.format(stack=str(stack), record=str(record)))})
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--dist", "loadscope", "test_first.py", "test_second.py", "bucket"
    )
    # 4 Python tests and the passing run block pass; the deliberate assertion fails with its message.
    result.assert_outcomes(passed=5, failed=1)
    result.stdout.fnmatch_lines(["*run 'fails_on_purpose': fail*", "*deliberate failure: the bucket is ic-tftest*"])
    events = [json.loads(line) for line in record.read_text().splitlines()]
    setups = [e["module"] for e in events if e["event"] == "setup"]
    assert sorted(setups) == ["test_first", "test_second"], "a module-scoped fixture ran more than once per module"
    ports = {}
    for event in (e for e in events if e["event"] == "test"):
        ports.setdefault(event["worker"], set()).add(event["port"])
    assert all(len(p) == 1 for p in ports.values()), f"a worker used more than one emulator: {ports}"
    per_worker = [next(iter(p)) for p in ports.values()]
    assert len(per_worker) == len(set(per_worker)), f"workers shared an emulator port: {ports}"

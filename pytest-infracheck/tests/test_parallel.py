"""pytest-xdist: one emulator per worker, module-scoped applies once per module with --dist loadscope,
and `.tftest.hcl` run blocks as items in the same run."""

import json
import shutil
import textwrap

import pytest

pytest.importorskip("xdist")

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

run "applies" {
  assert {
    condition     = output.bucket == "ic-tftest"
    error_message = "wrong output"
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

pytest_plugins = ["pytester"]

STACK = {stack!r}


@pytest.fixture(scope="module")
def applied(module_terraform):
    tf = module_terraform(STACK, variables={{"name": "ic-" + ic.unique_id()}})
    tf.init_and_apply()
    with open({record!r}, "a") as out:
        out.write(json.dumps({{"event": "apply", "module": __name__}}) + "\\n")
    return tf


@pytest.mark.parametrize("n", [1, 2])
def test_bucket(applied, aws_emulator, n):
    names = [b["Name"] for b in aws_emulator.client("s3").list_buckets()["Buckets"]]
    assert applied.output("bucket") in names
    with open({record!r}, "a") as out:
        out.write(json.dumps({{"event": "test", "module": __name__,
                               "worker": os.environ.get("PYTEST_XDIST_WORKER"), "port": aws_emulator.port}}) + "\\n")
"""


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
    # 4 Python tests and the 2 passing run blocks pass; the deliberate assertion fails with its message.
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines(["*run 'fails_on_purpose': fail*", "*deliberate failure: the bucket is ic-tftest*"])
    events = [json.loads(line) for line in record.read_text().splitlines()]
    applies = [e["module"] for e in events if e["event"] == "apply"]
    assert sorted(applies) == ["test_first", "test_second"], "a module-scoped apply ran more than once per module"
    ports = {}
    for event in (e for e in events if e["event"] == "test"):
        ports.setdefault(event["worker"], set()).add(event["port"])
    assert all(len(p) == 1 for p in ports.values()), f"a worker used more than one emulator: {ports}"
    per_worker = [next(iter(p)) for p in ports.values()]
    assert len(per_worker) == len(set(per_worker)), f"workers shared an emulator port: {ports}"

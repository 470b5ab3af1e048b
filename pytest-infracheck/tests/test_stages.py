"""--infracheck-keep-applied: the emulator and the applied working copy survive the run, the next run
reuses them, and `python -m infracheck destroy-kept` removes everything."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest_plugins = ["pytester"]

INNER = """
import json
import infracheck as ic


def test_apply(terraform, unique_name, aws_emulator):
    tf = terraform({stack!r}, variables={{"name": unique_name}})
    reused = tf.reused
    tf.init_and_apply()
    names = [b["Name"] for b in aws_emulator.client("s3").list_buckets()["Buckets"]]
    with open({record!r}, "a") as out:
        out.write(json.dumps({{"reused": reused, "name": unique_name, "buckets": names,
                               "port": aws_emulator.port}}) + "\\n")
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


@pytest.mark.timeout(1500)
def test_keep_applied_reuses_and_destroy_kept_cleans_up(pytester, stacks):
    record = pytester.path / "record.jsonl"
    kept = pytester.path / "kept"
    pytester.makepyfile(test_inner=textwrap.dedent(INNER.format(stack=str(stacks / "bucket"), record=str(record))))
    args = ["-p", "no:cacheprovider", "--infracheck-keep-applied", f"--infracheck-kept-dir={kept}"]
    first = pytester.runpytest_subprocess(*args)
    first.assert_outcomes(passed=1)
    first.stdout.fnmatch_lines(["*python -m infracheck destroy-kept*"])
    second = pytester.runpytest_subprocess(*args)
    second.assert_outcomes(passed=1)
    runs = [json.loads(line) for line in record.read_text().splitlines()]
    assert [r["reused"] for r in runs] == [False, True]
    assert runs[0]["name"] == runs[1]["name"] and runs[0]["port"] == runs[1]["port"]
    assert runs[1]["buckets"] == [runs[0]["name"]]  # updated in place, not created twice
    pid = json.loads((kept / "emulator.json").read_text())["pid"]
    assert _alive(pid)
    done = subprocess.run(
        [sys.executable, "-m", "infracheck", "destroy-kept", str(kept)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "destroyed" in done.stdout and not kept.exists()
    for _ in range(50):
        if not _alive(pid):
            break
        subprocess.run(["sleep", "0.1"])
    assert not _alive(pid), "the kept emulator is still running"

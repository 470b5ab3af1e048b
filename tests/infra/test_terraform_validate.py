"""Check kind 2: `terraform fmt -check -recursive`, then init (local provider mirror) and validate
for every module and deploy/."""

from __future__ import annotations

import subprocess

import pytest
from project_stacks import REPO, STACK_DIRS

IDS = [d.relative_to(REPO).as_posix() for d in STACK_DIRS]


def test_fmt_check_recursive():
    # -check only reads: nothing in the tree is rewritten.
    dirs = [d for d in ("modules", "deploy", "examples") if (REPO / d).is_dir()]
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-list=true", *dirs], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 0, f"terraform fmt -check: unformatted files:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("stack_dir", STACK_DIRS, ids=IDS)
def test_init_and_validate(terraform, stack_dir):
    tf = terraform(stack_dir, emulator=False)
    tf.init()
    report = tf.validate()
    assert report["valid"] and report["error_count"] == 0
    warnings = [d for d in report.get("diagnostics", []) if d.get("severity") == "warning"]
    assert not warnings, f"{stack_dir}: validate warnings: {warnings}"

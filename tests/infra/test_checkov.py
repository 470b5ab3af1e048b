"""Check kind 4: checkov (from its own virtualenv, .venv-checkov) over modules/ and deploy/:
no failed check, and every skip is an inline `#checkov:skip=ID:reason` comment that the docs list."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from project_stacks import DEPLOY_DIR, MODULES_DIR, REPO

CHECKOV = Path(os.environ.get("CHECKOV_BIN", REPO / ".venv-checkov" / "bin" / "checkov"))
SCANNED = [MODULES_DIR, DEPLOY_DIR]
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


@pytest.fixture(scope="module", params=SCANNED, ids=lambda d: d.name)
def checkov_report(request) -> dict:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} missing: `make test-infra` creates .venv-checkov (or set CHECKOV_BIN)")
    # --skip-download: offline, no Bridgecrew guidelines; without --quiet the JSON keeps the skipped checks.
    result = subprocess.run(
        [str(CHECKOV), "-d", str(request.param), "--framework", "terraform", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode in (0, 1), f"checkov crashed ({result.returncode}):\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    assert reports and all(r.get("check_type") == "terraform" for r in reports), result.stdout[:500]
    return {"dir": request.param, "results": reports[0]["results"], "summary": reports[0]["summary"]}


def test_no_failed_checks(checkov_report):
    summary, results = checkov_report["summary"], checkov_report["results"]
    assert summary["parsing_errors"] == 0, f"checkov could not parse: {results.get('parsing_errors')}"
    assert summary["passed"] > 0 and summary["resource_count"] > 0, "checkov scanned nothing"
    failed = [
        f"{c['file_abs_path']}:{c['file_line_range'][0]}: {c['resource']}: {c['check_id']} {c['check_name']}"
        for c in results.get("failed_checks", [])
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)


def test_every_skip_is_an_inline_comment_with_a_reason(checkov_report):
    docs = (REPO / "docs" / "terraform.md").read_text() if (REPO / "docs" / "terraform.md").exists() else ""
    problems = []
    for check in checkov_report["results"].get("skipped_checks", []):
        path = Path(check["file_abs_path"])
        first, last = check["file_line_range"]
        lines = path.read_text().splitlines()[first - 1 : last]
        comments = {m.group(1): (m.group(2) or "").strip() for m in map(SKIP_COMMENT.search, lines) if m}
        where = f"{path}:{first}: {check['resource']}: {check['check_id']}"
        if check["check_id"] not in comments:
            problems.append(f"{where} is skipped but not by an inline checkov:skip comment in the resource")
        elif len(comments[check["check_id"]]) < 10:
            problems.append(f"{where}: the skip comment gives no reason")
        readme = path.parent / "README.md"
        listed = docs + (readme.read_text() if readme.exists() else "")
        if check["check_id"] not in listed:
            problems.append(f"{where}: the skip is not listed in {readme} or docs/terraform.md")
    assert not problems, "\n".join(problems)


def test_no_checkov_config_hides_checks():
    configs = [p for d in (REPO, *SCANNED) for p in d.glob(".checkov.y*ml")]
    assert not configs, f"checks must be skipped inline, not by a config file: {configs}"

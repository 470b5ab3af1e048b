"""Issue 8's acceptance: in a fresh virtualenv holding ONLY the pytest-infracheck package,
`pytest examples/consumer/tests` passes (validate, plan assertions, apply against moto, boto3, destroy).

The run starts in the background when the session starts (conftest.py) so that its ~90 s apply
overlaps the other checks; this test waits for it and reads its verdict.
"""

from __future__ import annotations

import re

from consumer_run import wait


def test_consumer_suite_passes_with_only_the_plugin_installed(consumer_run):
    returncode, output = wait(consumer_run)
    assert returncode == 0, f"pytest examples/consumer/tests failed (exit {returncode}):\n{output[-6000:]}"
    summary = re.search(r"(\d+) passed", output)
    assert summary and int(summary.group(1)) >= 5, output[-3000:]
    assert " failed" not in output.splitlines()[-1] and "error" not in output.splitlines()[-1]


def test_consumer_venv_has_no_service_dependencies(consumer_run):
    wait(consumer_run)
    installed = {
        p.name.split("-")[0].lower().replace("_", "-")
        for p in consumer_run.venv.glob("lib/python3*/site-packages/*.dist-info")
    }
    assert "pytest-infracheck" in installed
    leaked = installed & {"fastapi", "uvicorn", "tesserocr", "pypdfium2", "redis", "pymongo", "ocr-service"}
    assert not leaked, f"the plugin pulled in the service's dependencies: {leaked}"

"""Runs examples/consumer/tests in a virtualenv that holds only the installed plugin (.venv-consumer).

The venv is cached: a stamp holds a digest of the plugin's sources, and it is rebuilt (fresh) when
they change. Everything runs in one background process group, killed if the session ends first.
"""
from __future__ import annotations

import hashlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from project_stacks import REPO

PLUGIN_DIR = REPO / "service" / "infracheck"
CONSUMER_DIR = REPO / "examples" / "consumer"
CONSUMER_VENV = Path(os.environ.get("INFRACHECK_CONSUMER_VENV", REPO / ".venv-consumer"))
TIMEOUT = 540  # below pytest-timeout's 600 s, so a hang reads as this test's failure


def plugin_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted([PLUGIN_DIR / "pyproject.toml", *PLUGIN_DIR.glob("src/infracheck/*.py")]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def start() -> tuple[subprocess.Popen, object]:
    stamp, digest = CONSUMER_VENV / ".infracheck-stamp", plugin_digest()
    venv, steps = shlex.quote(str(CONSUMER_VENV)), []
    if not stamp.exists() or stamp.read_text().strip() != digest:
        # A base interpreter, not this (project) venv's, so nothing of .venv leaks in.
        base = getattr(sys, "_base_executable", sys.executable)
        steps += [f"rm -rf {venv}", f"{shlex.quote(base)} -m venv {venv}",
                  f"{venv}/bin/pip install -q {shlex.quote(str(PLUGIN_DIR))}",
                  f"echo {digest} > {shlex.quote(str(stamp))}"]
    steps.append(f"cd {shlex.quote(str(CONSUMER_DIR))} && {venv}/bin/python -m pytest tests -q -p no:cacheprovider")
    log = tempfile.TemporaryFile(prefix="consumer-run-")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTEST_ADDOPTS")}
    process = subprocess.Popen(["bash", "-c", " && ".join(["set -e", *steps])], stdout=log,
                               stderr=subprocess.STDOUT, env=env, start_new_session=True)
    return process, log


def wait(run) -> tuple[int, str]:
    process, log = run
    try:
        process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        stop(run)
    log.seek(0)
    return process.returncode, log.read().decode(errors="replace")


def stop(run) -> None:
    process, _ = run
    if process.poll() is None:
        # SIGINT first: the consumer's pytest then tears down (destroy, moto stop) like after Ctrl-C.
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

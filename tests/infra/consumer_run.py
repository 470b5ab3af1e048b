"""Runs examples/consumer/tests in a virtualenv that holds only the installed plugin.

The venv is cached under .venv-consumer/<digest of the plugin's sources>/ and built fresh when the
sources change; a lock file serialises builds, and a run never shares a venv that another run could
be rebuilding (engineers share one working tree). Everything runs in one background process group,
interrupted if the session ends first.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from project_stacks import REPO

PLUGIN_DIR = REPO / "pytest-infracheck"
CONSUMER_DIR = REPO / "examples" / "consumer"
CONSUMER_ROOT = Path(os.environ.get("INFRACHECK_CONSUMER_VENV", REPO / ".venv-consumer"))
TIMEOUT = 540  # below pytest-timeout's 600 s, so a hang reads as this test's failure


@dataclass
class Run:
    process: subprocess.Popen
    log: object
    venv: Path


def plugin_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted([PLUGIN_DIR / "pyproject.toml", *PLUGIN_DIR.glob("src/infracheck/*.py")]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def start() -> Run:
    digest = plugin_digest()
    venv = CONSUMER_ROOT / digest
    q = shlex.quote
    # A base interpreter, not this (project) venv's, so nothing of .venv leaks in.
    base = getattr(sys, "_base_executable", sys.executable)
    script = f"""
set -e
mkdir -p {q(str(CONSUMER_ROOT))}
exec 9>{q(str(CONSUMER_ROOT / ".lock"))}
flock 9
if [ ! -f {q(str(venv / ".installed"))} ]; then
  rm -rf {q(str(venv))}
  {q(base)} -m venv {q(str(venv))}
  {q(str(venv / "bin" / "pip"))} install -q {q(str(PLUGIN_DIR))}
  touch {q(str(venv / ".installed"))}
fi
# Venvs of older plugin sources go once nobody is likely to use them any more.
find {q(str(CONSUMER_ROOT))} -mindepth 1 -maxdepth 1 ! -name {digest} ! -name .lock -mmin +30 -exec rm -rf {{}} +
flock -u 9
cd {q(str(CONSUMER_DIR))}
exec {q(str(venv / "bin" / "python"))} -m pytest tests -q -p no:cacheprovider
"""
    log = tempfile.TemporaryFile(prefix="consumer-run-")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTEST_ADDOPTS")}
    # setpriv: if this session is killed outright, the consumer's pytest (exec'd last, so it keeps
    # the death signal) gets SIGINT and tears its stack down instead of running on as an orphan.
    process = subprocess.Popen(
        ["setpriv", "--pdeathsig", "INT", "bash", "-c", script],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    return Run(process, log, venv)


def wait(run: Run) -> tuple[int, str]:
    try:
        run.process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        stop(run)
    run.log.seek(0)
    return run.process.returncode, run.log.read().decode(errors="replace")


def stop(run: Run) -> None:
    if run.process.poll() is None:
        # SIGINT first: the consumer's pytest then tears down (destroy, moto stop) as after Ctrl-C.
        os.killpg(run.process.pid, signal.SIGINT)
        try:
            run.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(run.process.pid, signal.SIGKILL)
            run.process.wait()

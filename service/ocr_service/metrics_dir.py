"""Where the service's processes share their Prometheus samples. Kept apart from `metrics` because it
must run before prometheus-client is imported: the library picks its multiprocess mode on import."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
PREFIX = "ocr-metrics-"  # then the owning process's id


def ensure_multiprocess_dir() -> Callable[[], None]:
    """Set up PROMETHEUS_MULTIPROC_DIR and return what removes it. When it is set already (e.g. one
    directory for `serve` and `worker` on one machine, so one /metrics shows both), it is kept; else a fresh
    temporary directory serves this process and its children (they inherit the variable), removed by the
    returned function or, failing that, at exit (a process ended by a signal runs no exit handlers)."""
    directory = os.environ.get(MULTIPROC_VARIABLE)
    if directory:
        os.makedirs(directory, exist_ok=True)
        return lambda: None
    _remove_leftovers()
    owner = os.getpid()
    directory = tempfile.mkdtemp(prefix=f"{PREFIX}{owner}-")
    os.environ[MULTIPROC_VARIABLE] = directory

    def remove() -> None:
        if os.getpid() == owner:
            shutil.rmtree(directory, ignore_errors=True)

    atexit.register(remove)
    return remove


def _remove_leftovers() -> None:
    """Remove the directories of services that ended without cleaning up: uvicorn re-raises SIGTERM after
    its graceful shutdown, so a stopped server runs no exit handlers."""
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid = path.name.removeprefix(PREFIX).split("-", 1)[0]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass  # alive, another user's

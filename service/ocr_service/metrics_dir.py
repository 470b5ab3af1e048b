"""Where the service's processes share their Prometheus samples. Kept apart from `metrics` because it
must run before prometheus-client is imported: the library picks its multiprocess mode on import."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def ensure_multiprocess_dir() -> str:
    """PROMETHEUS_MULTIPROC_DIR when set (e.g. one directory for `serve` and `worker` on one machine, so one
    /metrics shows both), else a fresh temporary directory for this process and its children (they inherit
    the variable), removed when this process exits."""
    directory = os.environ.get(MULTIPROC_VARIABLE)
    if directory:
        os.makedirs(directory, exist_ok=True)
        return directory
    directory = tempfile.mkdtemp(prefix="ocr-metrics-")
    os.environ[MULTIPROC_VARIABLE] = directory
    owner = os.getpid()
    atexit.register(lambda: os.getpid() == owner and shutil.rmtree(directory, ignore_errors=True))
    return directory

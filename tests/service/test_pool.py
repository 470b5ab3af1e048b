"""The process pools survive children that die or hang, and say so."""

from __future__ import annotations

import os
import time

import pytest

from ocr_service.jobs.pool import Inspector, PoolCrashed, ProcessPool
from ocr_service.pipeline import DocumentError, Limits


@pytest.fixture
def pool():
    pool = ProcessPool(1)
    yield pool
    pool.shutdown()


def test_a_child_that_dies_is_replaced(pool):
    with pytest.raises(PoolCrashed, match="died"):
        pool.call(os._exit, 3, timeout_s=30)
    assert pool.call(abs, -7, timeout_s=30) == 7


def test_a_child_that_hangs_is_killed_and_replaced(pool):
    started = time.monotonic()
    with pytest.raises(PoolCrashed, match="no answer"):
        pool.call(time.sleep, 60, timeout_s=1)
    assert time.monotonic() - started < 30
    assert pool.call(abs, -7, timeout_s=30) == 7


def test_children_leave_when_their_parent_is_killed(tmp_path):
    """A service killed with SIGKILL must not leave OCR processes behind."""
    import subprocess
    import sys

    script = (
        "import os\n"
        "from ocr_service.jobs.pool import ProcessPool\n"
        "pool = ProcessPool(2)\n"
        "print(*{pool.call(os.getpid, timeout_s=60) for _ in range(8)}, flush=True)\n"
        "os._exit(9)  # dies without shutting the pool down, as under SIGKILL\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120).stdout
    children = [int(pid) for pid in output.split()]
    assert children

    def alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().split()[2] != "Z"
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in children), "pool children outlived their parent"


def _crash(path, limits):
    os.abort()  # what a segfault in a native PDF parser looks like from outside


def _hang(path, limits):
    time.sleep(60)


@pytest.mark.parametrize("parse", [_crash, _hang])
def test_inspector_refuses_a_document_that_crashes_or_hangs_the_parser(tmp_path, parse):
    inspector = Inspector(Limits(), timeout_s=2, processes=1, parse=parse)
    try:
        with pytest.raises(DocumentError) as error:
            inspector(tmp_path / "hostile.pdf")
        assert error.value.code == "corrupt_document" and error.value.http_status == 422
        assert "damaged" in error.value.message
    finally:
        inspector.shutdown()


def test_ocr_processes_run_as_background_work():
    """The kernel lets any normal task (the API) preempt an OCR process at once: SCHED_IDLE."""
    from ocr_service.jobs.pool import PagePool

    pool = PagePool(1)
    try:
        assert pool.call(os.sched_getscheduler, 0, timeout_s=60) == os.SCHED_IDLE
    finally:
        pool.shutdown()

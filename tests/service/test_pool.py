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


def _sleep_then_answer(seconds: float) -> str:
    time.sleep(seconds)
    return "finished"


def test_a_child_that_dies_takes_no_other_call_with_it():
    """Two calls in two children: the one whose child dies fails, the other still gets its answer."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ProcessPool(2)
    try:
        assert pool.call(abs, -1, timeout_s=60) == 1  # both children up before the race starts
        with ThreadPoolExecutor(2) as threads:
            slow = threads.submit(pool.call, _sleep_then_answer, 3, timeout_s=60)
            time.sleep(0.5)
            with pytest.raises(PoolCrashed, match="died"):
                pool.call(os._exit, 3, timeout_s=30)
            assert not slow.done(), "the crash waited for the other call (or ended it)"
            assert slow.result() == "finished"
        assert pool.crashes == 1
    finally:
        pool.shutdown()


SECRETS = {"MONGO_CONNECTION_STRING": "mongodb://user:hunter2@db", "REDIS_PASSWORD": "hunter2",
           "API_KEY": "key-hunter2", "AWS_SECRET_ACCESS_KEY": "hunter2"}


def _environment_as_started() -> str:
    with open("/proc/self/environ", "rb") as f:
        return f.read().decode(errors="replace")


def test_children_see_no_secret_and_have_a_memory_cap(monkeypatch):
    import resource

    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    pool = ProcessPool(1, memory_bytes=3 * 1024**3)
    try:
        environment = pool.call(_environment_as_started, timeout_s=60)
        assert "hunter2" not in environment and "MONGO_CONNECTION_STRING" not in environment
        assert "PATH=" in environment
        assert pool.call(resource.getrlimit, resource.RLIMIT_AS, timeout_s=60) == (3 * 1024**3,) * 2
    finally:
        pool.shutdown()


def _allocate(megabytes: int) -> int:
    return len(bytearray(megabytes * 1024 * 1024))


def test_a_child_over_its_memory_cap_fails_its_call_not_the_machine():
    pool = ProcessPool(1, memory_bytes=1024**3)
    try:
        with pytest.raises(MemoryError):
            pool.call(_allocate, 2048, timeout_s=60)
        assert pool.call(_allocate, 10, timeout_s=60) == 10 * 1024 * 1024
    finally:
        pool.shutdown()


def _hang_page(path, number, options, limits):
    time.sleep(60)


def test_a_page_that_hangs_twice_fails_as_ocr_timeout_naming_it(tmp_path):
    from ocr_service.jobs.pool import PagePool
    from ocr_service.pipeline import PageOptions

    pool = PagePool(1, page=_hang_page)
    try:
        with pytest.raises(DocumentError) as error:
            list(pool.run_pages(tmp_path / "doc.pdf", [4], PageOptions(), Limits(), timeout_s=2))
        assert error.value.code == "ocr_timeout" and "Page 4" in error.value.message
        assert pool.crashes == 2  # the page and its one retry, each on a fresh process
    finally:
        pool.shutdown()


def test_shutting_down_mid_call_is_not_charged_to_the_call():
    from concurrent.futures import ThreadPoolExecutor

    from ocr_service.jobs.pool import PoolClosed

    pool = ProcessPool(1)
    with ThreadPoolExecutor(2) as threads:
        running = threads.submit(pool.call, _sleep_then_answer, 30, timeout_s=60)
        waiting = threads.submit(pool.call, abs, -1, timeout_s=60)
        time.sleep(2)
        pool.shutdown()
        for call in (running, waiting):
            with pytest.raises(PoolClosed):
                call.result(timeout=30)
    assert pool.crashes == 0

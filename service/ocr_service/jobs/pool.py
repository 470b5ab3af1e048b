"""Process pools: OCR processes (one per core, each keeping its Tesseract engine loaded across
pages), and a small sandbox that opens uploads so a hostile document can only crash a child."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from ..pipeline import DocumentError, DocumentInfo, Limits, PageOptions, inspect_document, process_page

# OCR saturates every core. Its processes run as background work (SCHED_IDLE): the kernel lets any
# normal task preempt them at once, so an API call never waits for a scheduler slice behind OCR.
# A plain nice value is not enough on EEVDF kernels (6.6+): a woken task there may wait a full slice
# (~3 ms). Where SCHED_IDLE is unavailable, the niceness below is the fallback.
OCR_NICENESS = 5


def _exit_with_parent() -> None:
    """A child whose parent was killed would wait forever on the pool's queue (its siblings keep the
    queue's pipe open): leave as soon as this process is orphaned."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _init_child(initializer: Callable[[], None] | None) -> None:
    _exit_with_parent()
    if initializer is not None:
        initializer()


def _init_ocr_process() -> None:
    # Tesseract with OpenMP is ~3x slower on few cores; one single-threaded engine per process wins.
    os.environ["OMP_THREAD_LIMIT"] = "1"
    run_in_background()
    from ..pipeline import engine

    engine.preload()


def run_in_background() -> None:
    """Lower this process to background priority (see OCR_NICENESS); lowering never needs privileges."""
    os.nice(OCR_NICENESS)
    with contextlib.suppress(AttributeError, OSError):  # not Linux
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


class PoolCrashed(Exception):
    """A child process died (out of memory, a crash in native code) or hung; the pool was replaced."""


class ProcessPool:
    """A ProcessPoolExecutor that replaces itself when a child dies or hangs."""

    def __init__(self, processes: int, initializer: Callable[[], None] | None = None):
        self.processes, self._initializer = processes, initializer
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn, not fork: the API process runs threads, and forking those is unsafe.
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.processes, mp_context=context, initializer=_init_child,
                                   initargs=(self._initializer,))

    def submit(self, function: Callable, *args: Any) -> Future:
        with self._lock:
            try:
                return self._executor.submit(function, *args)
            except BrokenProcessPool:
                self._executor = self._new_executor()
                return self._executor.submit(function, *args)

    def replace(self) -> None:
        """Stop every child (a hung one included) and start fresh ones."""
        with self._lock:
            # ProcessPoolExecutor has no public way to kill a stuck worker; its process table is it.
            for process in list((getattr(self._executor, "_processes", None) or {}).values()):
                process.kill()
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()

    def call(self, function: Callable, *args: Any, timeout_s: float) -> Any:
        future = self.submit(function, *args)
        try:
            return future.result(timeout=timeout_s)
        except BrokenProcessPool:
            self.replace()
            raise PoolCrashed("a child process died") from None
        except FutureTimeout:
            self.replace()
            raise PoolCrashed(f"no answer within {timeout_s:.0f} s") from None

    def shutdown(self) -> None:
        with self._lock:
            self._executor.shutdown(wait=True, cancel_futures=True)


class PagePool(ProcessPool):
    def __init__(self, processes: int):
        super().__init__(processes, _init_ocr_process)

    def run_pages(self, path: Path, numbers: Iterable[int], options: PageOptions, limits: Limits,
                  timeout_s: float | None = None) -> Iterator[dict[str, Any]]:
        """Yield page results as they finish. At most two pages per process are in flight, so a
        long document never holds more than a few rendered pages in memory at once."""
        pending_numbers = deque(numbers)
        in_flight: set[Future] = set()
        window = self.processes * 2
        try:
            while pending_numbers or in_flight:
                while pending_numbers and len(in_flight) < window:
                    in_flight.add(self.submit(process_page, path, pending_numbers.popleft(), options, limits))
                done, in_flight = wait(in_flight, timeout=timeout_s, return_when=FIRST_COMPLETED)
                if not done:
                    self.replace()
                    raise PoolCrashed(f"no page finished within {timeout_s:.0f} s; OCR processes restarted")
                for future in done:
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        self.replace()
                        raise PoolCrashed("an OCR process died while working on this document") from None
        finally:
            for future in in_flight:
                future.cancel()


class Inspector:
    """Opens uploads in a child process: a document that crashes or hangs the parser costs the
    child, never the API process, and is refused like any other damaged document."""

    def __init__(self, limits: Limits, timeout_s: float = 30, processes: int = 2,
                 parse: Callable[[Path, Limits], DocumentInfo] = inspect_document):
        self.limits, self.timeout_s, self.parse = limits, timeout_s, parse
        self._pool: ProcessPool | None = None
        self._processes = processes
        self._lock = threading.Lock()

    def __call__(self, path: Path) -> DocumentInfo:
        with self._lock:  # started on first use: API-less workers never pay for it
            if self._pool is None:
                self._pool = ProcessPool(self._processes)
        try:
            return self._pool.call(self.parse, path, self.limits, timeout_s=self.timeout_s)
        except PoolCrashed as error:
            raise DocumentError("corrupt_document", f"The document could not be opened: reading it {error}. "
                                "It is damaged or built to attack PDF readers.") from None

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()

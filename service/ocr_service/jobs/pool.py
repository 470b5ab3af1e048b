"""A pool of OCR processes, one per core, each keeping its Tesseract engine loaded across pages."""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from ..pipeline import Limits, PageOptions, process_page


def _init_process() -> None:
    # Tesseract with OpenMP is ~3x slower on few cores; one single-threaded engine per process wins.
    os.environ["OMP_THREAD_LIMIT"] = "1"
    # OCR saturates every core; a lower priority keeps the API's status calls quick meanwhile.
    os.nice(5)


class PoolCrashed(Exception):
    """An OCR process died (out of memory, a crash in native code); the pool was replaced."""


class PagePool:
    def __init__(self, processes: int):
        self.processes = processes
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        # spawn, not fork: the API process runs threads, and forking those is unsafe.
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.processes, mp_context=context, initializer=_init_process)

    def _submit(self, *args: Any) -> Future:
        with self._lock:
            try:
                return self._executor.submit(process_page, *args)
            except BrokenProcessPool:
                self._executor = self._new_executor()
                return self._executor.submit(process_page, *args)

    def _replace(self) -> None:
        """Stop every OCR process (a hung one included) and start fresh ones."""
        with self._lock:
            # ProcessPoolExecutor has no public way to kill a stuck worker; its process table is it.
            for process in list(getattr(self._executor, "_processes", {}).values()):
                process.kill()
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()

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
                    in_flight.add(self._submit(path, pending_numbers.popleft(), options, limits))
                done, in_flight = wait(in_flight, timeout=timeout_s, return_when=FIRST_COMPLETED)
                if not done:
                    self._replace()
                    raise PoolCrashed(f"no page finished within {timeout_s:.0f} s; OCR processes restarted")
                for future in done:
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        self._replace()
                        raise PoolCrashed("an OCR process died while working on this document") from None
        finally:
            for future in in_flight:
                future.cancel()

    def shutdown(self) -> None:
        with self._lock:
            self._executor.shutdown(wait=True, cancel_futures=True)

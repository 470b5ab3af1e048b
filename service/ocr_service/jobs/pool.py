"""Process pools: OCR processes (one per core, each keeping its Tesseract engine loaded across
pages), and small sandboxes that open uploads and render outputs, so a hostile document can only
crash a child. Every child is a `sandbox.Worker`: its own process, scrubbed environment and memory
cap; a child that dies or hangs is replaced alone, so it costs only the call it was running."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import queue
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from ..metrics import PAGE_SECONDS, PAGES, measured_page
from ..pipeline import DocumentError, DocumentInfo, Limits, PageOptions, inspect_document, process_page
from ..pipeline.bands import SplitRequest, read_band
from ..pipeline.outputs import Pages, write_output
from ..pipeline.page import join_bands
from .sandbox import DEFAULT_MEMORY_BYTES, ChildDied, ChildTimeout, Worker

log = logging.getLogger(__name__)

# OCR saturates every core. Its processes run as background work (SCHED_IDLE): the kernel lets any
# normal task preempt them at once, so an API call never waits for a scheduler slice behind OCR.
# A plain nice value is not enough on EEVDF kernels (6.6+): a woken task there may wait a full slice
# (~3 ms). Where SCHED_IDLE is unavailable, the niceness below is the fallback.
OCR_NICENESS = 5


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
    """The child process running a call died (out of memory, a crash in native code) or hung; that
    child was replaced."""


class PoolClosed(PoolCrashed):
    """The pool was shut down while the call waited or ran: nobody's fault, the work is retried later."""


class PoolBusy(Exception):
    """No child became free in time."""


class ProcessPool:
    """`processes` sandboxed children, each running one call at a time. A child that dies or hangs
    is killed and replaced on its own: calls running in the other children are not disturbed."""

    def __init__(self, processes: int, initializer: Callable[[], None] | None = None,
                 memory_bytes: int = DEFAULT_MEMORY_BYTES):
        self.processes, self._initializer, self.memory_bytes = processes, initializer, memory_bytes
        self._idle: queue.Queue[Worker | None] = queue.Queue()
        for _ in range(processes):
            self._idle.put(None)  # a slot; its child starts on first use
        self._busy: set[Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.crashes = 0  # children that died or hung (for tests and logs)

    def call(self, function: Callable, *args: Any, timeout_s: float, wait_s: float | None = None) -> Any:
        """function(*args) in a free child. Raises what it raised, PoolCrashed when its child died or
        hung (after `timeout_s`), PoolBusy when no child was free within `wait_s` (None: wait)."""
        try:
            worker = self._idle.get(timeout=wait_s)
        except queue.Empty:
            raise PoolBusy(f"no process free within {wait_s:.0f} s") from None
        try:
            if self._closed:
                raise PoolClosed("the process pool is shut down")
            if worker is None or not worker.alive:
                worker = Worker(self._initializer, self.memory_bytes)
            with self._lock:
                self._busy.add(worker)
            try:
                return worker.call(function, args, timeout_s)
            except (ChildDied, ChildTimeout) as error:
                if self._closed:  # killed by shutdown, not by what it was running
                    raise PoolClosed("the process pool was shut down during the call") from None
                with self._lock:
                    self.crashes += 1
                log.warning("child process %d: %s; starting a fresh one", worker.pid, error)
                worker = None
                raise PoolCrashed(str(error)) from None
        finally:
            if worker is not None:
                with self._lock:
                    self._busy.discard(worker)
            if self._closed and worker is not None:
                worker.stop()
            else:
                self._idle.put(worker)

    def shutdown(self) -> None:
        self._closed = True
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            if worker is not None:
                worker.stop()
        with self._lock:
            busy = list(self._busy)
        for worker in busy:  # a child still working (or hung) at shutdown
            worker.kill()
        for _ in range(self.processes):  # wakes callers still waiting for a child: they see the pool closed
            self._idle.put(None)


class PagePool(ProcessPool):
    """The OCR processes. A page whose process dies or hangs is tried once more on a fresh process;
    if that fails too, its document fails naming the page, and only that document is affected.

    When fewer pages want a process than there are processes (one page sent alone, the last page of
    a document) and no other document waits (`others_waiting`), a page is cut into bands read by the
    otherwise idle processes at once (`split_pages`; see pipeline/bands.py). `page` then gets a
    SplitRequest as its fifth argument. With more work waiting every process gets a page of its own,
    and pages are read whole: splitting would only add work."""

    def __init__(self, processes: int, memory_bytes: int = DEFAULT_MEMORY_BYTES,
                 page: Callable[..., dict[str, Any]] = process_page, split_pages: bool = True):
        super().__init__(processes, _init_ocr_process, memory_bytes)
        self.page, self.split_pages = page, split_pages
        self._pages_wanted = 0  # pages of every run_pages call that are waiting for or holding a process
        self.pages_split = 0  # pages read in bands (for tests and logs)

    def _free_for_bands(self, others_waiting: Callable[[], bool] | None) -> int:
        """Bands a page starting now may be cut into: its own process and those no other page wants,
        unless other documents wait for them."""
        if not self.split_pages:
            return 1
        with self._lock:
            free = self.processes - self._pages_wanted + 1
        return 1 if free < 2 or (others_waiting is not None and others_waiting()) else free

    def _page_done(self, _future: Future) -> None:
        with self._lock:
            self._pages_wanted -= 1

    def _read_in_bands(self, path: Path, number: int, options: PageOptions, limits: Limits, timeout_s: float,
                       bands: int) -> dict[str, Any]:
        """The page prepared by one process, its bands read by as many at once, joined here. A crash or
        hang in any of them is the page's, as in a whole-page read."""
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="ocr-bands-") as folder:
            result = self.call(self.page, path, number, options, limits, SplitRequest(bands, folder),
                               timeout_s=timeout_s)
            pending = result.get("pending")
            if pending is not None:
                rows = pending["rows"]
                jobs = [(pending["image"], rows[index], rows[index + 1], pending["language"], pending["dpi"],
                         limits.page_timeout_s, index == 0 and pending["tables"]) for index in range(len(rows) - 1)]
                with ThreadPoolExecutor(len(jobs) - 1, thread_name_prefix="band") as threads:
                    others = [threads.submit(contextvars.copy_context().run, self.call, read_band, *job,
                                             timeout_s=timeout_s) for job in jobs[1:]]
                    first = self.call(read_band, *jobs[0], timeout_s=timeout_s)
                    parts = [first, *(future.result() for future in others)]
                page = join_bands(result, parts, options)
                if page is None:  # ruled tables, or possibly upside down: the whole-page read decides
                    return self.call(measured_page, self.page, path, number, options, limits, timeout_s=timeout_s)
                result = page
                with self._lock:
                    self.pages_split += 1
        PAGE_SECONDS.observe(time.perf_counter() - started)
        PAGES.inc()
        return result

    def _page(self, stop: threading.Event, path: Path, number: int, options: PageOptions, limits: Limits,
              timeout_s: float, others_waiting: Callable[[], bool] | None = None) -> dict[str, Any] | None:
        for attempt in (1, 2):
            if stop.is_set():
                return None
            try:
                # a page that crashed is retried whole
                bands = self._free_for_bands(others_waiting) if attempt == 1 else 1
                if bands > 1:
                    return self._read_in_bands(path, number, options, limits, timeout_s, bands)
                return self.call(measured_page, self.page, path, number, options, limits, timeout_s=timeout_s)
            except PoolClosed:
                raise  # shutting down: the document is retried later, nothing is charged to it
            except PoolCrashed as error:
                if attempt == 2:
                    if "no answer" in str(error):
                        raise DocumentError(
                            "ocr_timeout", f"Page {number} gave no answer within {timeout_s:.0f} s, twice; "
                            "its process was stopped.") from None
                    raise DocumentError(
                        "page_crashed", f"Page {number} crashed the process reading it, twice (it is damaged "
                        "or built to attack document readers).") from None
                log.warning("page %d of %s: %s; trying it once more", number, Path(path).name, error)
        raise AssertionError("unreachable")

    def run_pages(self, path: Path, numbers: Iterable[int], options: PageOptions, limits: Limits,
                  timeout_s: float | None = None,
                  others_waiting: Callable[[], bool] | None = None) -> Iterator[dict[str, Any]]:
        """Yield page results as they finish. At most two pages per process are in flight, so a
        long document never holds more than a few rendered pages in memory at once. Raises
        DocumentError for a page that crashed or hung its process twice. `others_waiting`: whether
        other documents wait for a process (asked before a page would be split)."""
        pending_numbers = deque(numbers)
        window = self.processes * 2
        stop = threading.Event()
        in_flight: set[Future] = set()
        timeout = timeout_s if timeout_s is not None else 24 * 3600.0
        threads = ThreadPoolExecutor(window, thread_name_prefix="page")
        try:
            while pending_numbers or in_flight:
                starting = min(len(pending_numbers), window - len(in_flight))
                with self._lock:  # counted before any starts: a page never takes its siblings' processes for idle
                    self._pages_wanted += starting
                for _ in range(starting):
                    # In the caller's context: the page's log lines name its document.
                    future = threads.submit(contextvars.copy_context().run, self._page, stop, path,
                                            pending_numbers.popleft(), options, limits, timeout, others_waiting)
                    future.add_done_callback(self._page_done)  # also when cancelled before it started
                    in_flight.add(future)
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    if result is not None:
                        yield result
        finally:
            stop.set()  # pages not started yet are skipped; running ones finish in their process
            threads.shutdown(wait=False, cancel_futures=True)


class Inspector:
    """Opens uploads in a child process: a document that crashes or hangs the parser costs the
    child, never the API process, and is refused like any other damaged document."""

    def __init__(self, limits: Limits, timeout_s: float = 30, processes: int = 2,
                 parse: Callable[[Path, Limits], DocumentInfo] = inspect_document,
                 memory_bytes: int = DEFAULT_MEMORY_BYTES):
        self.limits, self.timeout_s, self.parse, self.memory_bytes = limits, timeout_s, parse, memory_bytes
        self._pool: ProcessPool | None = None
        self._processes = processes
        self._lock = threading.Lock()

    def __call__(self, path: Path) -> DocumentInfo:
        with self._lock:  # started on first use: API-less workers never pay for it
            if self._pool is None:
                self._pool = ProcessPool(self._processes, memory_bytes=self.memory_bytes)
        try:
            return self._pool.call(self.parse, path, self.limits, timeout_s=self.timeout_s)
        except PoolCrashed as error:
            raise DocumentError("corrupt_document", f"The document could not be opened: reading it {error}. "
                                "It is damaged or built to attack PDF readers.") from None

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()


class Renderer:
    """Builds a completed document's searchable PDF or hOCR in a sandboxed child, into a temporary
    file the caller streams and deletes. A hostile original can crash or hang only that child."""

    SUFFIXES = {"pdf": ".pdf", "hocr": ".html", "png": ".png"}
    PER_PAGE_S = 1.0  # on top of the timeout: a long document legitimately takes longer (~0.2 s a page here)

    def __init__(self, limits: Limits, timeout_s: float = 120, processes: int = 2,
                 memory_bytes: int = DEFAULT_MEMORY_BYTES, wait_s: float = 10):
        self.limits, self.timeout_s, self.wait_s = limits, timeout_s, wait_s
        self._pool = ProcessPool(processes, memory_bytes=memory_bytes)  # children start on first use

    def __call__(self, original: Path | None, document_id: str, pages: Pages, format: str,
                 page_count: int | None = None, out_path: Path | None = None) -> Path:
        """The output's file (the caller deletes it), built within the timeout plus PER_PAGE_S a page.
        `pages`: the page results, or a file of them as JSON lines in page order (read by the child a
        page at a time; `page_count` says how many it holds). `out_path`: where to write it (the child
        writes it as it goes; by default a new temporary file). Raises DocumentError: 422 `render_failed`
        when the original crashed, exhausted or hung the child, 503 `render_busy` when no child is free."""
        if out_path is None:
            fd, name = tempfile.mkstemp(prefix="output-", suffix=self.SUFFIXES.get(format, ""))
            os.close(fd)
            out_path = Path(name)
        path = out_path
        try:
            self._pool.call(write_output, original, document_id, pages, format, path, self.limits,
                            timeout_s=self.timeout_s + self.PER_PAGE_S * (len(pages) if page_count is None
                                                                           else page_count),
                            wait_s=self.wait_s)
            return path
        except PoolBusy:
            path.unlink(missing_ok=True)
            raise DocumentError("render_busy", f"Every process building outputs is busy; ask for the {format} "
                                f"output of document {document_id} again shortly.", http_status=503) from None
        except DocumentError:
            path.unlink(missing_ok=True)
            raise
        except (PoolCrashed, Exception) as error:  # MemoryError, or pdfium on a damaged original
            path.unlink(missing_ok=True)
            reason = str(error) if isinstance(error, PoolCrashed) else type(error).__name__
            log.warning("the %s output of %s could not be built: %s", format, document_id, reason)
            raise DocumentError(
                "render_failed", f"The {format} output of document {document_id} could not be built ({reason}): "
                "its original is damaged or too demanding to render. Its text is available as json or text.",
            ) from None

    def shutdown(self) -> None:
        self._pool.shutdown()

"""Embedded queue: worker threads in the service process feed the OCR process pool.

Durability comes from the store: a document is queued there before it is queued here, and on
start every unfinished document is queued again, so a restart loses nothing.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from ..store.base import DocumentStore
from .base import JobQueue, QueueConfig
from .runner import DocumentRunner, RetryLater

log = logging.getLogger(__name__)


class LocalQueue(JobQueue):
    name = "local-queue"

    def __init__(self, config: QueueConfig, store: DocumentStore, make_runner: Callable[[], DocumentRunner]):
        self.store, self.make_runner, self.concurrency = store, make_runner, config.concurrency
        self.runner: DocumentRunner | None = None  # made on start: only workers need OCR processes
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._retry_timers: set[threading.Timer] = set()

    def enqueue(self, document_id: str) -> None:
        self._queue.put(document_id)

    def start_workers(self) -> None:
        self.runner = self.make_runner()
        for record in self.store.unfinished():
            log.info("resuming document %s", record.key)
            self.enqueue(record.key)
        for n in range(self.concurrency):
            thread = threading.Thread(target=self._work, name=f"document-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while (document_id := self._queue.get()) is not None:
            try:
                self.runner.run(document_id)  # type: ignore[union-attr]  # set by start_workers
            except RetryLater:
                record = self.store.get(document_id)
                self._retry_after(document_id, 2.0 ** (record.attempts if record else 1))
            except Exception:  # a bug must not kill the worker thread; the document stays unfinished
                log.exception("unexpected error on document %s", document_id)

    def _retry_after(self, document_id: str, delay_s: float) -> None:
        timer = threading.Timer(delay_s, self.enqueue, args=(document_id,))
        timer.daemon = True
        self._retry_timers.add(timer)
        timer.start()

    def close(self) -> None:
        for timer in self._retry_timers:
            timer.cancel()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

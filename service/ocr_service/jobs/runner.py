"""Processes one document: claim it, OCR its missing pages through the pool, record the outcome.

Shared by every queue engine; the engines differ only in how a document id reaches `run`.
Every step is idempotent, so a document delivered twice (at-least-once queues) is harmless.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from ..domain import DocumentRecord, DocumentStatus, StoreUnavailable, utcnow
from ..metrics import DOCUMENTS_FINISHED
from ..pipeline import DocumentError, Limits, PageOptions
from ..pipeline.ranges import page_numbers
from ..store.base import DocumentStore
from .pool import PagePool, PoolCrashed
from .webhooks import document_ended

log = logging.getLogger(__name__)


def _sha256(path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class JobTimeout(Exception):
    """The document took longer than the job timeout (not a socket or pool timeout)."""


class RetryLater(Exception):
    """A transient failure: the document went back to the queue and should be delivered again."""


@dataclass(frozen=True)
class RunnerConfig:
    limits: Limits
    lease_s: float = 10.0
    job_timeout_s: float = 6 * 3600
    max_retries: int = 3
    page_timeout_s: float = 120.0
    retention_s: float = 0  # a finished document is deleted this long after it finished; 0: kept


class DocumentRunner:
    def __init__(self, store: DocumentStore, pool: PagePool, config: RunnerConfig, owner: str | None = None):
        self.store, self.pool, self.config = store, pool, config
        # The embedded service passes a fixed owner: after a restart it takes back its own leases.
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        # Documents this process works on: a second delivery of one of them (the reconciler's and the queue's
        # re-delivery both arrive here) must not run it twice at once under the same owner.
        self._active: set[str] = set()
        self._active_lock = threading.Lock()

    def run(self, key: str) -> None:
        """Process the document if it is still unfinished and nobody else holds it.
        Raises RetryLater after a transient failure (the queue retries with backoff)."""
        with self._active_lock:
            if key in self._active:
                return  # another thread of this process has it
            self._active.add(key)
        try:
            record = self.store.claim(key, self.owner, self.config.lease_s)
            if record is None:
                return  # finished already, a follower, or held by a live worker elsewhere
            # Every log line about this document, from any thread working on it, names it and its request.
            with structlog.contextvars.bound_contextvars(document_id=record.document_id, tenant=record.tenant,
                                                         request_id=record.request_id):
                log.info("document started: %d pages, attempt %d", record.pages_total, record.attempts)
                self._run(key, record)
        finally:
            with self._active_lock:
                self._active.discard(key)

    def _run(self, key: str, record: DocumentRecord) -> None:
        if record.attempts > self.config.max_retries + 1:  # e.g. it crashed every process that took it
            self._fail(key, record.cache_key, "processing_error",
                       f"Processing was attempted {record.attempts - 1} times without finishing.")
            return
        lease = self._keep_lease(key)
        try:
            self._process(record, lease)
        except DocumentError as error:
            self._fail(key, record.cache_key, error.code, error.message)
        except JobTimeout as error:
            self._fail(key, record.cache_key, "job_timeout", str(error))
        except (PoolCrashed, StoreUnavailable, OSError) as error:
            if record.attempts > self.config.max_retries:
                log.error("document %s failed after %d attempts: %s", key, record.attempts, error)
                self._fail(key, record.cache_key, "processing_error",
                           f"Processing failed {record.attempts} times; last error: {error}")
                return
            log.warning("document %s: transient error, will retry: %s", key, error)
            try:
                self.store.release(key, self.owner)
            except StoreUnavailable:
                pass  # the lease runs out and the reconciler re-queues it
            raise RetryLater(str(error)) from error
        except Exception as error:  # a bug: fail the document instead of retrying it forever
            log.exception("document %s: unexpected error", key)
            self._fail(key, record.cache_key, "internal_error",
                       f"An unexpected error stopped processing: {type(error).__name__}.")
        finally:
            lease.stop()

    def _process(self, record: DocumentRecord, lease: _Lease) -> None:
        started = time.monotonic()
        options = dict(record.options)
        selection = options.pop("pages", None)  # e.g. "1-3,7": only those pages, numbered as in the document
        key, page_options = record.key, PageOptions(**options)
        # A redelivered document keeps the pages it has; the upload's inspection counted them.
        done = self.store.page_numbers(key) if record.pages_done else set()
        wanted = page_numbers(selection) if selection else range(1, record.pages_total + 1)
        todo = [n for n in wanted if n not in done]
        with self.store.open_upload(key) as path:
            if _sha256(path) != record.content_sha256:  # damaged, or a concurrent upload's bytes
                raise OSError("the stored upload does not match the SHA-256 it was accepted with")
            # The pool's own wait is a backstop for a page that hangs past the engine's timeout.
            pages = self.pool.run_pages(path, todo, page_options, self.config.limits,
                                        timeout_s=self.config.page_timeout_s * 2 + 30,
                                        others_waiting=self._others_waiting)
            try:
                for page in pages:
                    if self.store.save_page(key, page) is not DocumentStatus.PROCESSING or lease.lost.is_set():
                        log.info("document %s was cancelled or taken over: stopping", key)
                        return  # cancelled or resumed elsewhere (finish would refuse too): its pages stay
                    if time.monotonic() - started > self.config.job_timeout_s:
                        raise JobTimeout(f"The document took longer than {self.config.job_timeout_s:.0f} s.")
            finally:
                pages.close()  # a stop between pages leaves no page of this document queued
        if page_options.min_quality == "fail":
            poor = sorted(p["number"] for p in self.store.pages(key)
                          if (p.get("quality") or {}).get("verdict") == "poor")
            if poor:  # its pages stay stored: GET /result still serves them
                shown = ", ".join(map(str, poor))
                message = (f"Page(s) {shown} were read with low confidence (min_quality=fail); the result is "
                           "still readable at GET /result, with each page's quality verdict.")
                self._fail(key, record.cache_key, "low_quality", message)
                return
        if self.store.finish(key, self.owner, DocumentStatus.COMPLETED, expires_at=self._expiry()):
            DOCUMENTS_FINISHED.labels(status=DocumentStatus.COMPLETED.value).inc()
            log.info("document completed: %d pages in %.1f s", record.pages_total, time.monotonic() - started)
            document_ended(self.store, key)

    def _others_waiting(self) -> bool:
        """Whether documents wait for a worker: a page is then read whole, its idle processes left to them
        (splitting a page costs a little work, which a backlog pays for in throughput)."""
        try:
            return self.store.queue_stats()[0] > 0
        except StoreUnavailable:
            return True

    def _fail(self, key: str, cache_key: str, code: str, message: str) -> None:
        error = {"code": code, "message": message}
        if self.store.finish(key, self.owner, DocumentStatus.FAILED, error, expires_at=self._expiry()):
            self.store.release_primary(cache_key, key)
            DOCUMENTS_FINISHED.labels(status=DocumentStatus.FAILED.value).inc()
            log.info("document failed: %s", code)
            document_ended(self.store, key)

    def _expiry(self) -> datetime | None:
        return utcnow() + timedelta(seconds=self.config.retention_s) if self.config.retention_s else None

    def _keep_lease(self, key: str) -> _Lease:
        """Renew the lease in a thread of its own, so a page however long never lets it run out."""
        lease = _Lease()

        def beat() -> None:
            while not lease.stopped.wait(self.config.lease_s / 3):
                try:
                    renewed = self.store.renew(key, self.owner, self.config.lease_s)
                    if not renewed and not lease.stopped.is_set():  # (not: it has just finished)
                        # It ran out and another worker took the document over (or it was cancelled):
                        # stop after the page in flight instead of reading the rest twice.
                        log.warning("lost the lease on %s", key)
                        lease.lost.set()
                        return
                except StoreUnavailable:
                    log.warning("could not renew the lease on %s", key)

        context = contextvars.copy_context()  # its warnings name the document too
        threading.Thread(target=context.run, args=(beat,), name=f"lease-{key}", daemon=True).start()
        return lease


class _Lease:
    """A running lease renewal: `stop()` ends it, `lost` is set once another owner has the document."""

    def __init__(self) -> None:
        self.stopped, self.lost = threading.Event(), threading.Event()

    def stop(self) -> None:
        self.stopped.set()

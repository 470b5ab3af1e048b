"""What the service does, independent of HTTP: accept a document, report its status, assemble its result.

Identical uploads (same bytes, same options) share one computation: the first becomes the
*primary*, later ones *follow* it and report its status and result, so 20 identical uploads cost
one OCR run, and an upload of an already-processed document is complete at once.

The async methods are what the API calls; they decide where each piece runs: store reads that are
local and quick on the event loop (a thread hop is what a status call waits longest for while OCR keeps
the cores busy), everything that waits on a network, a disk write or a render in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from anyio import to_thread

from .domain import (
    Conflict,
    DocumentNotFound,
    DocumentRecord,
    DocumentStatus,
    DuplicateDocument,
    StatusView,
    UnknownContent,
    Upload,
)
from .jobs.base import JobQueue
from .pipeline import DocumentInfo, PageOptions, document_text, validate_options
from .store.base import Cache, DocumentStore

log = logging.getLogger(__name__)
T = TypeVar("T")

# Bump when the pipeline's output changes, so old cached results are not served for new uploads.
PIPELINE_VERSION = "2"
MAX_CACHED_RESULT_BYTES = 8 * 1024 * 1024
QUICK_RESULT_PAGES = 20  # results up to this many pages may be assembled on the event loop
ENQUEUE_RETRY_MAX_S = 5.0  # longest pause between attempts to queue what the queue refused


def cache_key_for(sha256: str, options: PageOptions) -> str:
    canonical = json.dumps({"sha256": sha256, "options": asdict(options), "v": PIPELINE_VERSION}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Orchestrator:
    def __init__(self, store: DocumentStore, queue: JobQueue, cache: Cache,
                 inspect: Callable[[Path], DocumentInfo], result_cache_ttl_s: int = 600,
                 reads_on_loop: bool = False):
        """reads_on_loop: the store and cache are in-process and their reads never wait on a network or
        a writer, so they may run on the event loop."""
        self.store, self.queue, self.cache, self.inspect = store, queue, cache, inspect
        self.result_cache_ttl_s = result_cache_ttl_s
        self._quick_reads = reads_on_loop
        # Accepted documents the queue refused (it was down), retried in the background until it answers.
        self._unqueued: dict[str, None] = {}
        self._unqueued_lock = threading.Lock()
        self._requeuer: threading.Thread | None = None

    # -- where things run --------------------------------------------------------------------------
    async def _read(self, read: Callable[[], T]) -> T:
        """A store read: on the event loop when the stores are local and quick, else in a thread."""
        if self._quick_reads:
            return read()
        return await to_thread.run_sync(read)

    @staticmethod
    async def _in_thread(work: Callable[[], T]) -> T:
        return await to_thread.run_sync(work)

    # -- the API's calls ---------------------------------------------------------------------------
    async def accept(self, upload: Upload, document_id: str | None, language: str,
                     mode: str) -> tuple[StatusView, bool]:
        """Accept an upload (inspection and durable writes: never on the event loop)."""
        return await self._in_thread(lambda: self.submit(upload, document_id, language, mode))

    async def accept_known(self, sha256: str, document_id: str | None, language: str,
                           mode: str) -> tuple[StatusView, bool]:
        return await self._in_thread(lambda: self.submit_known(sha256, document_id, language, mode))

    async def get_status(self, document_id: str) -> StatusView:
        return await self._read(lambda: self.status(document_id))

    async def wait(self, status: StatusView, wait_s: float) -> StatusView:
        """Poll the store (every instance sees the workers' progress there) until the document is
        finished or the time is up; the interval grows from 20 ms so quick documents come back quickly."""
        deadline, interval = time.monotonic() + wait_s, 0.02
        while not status.status.finished and time.monotonic() < deadline:
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            interval = min(interval * 1.5, 0.5)
            status = await self.get_status(status.document_id)
        return status

    async def result_json(self, status: StatusView, words: bool) -> dict[str, Any]:
        """A completed document's result body: its status, whole text and pages."""
        def build() -> dict[str, Any]:
            pages = self.pages(status, words=words)
            return {**status.to_json(), "text": document_text(pages), "pages": pages}

        return await (self._read(build) if status.pages_total <= QUICK_RESULT_PAGES else self._in_thread(build))

    async def result_text(self, status: StatusView) -> str:
        return await self._in_thread(lambda: document_text(self.pages(status, words=False)))

    async def result_hocr(self, status: StatusView) -> str:
        from .pipeline.outputs import render_hocr

        return await self._in_thread(lambda: render_hocr(status.document_id, self.pages(status, words=True)))

    async def result_pdf(self, status: StatusView) -> bytes:
        """The original with an invisible text layer (searchable and selectable)."""
        from .pipeline.outputs import render_searchable_pdf

        def render() -> bytes:
            pages = self.pages(status, words=True)
            with self.original(status) as original:
                return render_searchable_pdf(original, pages)

        return await self._in_thread(render)

    async def health(self, timeout_s: float = 0.8) -> dict[str, str]:
        """Each dependency's state, "ok" or "unavailable", probed in parallel: a dependency that hangs
        costs the answer no more than the timeout. Details go to the log, never to the caller."""
        async def probe(name: str, ping: Callable[[], None]) -> tuple[str, str]:
            try:
                await asyncio.wait_for(to_thread.run_sync(ping, abandon_on_cancel=True), timeout_s)
                return name, "ok"
            except Exception as error:  # the health check reports, it does not raise
                log.warning("health: %s is unavailable: %s", name, type(error).__name__)
                return name, "unavailable"

        checks = (("store", self.store.ping), ("cache", self.cache.ping), ("queue", self.queue.ping))
        return dict(await asyncio.gather(*(probe(name, ping) for name, ping in checks)))

    # -- the work itself (synchronous: runs where the methods above put it) -----------------------
    def submit(self, upload: Upload, document_id: str | None, language: str, mode: str) -> tuple[StatusView, bool]:
        """Accept a document. Returns its status and whether it was newly created.
        Raises DocumentError (bad input), Conflict, StoreUnavailable."""
        return self._submit(upload.sha256, document_id, language, mode,
                            lambda record: self._accept(record, upload), upload.size_bytes, upload.filename)

    def submit_known(self, sha256: str, document_id: str | None, language: str, mode: str) -> tuple[StatusView, bool]:
        """Accept a document by the SHA-256 of bytes uploaded before with the same options: it shares
        that upload's result (or its computation, while running). Raises UnknownContent as well."""
        def follow(record: DocumentRecord) -> DocumentRecord:
            primary = self.store.primary_of(record.cache_key)
            source = self.store.get(primary) if primary else None
            if source is None or source.status == DocumentStatus.FAILED:
                raise UnknownContent(
                    f"This service has no document with SHA-256 {sha256} and these options (language, mode) "
                    "that is processed or being processed; upload the file instead.")
            record.media_type, record.pages_total = source.media_type, source.pages_total
            record.size_bytes, record.result_of = source.size_bytes, source.document_id
            self.store.create(record, None)
            return source

        return self._submit(sha256, document_id, language, mode, follow, 0, None)

    def _submit(self, sha256: str, document_id: str | None, language: str, mode: str,
                accept: Callable[[DocumentRecord], DocumentRecord], size_bytes: int,
                filename: str | None) -> tuple[StatusView, bool]:
        options = PageOptions(language=language, mode=mode)
        validate_options(options)
        key = cache_key_for(sha256, options)

        document_id = document_id or uuid.uuid4().hex
        existing = self.store.get(document_id)
        if existing is not None:
            return self._same_or_conflict(existing, key), False
        record = DocumentRecord(
            document_id=document_id, content_sha256=sha256, cache_key=key, options=asdict(options),
            filename=filename, media_type="", size_bytes=size_bytes, pages_total=0,
        )
        try:
            source = accept(record)
        except DuplicateDocument:  # the same id was uploaded concurrently
            return self._same_or_conflict(self.store.get(document_id), key), False
        # Answered from the records at hand: reading them back would cost round trips on every upload.
        return self._status_of(record, source), True

    def _accept(self, record: DocumentRecord, upload: Upload) -> DocumentRecord:
        """Store the record and start its computation, or point it at an earlier one. Returns the
        record whose progress and result this document shows."""
        done = self._completed_primary(record.cache_key)
        if done is not None:  # processed before: nothing to check, store or compute again
            record.media_type, record.pages_total = done.media_type, done.pages_total
            record.result_of = done.document_id
            self.store.create(record, None)
            return done

        info = self.inspect(upload.path)
        record.media_type, record.pages_total = info.media_type, info.page_count
        self.store.create(record, upload.path)
        key, document_id = record.cache_key, record.document_id
        primary = self.store.claim_primary(key, document_id)
        if primary != document_id:
            other = self.store.get(primary)
            if other is None or other.status == DocumentStatus.FAILED:
                self.store.release_primary(key, primary)  # a failed run is retried by a new upload
                primary = self.store.claim_primary(key, document_id)
        if primary == document_id:
            self._enqueue(document_id)
            return record
        self.store.follow(document_id, primary)
        record.result_of = primary
        log.info("document %s reuses the result of %s", document_id, primary)
        return self.store.get(primary) or record

    def _completed_primary(self, key: str) -> DocumentRecord | None:
        primary = self.store.primary_of(key)
        record = self.store.get(primary) if primary else None
        return record if record is not None and record.status == DocumentStatus.COMPLETED else None

    def _same_or_conflict(self, existing: DocumentRecord | None, key: str) -> StatusView:
        if existing is None or existing.cache_key != key:
            raise Conflict("A document with this document_id exists with different content or options; "
                           "choose another document_id.")
        return self.status(existing.document_id)

    def _enqueue(self, document_id: str) -> None:
        try:
            self.queue.enqueue(document_id)
        except Exception as error:  # the record is durable: queue it as soon as the queue answers again
            log.warning("could not queue %s now (%s); retrying in the background", document_id, type(error).__name__)
            with self._unqueued_lock:
                self._unqueued[document_id] = None
                if self._requeuer is None:
                    self._requeuer = threading.Thread(target=self._enqueue_unqueued, name="requeue", daemon=True)
                    self._requeuer.start()

    def _enqueue_unqueued(self) -> None:
        """Queue the documents the queue refused, oldest first, with a backoff while it stays down. The
        reconciler would queue them too, but only minutes later; a second delivery is harmless."""
        pause = 0.2
        while True:
            with self._unqueued_lock:
                if not self._unqueued:
                    self._requeuer = None
                    return
                document_id = next(iter(self._unqueued))
            try:
                self.queue.enqueue(document_id)
            except Exception:
                time.sleep(pause)
                pause = min(pause * 2, ENQUEUE_RETRY_MAX_S)
                continue
            log.info("queued %s now that the queue answers", document_id)
            pause = 0.2
            with self._unqueued_lock:
                self._unqueued.pop(document_id, None)

    # -- read ----------------------------------------------------------------------------------
    def status(self, document_id: str) -> StatusView:
        record = self.store.get(document_id)
        if record is None:
            raise DocumentNotFound(document_id)
        source = record
        if record.result_of:
            source = self.store.get(record.result_of) or record
        return self._status_of(record, source)

    @staticmethod
    def _status_of(record: DocumentRecord, source: DocumentRecord) -> StatusView:
        return StatusView.of(record, source)

    def pages(self, status: StatusView, words: bool = True) -> list[dict[str, Any]]:
        """The completed document's pages, with or without their words (served from the cache when it
        has them). Cached apart: words are most of a page's JSON, and most clients never ask for them."""
        key = f"result:{status.record.cache_key}:{'words' if words else 'text'}"
        cached = self.cache.get(key)
        if cached is not None:
            return json.loads(cached)
        pages = list(self.store.pages(status.result_source))
        if not words:
            pages = [{name: value for name, value in page.items() if name != "words"} for page in pages]
        if status.status == DocumentStatus.COMPLETED and self.result_cache_ttl_s:
            encoded = json.dumps(pages).encode()
            if len(encoded) <= MAX_CACHED_RESULT_BYTES:  # a 2000-page book stays in the store only
                self.cache.set(key, encoded, self.result_cache_ttl_s)
        return pages

    def original(self, status: StatusView) -> contextlib.AbstractContextManager[Path]:
        return self.store.open_upload(status.result_source)

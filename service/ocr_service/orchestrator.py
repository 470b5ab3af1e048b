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
import base64
import contextlib
import hashlib
import itertools
import json
import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from anyio import to_thread

from .access import Access
from .domain import (
    DEFAULT_TENANT,
    UNFINISHED,
    Conflict,
    DocumentNotFound,
    DocumentRecord,
    DocumentStatus,
    DuplicateDocument,
    InvalidCursor,
    StatusView,
    UnknownContent,
    Upload,
    WebhookTarget,
    storage_key,
    utcnow,
)
from .jobs.base import JobQueue
from .jobs.webhooks import check_callback_url, delivery_state, document_ended, secret_for
from .logs import current_request_id
from .metrics import DOCUMENTS_FINISHED
from .pipeline import DocumentInfo, PageOptions, document_quality, document_text, validate_options
from .pipeline.outputs import PageLines
from .pipeline.ranges import canonical_page_ranges, select_pages
from .store.base import Cache, DocumentStore
from .store.lifecycle import delete_document, result_cache_key

log = logging.getLogger(__name__)
T = TypeVar("T")
# Builds an output file (searchable PDF, hOCR, PNG) from the original and the pages: (original, id, pages,
# format[, page count]), the pages a list or a file of JSON lines.
Render = Callable[..., Path]

# Bump when the pipeline's output changes, so old cached results are not served for new uploads.
PIPELINE_VERSION = "3"
# Results of documents up to STREAMED_RESULT_PAGES pages are assembled in memory and cached (when they
# encode to at most MAX_CACHED_RESULT_BYTES); longer ones are streamed from the store a batch of pages at
# a time and never cached, so serving a 2,000-page book costs the API process a batch, not the book.
STREAMED_RESULT_PAGES = 50
MAX_CACHED_RESULT_BYTES = 2 * 1024 * 1024
QUICK_RESULT_PAGES = 20  # results up to this many pages may be assembled on the event loop
STREAM_CHUNK_BYTES = 64 * 1024  # a streamed answer is written in pieces of about this size
OUTPUT_POLL_S = 0.01  # how often a growing output file is looked at for more bytes
ENQUEUE_RETRY_MAX_S = 5.0  # longest pause between attempts to queue what the queue refused


def cache_key_for(tenant: str, sha256: str, options: PageOptions, pages: str | None = None) -> str:
    """Names one computation: the same bytes, options and page selection of one tenant. Tenants never
    share one, so no answer and no timing tells a tenant what another sent."""
    fields: dict[str, Any] = {"sha256": sha256, "options": asdict(options), "v": PIPELINE_VERSION}
    if tenant != DEFAULT_TENANT:  # the default tenant keeps the keys it had before tenants existed
        fields["tenant"] = tenant
    if pages:  # absent for whole documents, so their keys stay what they were
        fields["pages"] = pages
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def _dumps(value: Any) -> str:
    """JSON as JSONResponse writes it (compact, UTF-8 as is), so streamed and assembled answers match."""
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _chunked(pieces: Iterator[str], size: int = STREAM_CHUNK_BYTES) -> Iterator[bytes]:
    """Pieces of text joined into chunks of about `size` bytes (fewer writes and thread hops than one a page)."""
    buffer: list[str] = []
    length = 0
    for piece in pieces:
        buffer.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(buffer).encode()
            buffer, length = [], 0
    if buffer:
        yield "".join(buffer).encode()


def _in_background(work: Callable[[], T]) -> Future[T]:
    """work() in a thread of its own; its outcome in the future."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as error:  # handed to whoever reads the future
            future.set_exception(error)

    threading.Thread(target=run, name="output", daemon=True).start()
    return future


def _encode_cursor(created_at: str, key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, key]).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    try:
        created_at, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        datetime.fromisoformat(created_at)
        return str(created_at), str(key)
    except (ValueError, TypeError) as error:
        raise InvalidCursor("The cursor is not one this service gave out; start again without it.") from error


class Orchestrator:
    def __init__(self, store: DocumentStore, queue: JobQueue, cache: Cache,
                 inspect: Callable[[Path], DocumentInfo], access: Access, result_cache_ttl_s: int = 600,
                 retention_s: float = 0, render: Render | None = None, reads_on_loop: bool = False):
        """render: builds an output file from the original and the pages, in a sandboxed child.
        reads_on_loop: the store and cache are in-process and their reads never wait on a network or
        a writer, so they may run on the event loop."""
        self.store, self.queue, self.cache, self.inspect = store, queue, cache, inspect
        self.access, self.result_cache_ttl_s, self.retention_s = access, result_cache_ttl_s, retention_s
        self._render = render
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
    async def authenticate(self, presented: list[bytes]) -> str:
        """The tenant of the X-API-Key header's values; raises Unauthorized."""
        return await self._read(lambda: self.access.tenant_of(presented))

    async def accept(self, tenant: str, upload: Upload, document_id: str | None, language: str,
                     mode: str, min_quality: str = "none", pages: str | None = None,
                     webhook: WebhookTarget | None = None) -> tuple[StatusView, bool]:
        """Accept an upload (inspection and durable writes: never on the event loop)."""
        return await self._in_thread(
            lambda: self.submit(tenant, upload, document_id, language, mode, min_quality, pages, webhook))

    async def accept_known(self, tenant: str, sha256: str, document_id: str | None, language: str,
                           mode: str, min_quality: str = "none", pages: str | None = None,
                           webhook: WebhookTarget | None = None) -> tuple[StatusView, bool]:
        return await self._in_thread(
            lambda: self.submit_known(tenant, sha256, document_id, language, mode, min_quality, pages, webhook))

    async def check_callback(self, url: str, allowed_networks) -> None:
        """Refuse a callback URL whose host is not public nor allowed (a name lookup: in a thread)."""
        await self._in_thread(lambda: check_callback_url(url, allowed_networks))

    async def default_callback(self, tenant: str) -> str | None:
        """The callback URL of the tenant's uploads that name none."""
        return await self._read(lambda: self.store.default_callback(tenant))

    async def set_default_callback(self, tenant: str, url: str | None) -> None:
        await self._in_thread(lambda: self.store.set_default_callback(tenant, url))

    async def webhook_secret(self, tenant: str, default_secret: str | None) -> str:
        """The tenant's webhook signing secret (made and kept on first use)."""
        return await self._in_thread(lambda: secret_for(self.store, tenant, default_secret))

    async def get_status(self, tenant: str, document_id: str) -> StatusView:
        return await self._read(lambda: self.status(tenant, document_id))

    async def list_documents(self, tenant: str, status: DocumentStatus | None, limit: int,
                             cursor: str | None) -> tuple[list[StatusView], str | None]:
        """The tenant's documents, newest first, and the cursor of the next page (None on the last)."""
        after = _decode_cursor(cursor)

        def page() -> tuple[list[StatusView], str | None]:
            records = self.store.list(tenant, status, limit + 1, after)
            views = [self._view(record) for record in records[:limit]]
            more = len(records) > limit
            last = records[limit - 1] if more else None
            return views, _encode_cursor(last.created_at.isoformat(), last.key) if last else None

        return await self._read(page)

    async def cancel(self, tenant: str, document_id: str) -> StatusView:
        return await self._in_thread(lambda: self._cancel(tenant, document_id))

    async def delete(self, tenant: str, document_id: str) -> None:
        await self._in_thread(lambda: self._delete(tenant, document_id))

    async def wait(self, status: StatusView, wait_s: float) -> StatusView:
        """Poll the store (every instance sees the workers' progress there) until the document is
        finished or the time is up. The interval is a tenth of the time waited so far (from 20 ms, at
        most 500 ms): an answer comes at most about a tenth later than its document finished, and a
        long wait costs few polls. (An interval growing at each poll regardless of the time waited can
        leave a document that finished just after a poll waiting for most of the next, longer interval.)"""
        started = time.monotonic()
        deadline = started + wait_s
        while not status.status.finished and time.monotonic() < deadline:
            interval = min(0.5, max(0.02, 0.1 * (time.monotonic() - started)))
            await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
            status = await self.get_status(status.record.tenant, status.document_id)
        return status

    async def result_json(self, status: StatusView, words: bool) -> dict[str, Any]:
        """A completed document's result body: its status, whole text and pages."""
        def build() -> dict[str, Any]:
            pages = self.pages(status, words=words)
            return {**status.to_json(), "text": document_text(pages), "quality": document_quality(pages),
                    "pages": pages}

        return await (self._read(build) if status.pages_total <= QUICK_RESULT_PAGES else self._in_thread(build))

    async def result_text(self, status: StatusView) -> str:
        return await self._in_thread(lambda: document_text(self.pages(status, words=False)))

    @staticmethod
    def streams_result(status: StatusView) -> bool:
        """Whether the document's result is too long to assemble in memory: it is streamed instead."""
        return max(status.pages_total, status.pages_done) > STREAMED_RESULT_PAGES

    async def result_stream(self, status: StatusView, format: str, words: bool = False) -> Iterator[bytes]:
        """The JSON (or, format "text", the plain text) result as pieces of bytes, read from the store
        page by page. The first piece is read here, so a store that fails at once fails the call (an error
        answer) rather than the stream."""
        chunks = _chunked(self._text_pieces(status) if format == "text" else self._json_pieces(status, words))
        first = await self._in_thread(lambda: next(chunks, b""))
        return itertools.chain((first,), chunks)

    def _json_pieces(self, status: StatusView, words: bool) -> Iterator[str]:
        """The result body in the same shape and bytes as JSONResponse(result_json(...)): the status
        fields, the whole text, the document's quality, then the pages. Two passes over the stored pages:
        the text and the verdict precede the pages, as they always have."""
        yield _dumps(status.to_json())[:-1] + ',"text":"'
        rated = []
        for index, page in enumerate(self.store.pages(status.result_source, words=False)):
            yield ("\\f" if index else "") + _dumps((page.get("text") or "").rstrip("\n") + "\n")[1:-1]
            rated.append({"number": page["number"], "quality": page.get("quality")})
        yield '","quality":' + _dumps(document_quality(rated)) + ',"pages":['
        for index, page in enumerate(self.store.pages(status.result_source, words=words)):
            yield ("," if index else "") + _dumps(page)
        yield "]}"

    def _text_pieces(self, status: StatusView) -> Iterator[str]:
        for index, page in enumerate(self.store.pages(status.result_source, words=False)):
            yield ("\f" if index else "") + (page.get("text") or "").rstrip("\n") + "\n"

    async def render_page_image(self, status: StatusView, page_number: int) -> Path:
        """A PNG of one page as displayed (for the web page's viewer), as a temporary file."""
        def render() -> Path:
            assert self._render is not None, "this orchestrator was built without a renderer"
            with self.original(status) as original:
                return self._render(original, status.document_id, [{"number": page_number}], "png")

        return await self._in_thread(render)

    async def render_output(self, status: StatusView, format: str) -> Path:
        """The `format` output ("pdf": the original with an invisible text layer, "hocr") as a temporary
        file the caller streams and deletes."""
        return await self._in_thread(lambda: self.render(status, format))

    async def queue_stats(self) -> tuple[int, datetime | None]:
        """Documents waiting in the queue (all tenants) and when the oldest was created (for /metrics)."""
        return await self._read(self.store.queue_stats)

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
    def submit(self, tenant: str, upload: Upload, document_id: str | None, language: str,
               mode: str, min_quality: str = "none", pages: str | None = None,
               webhook: WebhookTarget | None = None) -> tuple[StatusView, bool]:
        """Accept a document (only the pages `pages` names, e.g. `1-3,7`, when given). Returns its status
        and whether it was newly created. Raises DocumentError (bad input), Conflict, StoreUnavailable."""
        return self._submit(tenant, upload.sha256, document_id, language, mode,
                            lambda record: self._accept(record, upload), upload.size_bytes, upload.filename,
                            min_quality, pages, webhook)

    def submit_known(self, tenant: str, sha256: str, document_id: str | None, language: str,
                     mode: str, min_quality: str = "none", pages: str | None = None,
                     webhook: WebhookTarget | None = None) -> tuple[StatusView, bool]:
        """Accept a document by the SHA-256 of bytes the tenant uploaded before with the same options: it
        shares that upload's result (or its computation, while running). Raises UnknownContent as well."""
        def follow(record: DocumentRecord) -> DocumentRecord:
            primary = self.store.primary_of(record.cache_key)
            source = self.store.get(primary) if primary else None
            if source is None or source.status in (DocumentStatus.FAILED, DocumentStatus.CANCELLED):
                raise UnknownContent(
                    f"There is no document with SHA-256 {sha256} and these options (language, mode) that is "
                    "processed or being processed; upload the file instead.")
            record.media_type, record.pages_total = source.media_type, source.pages_total
            record.size_bytes, record.result_of = source.size_bytes, source.key
            record.expires_at = self._expiry()
            self.store.create(record, None)
            return source

        return self._submit(tenant, sha256, document_id, language, mode, follow, 0, None, min_quality, pages,
                            webhook)

    def _submit(self, tenant: str, sha256: str, document_id: str | None, language: str, mode: str,
                accept: Callable[[DocumentRecord], DocumentRecord], size_bytes: int,
                filename: str | None, min_quality: str = "none", pages: str | None = None,
                webhook: WebhookTarget | None = None) -> tuple[StatusView, bool]:
        options = PageOptions(language=language, mode=mode, min_quality=min_quality)
        validate_options(options)
        pages = canonical_page_ranges(pages) if pages else None  # a bad range: 422 before any work
        cache_key = cache_key_for(tenant, sha256, options, pages)

        document_id = document_id or uuid.uuid4().hex
        existing = self.store.get(storage_key(tenant, document_id))
        if existing is not None:
            return self._same_or_conflict(existing, cache_key), False
        record = DocumentRecord(
            document_id=document_id, content_sha256=sha256, cache_key=cache_key,
            # The runner takes the page selection out of the options; pages_total then counts the selection.
            options={**asdict(options), "pages": pages} if pages else asdict(options),
            filename=filename, media_type="", size_bytes=size_bytes, pages_total=0, tenant=tenant,
            request_id=current_request_id(),
        )
        if webhook is not None:
            record.callback_url, record.client_tag = webhook.url, webhook.client_tag
            record.public_base_url = webhook.public_base_url
        try:
            source = accept(record)
        except DuplicateDocument:  # the same id was uploaded concurrently
            return self._same_or_conflict(self.store.get(record.key), cache_key), False
        if record.callback_url and source.status.finished:  # answered from an earlier result: ended at once
            document_ended(self.store, record.key)
        # Answered from the records at hand: reading them back would cost round trips on every upload.
        return self._status_of(record, source), True

    def _accept(self, record: DocumentRecord, upload: Upload) -> DocumentRecord:
        """Store the record and start its computation, or point it at an earlier one of the same tenant.
        Returns the record whose progress and result this document shows."""
        done = self._completed_primary(record.cache_key)
        if done is not None:  # processed before: nothing to check, store or compute again
            record.media_type, record.pages_total = done.media_type, done.pages_total
            record.result_of, record.expires_at = done.key, self._expiry()
            self.store.create(record, None)
            return done

        info = self.inspect(upload.path)
        record.media_type, record.pages_total = info.media_type, info.page_count
        if record.options.get("pages"):  # only now is the page count known: beyond it is a 422
            record.pages_total = len(select_pages(record.options["pages"], info.page_count))
        self.store.create(record, upload.path)
        cache_key, key = record.cache_key, record.key
        primary = self.store.claim_primary(cache_key, key)
        if primary != key:
            other = self.store.get(primary)
            if other is None or other.deleted or other.status in (DocumentStatus.FAILED, DocumentStatus.CANCELLED):
                self.store.release_primary(cache_key, primary)  # a failed run is retried by a new upload
                primary = self.store.claim_primary(cache_key, key)
        if primary == key:
            self._enqueue(key)
            return record
        self.store.follow(key, primary)
        record.result_of = primary
        log.info("document %s reuses the result of %s", key, primary)
        return self.store.get(primary) or record

    def _completed_primary(self, key: str) -> DocumentRecord | None:
        primary = self.store.primary_of(key)
        record = self.store.get(primary) if primary else None
        return record if record is not None and record.status == DocumentStatus.COMPLETED else None

    def _same_or_conflict(self, existing: DocumentRecord | None, cache_key: str) -> StatusView:
        if existing is None or existing.cache_key != cache_key or existing.deleted:
            raise Conflict("A document with this document_id exists with different content or options; "
                           "choose another document_id.")
        return self._view(existing)

    def _enqueue(self, key: str) -> None:
        try:
            self.queue.enqueue(key)
        except Exception as error:  # the record is durable: queue it as soon as the queue answers again
            log.warning("could not queue %s now (%s); retrying in the background", key, type(error).__name__)
            with self._unqueued_lock:
                self._unqueued[key] = None
                if self._requeuer is None:
                    self._requeuer = threading.Thread(target=self._enqueue_unqueued, name="requeue", daemon=True)
                    self._requeuer.start()

    def _enqueue_unqueued(self) -> None:
        """Queue the documents the queue refused, oldest first, with a backoff while it stays down. The
        reconciler would queue them too, but only up to a minute later; a second delivery is harmless."""
        pause = 0.2
        while True:
            with self._unqueued_lock:
                if not self._unqueued:
                    self._requeuer = None
                    return
                key = next(iter(self._unqueued))
            try:
                self.queue.enqueue(key)
            except Exception:
                time.sleep(pause)
                pause = min(pause * 2, ENQUEUE_RETRY_MAX_S)
                continue
            log.info("queued %s now that the queue answers", key)
            pause = 0.2
            with self._unqueued_lock:
                self._unqueued.pop(key, None)

    def _expiry(self) -> datetime | None:
        return utcnow() + timedelta(seconds=self.retention_s) if self.retention_s else None

    # -- read ----------------------------------------------------------------------------------
    def _record(self, tenant: str, document_id: str) -> DocumentRecord:
        """The tenant's document; another tenant's, or a deleted one, is exactly as absent as none."""
        record = self.store.get(storage_key(tenant, document_id))
        if record is None or record.deleted:
            raise DocumentNotFound(document_id)
        return record

    def status(self, tenant: str, document_id: str) -> StatusView:
        return self._view(self._record(tenant, document_id))

    def _view(self, record: DocumentRecord) -> StatusView:
        source = record
        if record.result_of and record.status is not DocumentStatus.CANCELLED:
            source = self.store.get(record.result_of) or record
        view = self._status_of(record, source)
        if record.callback_url:
            view.webhook = delivery_state(self.store, record)
        return view

    @staticmethod
    def _status_of(record: DocumentRecord, source: DocumentRecord) -> StatusView:
        return StatusView.of(record, source)

    # -- cancel, delete ------------------------------------------------------------------------
    def _cancel(self, tenant: str, document_id: str) -> StatusView:
        """Stop a document: a queued one never starts, a processing one stops after its page in flight.
        The pages read so far stay readable. A finished document is left as it is."""
        record = self._record(tenant, document_id)
        cancelled = self.store.cancel(record.key, self._expiry())
        if cancelled is not None and cancelled.result_of is None:
            self.store.release_primary(cancelled.cache_key, cancelled.key)  # a new upload computes again
        if cancelled is not None:
            if cancelled.result_of is None:
                DOCUMENTS_FINISHED.labels(status=DocumentStatus.CANCELLED.value).inc()
            document_ended(self.store, cancelled.key)
        return self._view(cancelled or record)

    def _delete(self, tenant: str, document_id: str) -> None:
        try:
            record = self._record(tenant, document_id)
        except DocumentNotFound:
            return  # deleting twice, or what was never there, is the same success
        if record.status in UNFINISHED and self.store.cancel(record.key, None) and record.result_of is None:
            DOCUMENTS_FINISHED.labels(status=DocumentStatus.CANCELLED.value).inc()
        delete_document(self.store, self.cache, self.store.get(record.key) or record)

    def pages(self, status: StatusView, words: bool = True) -> list[dict[str, Any]]:
        """The document's pages, with or without their words (served from the cache when it has them).
        Cached apart: words are most of a page's JSON, and most clients never ask for them."""
        key = result_cache_key(status.record.cache_key, words)
        cached = self.cache.get(key)
        if cached is not None:
            return json.loads(cached)
        pages = list(self.store.pages(status.result_source, words=words))
        if status.status == DocumentStatus.COMPLETED and self.result_cache_ttl_s:
            encoded = json.dumps(pages).encode()
            if len(encoded) <= MAX_CACHED_RESULT_BYTES:  # a 2000-page book stays in the store only
                self.cache.set(key, encoded, self.result_cache_ttl_s)
        return pages

    def original(self, status: StatusView) -> contextlib.AbstractContextManager[Path]:
        return self.store.open_upload(status.result_source)

    def render(self, status: StatusView, format: str) -> Path:
        """A completed document's `format` output ("pdf": the searchable PDF, "hocr") as a temporary
        file that the caller deletes. Built in a sandboxed child process (the original may be hostile).
        Raises DocumentError (`render_failed` 422, `render_busy` 503)."""
        if self._render is None:
            raise RuntimeError("this orchestrator was built without a renderer")
        # The pages go to the child as a file of JSON lines, written a page at a time as they are read from
        # the store, and the child reads them back one at a time: no process holds the whole document.
        with tempfile.TemporaryDirectory(prefix="pages-") as folder:
            lines = Path(folder) / "pages.jsonl"
            count = self._write_page_lines(status, lines)
            # hOCR is built from the stored pages alone: the original is not fetched for it
            source = self.original(status) if format == "pdf" else contextlib.nullcontext(None)
            with source as original:
                return self._render(original, status.document_id, lines, format, count)

    async def output_stream(self, status: StatusView, format: str) -> Iterator[bytes]:
        """The `format` output ("pdf", "hocr") of a long document as pieces of bytes, sent while it is built:
        the pages go to the sandboxed child through a file it reads as it grows, and the child's output file
        is read as it grows too. The first piece is awaited here, so a renderer that is busy or fails before
        writing anything answers with an error, not a cut stream."""
        chunks = self._output_pieces(status, format)
        first = await self._in_thread(lambda: next(chunks, b""))
        return itertools.chain((first,), chunks)

    def _output_pieces(self, status: StatusView, format: str) -> Iterator[bytes]:
        if self._render is None:
            raise RuntimeError("this orchestrator was built without a renderer")
        folder = Path(tempfile.mkdtemp(prefix="output-"))
        try:
            lines_path, out_path = folder / "pages.jsonl", folder / f"output.{format}"
            lines_path.touch()
            out_path.touch()
            written: Future[None] = _in_background(lambda: self._write_page_lines(status, lines_path))

            def render() -> Path:
                source = self.original(status) if format == "pdf" else contextlib.nullcontext(None)
                with source as original:
                    return self._render(original, status.document_id, PageLines(lines_path), format,
                                        max(status.pages_total, status.pages_done), out_path)

            rendered = _in_background(render)
            with open(out_path, "rb") as out:
                while True:
                    chunk = out.read(STREAM_CHUNK_BYTES)
                    if chunk:
                        yield chunk
                    elif rendered.done():
                        rendered.result()  # raises what the renderer raised
                        while chunk := out.read(STREAM_CHUNK_BYTES):
                            yield chunk
                        written.result()  # a store that failed mid-way cuts the answer short
                        return
                    else:
                        time.sleep(OUTPUT_POLL_S)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _write_page_lines(self, status: StatusView, path: Path) -> int:
        """The pages as JSON lines, a batch of pages at a time, then the empty line that ends them (written
        whatever happens, so the child never waits for pages that will not come). Returns how many."""
        count = 0
        try:
            with open(path, "a", encoding="utf-8") as lines:
                for count, page in enumerate(self.pages_iter(status, words=True), start=1):
                    lines.write(_dumps(page) + "\n")
                    if count % 16 == 0:
                        lines.flush()
            return count
        finally:
            with open(path, "a", encoding="utf-8") as lines:
                lines.write("\n")

    def pages_iter(self, status: StatusView, words: bool = True) -> Iterable[dict[str, Any]]:
        """The document's pages: from memory (and the cache) when short, lazily from the store when long."""
        if self.streams_result(status):
            return self.store.pages(status.result_source, words=words)
        return self.pages(status, words=words)

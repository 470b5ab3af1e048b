"""What the API does, independent of HTTP: accept a document, report its status, assemble its result.

Identical uploads (same bytes, same options) share one computation: the first becomes the
*primary*, later ones *follow* it and report its status and result, so 20 identical uploads cost
one OCR run, and an upload of an already-processed document is complete at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from .jobs.base import JobQueue
from .pipeline import DocumentInfo, PageOptions, validate_options
from .pipeline.ranges import canonical_page_ranges, select_pages
from .store.base import (
    COMPLETED,
    FAILED,
    Cache,
    DocumentRecord,
    DocumentStore,
    DuplicateDocument,
)

log = logging.getLogger(__name__)

# Bump when the pipeline's output changes, so old cached results are not served for new uploads.
PIPELINE_VERSION = "2"
MAX_CACHED_RESULT_BYTES = 8 * 1024 * 1024


class Conflict(Exception):
    """The document id exists with other bytes or options."""


class UnknownContent(Exception):
    """A document named by its SHA-256 whose bytes this service does not have (with those options)."""


class NotFound(Exception):
    pass


@dataclass
class Upload:
    """One upload's bytes, hashed once as they arrived. They are copied to a file of their own only
    when something needs it (inspection, the store): a re-upload of a processed document never does."""

    source: BinaryIO  # read from the start; the caller closes it
    size_bytes: int
    sha256: str
    filename: str | None
    staging_dir: Path | None = None
    _staged: Path | None = field(default=None, init=False, repr=False)

    @property
    def path(self) -> Path:
        if self._staged is None:
            fd, name = tempfile.mkstemp(prefix="upload-", dir=self.staging_dir)
            with open(fd, "wb") as out:
                self.source.seek(0)
                shutil.copyfileobj(self.source, out, 1024 * 1024)
            self._staged = Path(name)
        return self._staged

    def discard(self) -> None:
        if self._staged is not None:
            self._staged.unlink(missing_ok=True)


@dataclass
class Status:
    """A document's state as clients see it (a follower shows its primary's progress)."""

    record: DocumentRecord
    status: str
    pages_total: int
    pages_done: int
    error: dict[str, str] | None
    result_source: str  # the document whose pages hold the result
    source_updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "document_id": self.record.document_id,
            "status": self.status,
            "pages_total": self.pages_total,
            "pages_done": self.pages_done,
            "created_at": self.record.created_at.isoformat(),
            "updated_at": max(self.record.updated_at, self.source_updated_at).isoformat(),
            "error": self.error,
        }


def cache_key_for(sha256: str, options: PageOptions, pages: str | None = None) -> str:
    fields = {"sha256": sha256, "options": asdict(options), "v": PIPELINE_VERSION}
    if pages:  # absent for whole documents, so their keys stay what they were
        fields["pages"] = pages
    canonical = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Orchestrator:
    def __init__(self, store: DocumentStore, queue: JobQueue, cache: Cache,
                 inspect: Callable[[Path], DocumentInfo], result_cache_ttl_s: int = 600):
        self.store, self.queue, self.cache, self.inspect = store, queue, cache, inspect
        self.result_cache_ttl_s = result_cache_ttl_s

    # -- submit --------------------------------------------------------------------------------
    def submit(self, upload: Upload, document_id: str | None, language: str, mode: str,
               pages: str | None = None) -> tuple[Status, bool]:
        """Accept a document (only the pages `pages` names, e.g. `1-3,7`, when given). Returns its status
        and whether it was newly created. Raises DocumentError (bad input), Conflict, StoreUnavailable."""
        return self._submit(upload.sha256, document_id, language, mode,
                            lambda record: self._accept(record, upload), upload.size_bytes, upload.filename, pages)

    def submit_known(self, sha256: str, document_id: str | None, language: str, mode: str,
                     pages: str | None = None) -> tuple[Status, bool]:
        """Accept a document by the SHA-256 of bytes uploaded before with the same options: it shares
        that upload's result (or its computation, while running). Raises UnknownContent as well."""
        def follow(record: DocumentRecord) -> DocumentRecord:
            primary = self.store.primary_of(record.cache_key)
            source = self.store.get(primary) if primary else None
            if source is None or source.status == FAILED:
                raise UnknownContent(
                    f"This service has no document with SHA-256 {sha256} and these options (language, mode) "
                    "that is processed or being processed; upload the file instead.")
            record.media_type, record.pages_total = source.media_type, source.pages_total
            record.size_bytes, record.result_of = source.size_bytes, source.document_id
            self.store.create(record, None)
            return source

        return self._submit(sha256, document_id, language, mode, follow, 0, None, pages)

    def _submit(self, sha256: str, document_id: str | None, language: str, mode: str,
                accept: Callable[[DocumentRecord], DocumentRecord], size_bytes: int,
                filename: str | None, pages: str | None = None) -> tuple[Status, bool]:
        options = PageOptions(language=language, mode=mode)
        validate_options(options)
        pages = canonical_page_ranges(pages) if pages is not None else None  # a bad range: 422 before any work
        key = cache_key_for(sha256, options, pages)

        document_id = document_id or uuid.uuid4().hex
        existing = self.store.get(document_id)
        if existing is not None:
            return self._same_or_conflict(existing, key), False
        record = DocumentRecord(
            document_id=document_id, content_sha256=sha256, cache_key=key,
            # The runner takes the page selection out of the options; pages_total then counts the selection.
            options={**asdict(options), "pages": pages} if pages else asdict(options),
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
        if record.options.get("pages"):  # only now is the page count known: beyond it is a 422
            record.pages_total = len(select_pages(record.options["pages"], info.page_count))
        self.store.create(record, upload.path)
        key, document_id = record.cache_key, record.document_id
        primary = self.store.claim_primary(key, document_id)
        if primary != document_id:
            other = self.store.get(primary)
            if other is None or other.status == FAILED:
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
        return record if record is not None and record.status == COMPLETED else None

    def _same_or_conflict(self, existing: DocumentRecord | None, key: str) -> Status:
        if existing is None or existing.cache_key != key:
            raise Conflict("A document with this document_id exists with different content or options; "
                           "choose another document_id.")
        return self.status(existing.document_id)

    def _enqueue(self, document_id: str) -> None:
        try:
            self.queue.enqueue(document_id)
        except Exception as error:  # the record is durable: the reconciler queues it again later
            log.warning("could not queue %s now (%s); the reconciler will", document_id, error)

    # -- read ----------------------------------------------------------------------------------
    def status(self, document_id: str) -> Status:
        record = self.store.get(document_id)
        if record is None:
            raise NotFound(document_id)
        source = record
        if record.result_of:
            source = self.store.get(record.result_of) or record
        return self._status_of(record, source)

    @staticmethod
    def _status_of(record: DocumentRecord, source: DocumentRecord) -> Status:
        return Status(record=record, status=source.status, pages_total=source.pages_total,
                      pages_done=source.pages_done, error=source.error, result_source=source.document_id,
                      source_updated_at=source.updated_at)

    def pages(self, status: Status, words: bool = True) -> list[dict[str, Any]]:
        """The completed document's pages, with or without their words (served from the cache when it
        has them). Cached apart: words are most of a page's JSON, and most clients never ask for them."""
        key = f"result:{status.record.cache_key}:{'words' if words else 'text'}"
        cached = self.cache.get(key)
        if cached is not None:
            return json.loads(cached)
        pages = list(self.store.pages(status.result_source))
        if not words:
            pages = [{name: value for name, value in page.items() if name != "words"} for page in pages]
        if status.status == COMPLETED and self.result_cache_ttl_s:
            encoded = json.dumps(pages).encode()
            if len(encoded) <= MAX_CACHED_RESULT_BYTES:  # a 2000-page book stays in the store only
                self.cache.set(key, encoded, self.result_cache_ttl_s)
        return pages

    def original(self, status: Status) -> contextlib.AbstractContextManager[Path]:
        return self.store.open_upload(status.result_source)

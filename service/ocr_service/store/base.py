"""What every store adapter offers: document records, per-page results, uploaded bytes, a cache.

The embedded adapter (SQLite + files) and the production adapter (MongoDB + GridFS) implement
these; the API and the workers only ever talk to these interfaces.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

QUEUED, PROCESSING, COMPLETED, FAILED = "queued", "processing", "completed", "failed"
UNFINISHED = (QUEUED, PROCESSING)


def utcnow() -> datetime:
    # Millisecond precision: what MongoDB keeps, so both stores answer alike.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class StoreUnavailable(Exception):
    """The backing database does not answer; the caller should retry later (HTTP 503)."""

    def __init__(self, dependency: str, detail: str):
        super().__init__(f"{dependency} is unavailable: {detail}")
        self.dependency = dependency
        self.detail = detail


class DuplicateDocument(Exception):
    """A document with this id exists already."""


@dataclass
class DocumentRecord:
    document_id: str
    content_sha256: str
    cache_key: str
    options: dict[str, Any]
    filename: str | None
    media_type: str
    size_bytes: int
    pages_total: int
    status: str = QUEUED
    pages_done: int = 0
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    error: dict[str, str] | None = None
    # Set when this upload's result is another document's (same bytes and options): no second OCR.
    result_of: str | None = None
    attempts: int = 0
    lease_owner: str | None = None
    lease_until: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        # Shallow (dataclasses.asdict deep-copies: ~6 % of a re-submission's request time); the nested
        # options and error dicts are copied one level, which is all they have.
        return {name: dict(value) if isinstance(value, dict) else value for name, value in vars(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DocumentRecord:
        names = cls.__dataclass_fields__.keys()
        record = cls(**{k: v for k, v in data.items() if k in names})
        for name in ("created_at", "updated_at", "lease_until"):
            value = getattr(record, name)
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            if isinstance(value, datetime) and value.tzinfo is None:
                value = value.replace(tzinfo=UTC)  # MongoDB hands back naive UTC
            setattr(record, name, value)
        return record


class DocumentStore(ABC):
    """Documents, their per-page results and their uploaded bytes. The source of truth."""

    # True when reads are local and never wait on a network or a writer: the API then answers status
    # calls on its event loop instead of handing each to a thread (a thread hop costs milliseconds of
    # tail latency while OCR keeps every core busy).
    quick_reads: bool = False

    name: str

    @abstractmethod
    def create(self, record: DocumentRecord, upload: Path | None) -> None:
        """Store the upload's bytes, then the record (so a record never points at missing bytes).
        A follower of a completed document (result_of set) needs no bytes: upload is None.
        Raises DuplicateDocument when the id exists."""

    @abstractmethod
    def get(self, document_id: str) -> DocumentRecord | None: ...

    @abstractmethod
    def claim_primary(self, cache_key: str, document_id: str) -> str:
        """Make document_id the one that computes the result for cache_key, unless another
        unfailed document is already; return whichever is primary. Atomic across instances."""

    @abstractmethod
    def primary_of(self, cache_key: str) -> str | None:
        """The document computing (or that computed) the result for cache_key, if any."""

    @abstractmethod
    def release_primary(self, cache_key: str, document_id: str) -> None:
        """Forget document_id as primary for cache_key (it failed), so a new upload retries."""

    @abstractmethod
    def follow(self, document_id: str, primary: str) -> None:
        """Mark document_id as taking its result from primary (it is then never processed)."""

    @abstractmethod
    def claim(self, document_id: str, owner: str, lease_s: float) -> DocumentRecord | None:
        """Take an unfinished document for processing unless another live owner holds it.
        Sets status processing, bumps attempts, returns the record; None when not claimable."""

    @abstractmethod
    def renew(self, document_id: str, owner: str, lease_s: float) -> bool: ...

    @abstractmethod
    def save_page(self, document_id: str, page: dict[str, Any]) -> None:
        """Upsert one page's result (idempotent on redelivery) and update pages_done."""

    @abstractmethod
    def page_numbers(self, document_id: str) -> set[int]: ...

    @abstractmethod
    def pages(self, document_id: str) -> Iterator[dict[str, Any]]:
        """Page results in page order."""

    @abstractmethod
    def finish(self, document_id: str, owner: str | None, status: str,
               error: dict[str, str] | None = None) -> None:
        """Move to completed or failed and drop the lease."""

    @abstractmethod
    def release(self, document_id: str, owner: str) -> None:
        """Give the document back to the queue (status queued) after a transient error."""

    @abstractmethod
    def unfinished(self, stale_before: datetime | None = None) -> list[DocumentRecord]:
        """Queued/processing documents that compute their own result and were last
        updated (a live worker renews its lease, which updates them) before stale_before;
        all of them when None."""

    @abstractmethod
    def open_upload(self, document_id: str) -> contextlib.AbstractContextManager[Path]:
        """A local path holding the uploaded bytes for the duration of the context."""

    @abstractmethod
    def ping(self) -> None:
        """Raise StoreUnavailable when the store does not answer."""

    def close(self) -> None:
        pass


class Cache(ABC):
    """A small key/value cache with expiry; losing it never loses data."""

    quick_reads: bool = False  # as DocumentStore.quick_reads: in-process, never waits on a network

    @abstractmethod
    def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    def set(self, key: str, value: bytes, ttl_s: int) -> None: ...

    def ping(self) -> None:
        pass

    def close(self) -> None:
        pass

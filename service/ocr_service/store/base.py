"""What every store adapter offers: document records, per-page results, uploaded bytes, a cache.

The embedded adapter (SQLite + files) and the production adapter (MongoDB + GridFS) implement
these; the API and the workers only ever talk to these interfaces.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ..domain import DocumentRecord, DocumentStatus


class DocumentStore(ABC):
    """Documents, their per-page results and their uploaded bytes. The source of truth."""

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
    def finish(self, document_id: str, owner: str | None, status: DocumentStatus,
               error: dict[str, str] | None = None) -> bool:
        """Move to a finished status and drop the lease; with an owner, only while that owner holds
        the lease. Returns whether the record changed."""

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

    @abstractmethod
    def get(self, key: str) -> bytes | None: ...

    @abstractmethod
    def set(self, key: str, value: bytes, ttl_s: int) -> None: ...

    def ping(self) -> None:
        pass

    def close(self) -> None:
        pass

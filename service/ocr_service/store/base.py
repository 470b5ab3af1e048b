"""What every store adapter offers: document records, per-page results, uploaded bytes, API keys, a cache.

The embedded adapter (SQLite + files) and the production adapter (MongoDB + GridFS) implement
these; the orchestrator and the workers only ever talk to these interfaces. Documents are named by
their storage key (`DocumentRecord.key`: the tenant and the document id), never by the bare id.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..domain import ApiKey, DocumentRecord, DocumentStatus, WebhookDelivery


@dataclass
class BulkDocument:
    """One document of a bulk insert: its record, its page results, and its uploaded bytes when it has
    them (a document imported without them has no original: its searchable PDF cannot be built)."""

    record: DocumentRecord
    pages: Sequence[dict[str, Any]] = ()
    upload: Path | None = None


def may_be_primary(record: DocumentRecord) -> bool:
    """Whether a stored record holds (or will compute) the result of its cache key: a bulk insert makes
    it the primary, as an upload's acceptance would have."""
    return not record.result_of and record.status not in (DocumentStatus.FAILED, DocumentStatus.CANCELLED)


# Documents per write of a bulk insert: large enough that per-write costs (a commit, a round trip)
# vanish, small enough that a batch's rows and pages stay a few megabytes.
BULK_BATCH = 10_000
# Pages read per query when a document's pages are iterated: enough to amortise the query, few enough
# that a long document's results are never all in memory.
PAGES_PER_READ = 64


class DocumentStore(ABC):
    """Documents, their per-page results and their uploaded bytes. The source of truth."""

    name: str

    @abstractmethod
    def create(self, record: DocumentRecord, upload: Path | None) -> None:
        """Store the upload's bytes, then the record (so a record never points at missing bytes).
        A follower of a completed document (result_of set) needs no bytes: upload is None.
        Raises DuplicateDocument when the key exists."""

    @abstractmethod
    def insert_many(self, documents: Iterable[BulkDocument], batch: int = BULK_BATCH) -> int:
        """Store many documents at once, `batch` to a write (imports, and filling a store to measure it
        at size): far faster than `create` and `save_page` one by one. Records are stored as they are
        (status, pages_done, times). A key that exists already is skipped, so an interrupted import can
        be run again; returns how many were stored. A document that computes its own result (no
        result_of) and did not fail becomes the primary of its cache key unless there is one, so a
        later upload of the same bytes reuses it. Nothing is queued: an unfinished document is picked
        up by the queue's recovery (at start in embedded mode, by the reconciler in production)."""

    @abstractmethod
    def get(self, key: str) -> DocumentRecord | None:
        """The record, deleted ones included (callers that answer users skip those)."""

    @abstractmethod
    def claim_primary(self, cache_key: str, key: str) -> str:
        """Make the document `key` the one that computes the result for cache_key, unless another
        unfailed document is already; return whichever is primary. Atomic across instances."""

    @abstractmethod
    def primary_of(self, cache_key: str) -> str | None:
        """The document computing (or that computed) the result for cache_key, if any."""

    @abstractmethod
    def release_primary(self, cache_key: str, key: str) -> None:
        """Forget `key` as primary for cache_key (it failed, or is gone), so a new upload computes again."""

    @abstractmethod
    def follow(self, key: str, primary: str) -> None:
        """Mark the document as taking its result from primary (it is then never processed)."""

    @abstractmethod
    def claim(self, key: str, owner: str, lease_s: float) -> DocumentRecord | None:
        """Take an unfinished document for processing unless another live owner holds it.
        Sets status processing, bumps attempts, returns the record; None when not claimable."""

    @abstractmethod
    def renew(self, key: str, owner: str, lease_s: float) -> bool: ...

    @abstractmethod
    def save_page(self, key: str, page: dict[str, Any]) -> DocumentStatus | None:
        """Upsert one page's result (idempotent on redelivery) and update pages_done. Returns the
        document's status after the write (a worker stops when it reads `cancelled`); None if gone."""

    @abstractmethod
    def page_numbers(self, key: str) -> set[int]: ...

    @abstractmethod
    def pages(self, key: str, words: bool = True) -> Iterator[dict[str, Any]]:
        """Page results in page order, read lazily a batch at a time (a 2,000-page document never sits in
        memory whole); without their `words` when `words` is false (most of a page's bytes)."""

    @abstractmethod
    def finish(self, key: str, owner: str | None, status: DocumentStatus,
               error: dict[str, str] | None = None, expires_at: datetime | None = None) -> bool:
        """Move to a finished status and drop the lease; with an owner, only while that owner holds
        the lease and the document is processing. Returns whether the record changed."""

    @abstractmethod
    def cancel(self, key: str, expires_at: datetime | None) -> DocumentRecord | None:
        """Cancel an unfinished document (a worker stops after its page in flight). Returns the
        record after the change, or None when it was finished already or is gone."""

    @abstractmethod
    def release(self, key: str, owner: str) -> bool:
        """Give the document back to the queue (status queued), while `owner` holds its lease: after a
        transient error, or when the owner died. Returns whether it did (only one caller wins)."""

    @abstractmethod
    def unfinished(self, stale_before: datetime | None = None,
                   status: DocumentStatus | None = None) -> list[DocumentRecord]:
        """Queued/processing documents (only those in `status` when given) that compute their own result
        and were last updated (a live worker renews its lease, which updates them) before stale_before;
        all of them when None."""

    @abstractmethod
    def queue_stats(self) -> tuple[int, datetime | None]:
        """How many documents wait in status queued, of every tenant, that compute their own result (not
        followers), and when the oldest of them was created (None when none waits). For the metrics."""

    @abstractmethod
    def open_upload(self, key: str) -> contextlib.AbstractContextManager[Path]:
        """A local path holding the uploaded bytes for the duration of the context."""

    # -- lifecycle ---------------------------------------------------------------------------------
    @abstractmethod
    def followers(self, key: str) -> list[str]:
        """Keys of the documents that take their result from `key`."""

    @abstractmethod
    def mark_deleted(self, key: str) -> None:
        """Hide the document (it is deleted) while followers still read its pages and bytes."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the record, its pages and its uploaded bytes. Idempotent."""

    @abstractmethod
    def list(self, tenant: str, status: DocumentStatus | None, limit: int,
             after: tuple[str, str] | None) -> list[DocumentRecord]:
        """The tenant's visible documents, newest first; `after` is the (created_at ISO, key) of the
        last one of the previous page."""

    @abstractmethod
    def expired(self, now: datetime, limit: int = 100) -> list[DocumentRecord]:
        """Documents whose expires_at has passed and that are not hidden as deleted (those go with their
        last follower)."""

    # -- API keys ----------------------------------------------------------------------------------
    @abstractmethod
    def add_key(self, key: ApiKey) -> None: ...

    @abstractmethod
    def find_key(self, key_sha256: str) -> ApiKey | None: ...

    @abstractmethod
    def list_keys(self) -> list[ApiKey]: ...

    @abstractmethod
    def revoke_key(self, key_id: str) -> bool:
        """Revoke the key; False when there is no such key."""

    @abstractmethod
    def has_keys(self) -> bool:
        """Whether any key that is not revoked exists."""

    # -- webhooks ----------------------------------------------------------------------------------
    @abstractmethod
    def add_delivery(self, delivery: WebhookDelivery) -> None:
        """Keep a document's event for delivery; a second one for the same document is ignored."""

    @abstractmethod
    def get_delivery(self, key: str) -> WebhookDelivery | None: ...

    @abstractmethod
    def claim_deliveries(self, owner: str, lease_s: float, now: float, limit: int) -> list[WebhookDelivery]:
        """Take up to `limit` pending deliveries that are due and not leased by a live owner, each atomically
        (two workers never take the same one while its lease runs)."""

    @abstractmethod
    def save_delivery(self, delivery: WebhookDelivery, owner: str) -> bool:
        """Record an attempt's outcome (status, attempts, next attempt, last error) and drop the lease,
        while `owner` still holds it. Returns whether it did."""

    @abstractmethod
    def webhook_secret(self, tenant: str, candidate: str) -> str:
        """The tenant's webhook signing secret; `candidate` becomes it when it has none (atomic)."""

    @abstractmethod
    def default_callback(self, tenant: str) -> str | None:
        """The callback URL the tenant's uploads use when they name none."""

    @abstractmethod
    def set_default_callback(self, tenant: str, url: str | None) -> None: ...

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

    @abstractmethod
    def delete(self, *keys: str) -> None: ...

    def ping(self) -> None:
        pass

    def close(self) -> None:
        pass

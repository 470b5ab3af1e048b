"""The service's core vocabulary: document statuses, the document record, an upload, the status view,
and every error the service raises on purpose. Everything else imports from here; this imports nothing
of the service."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO


class DocumentStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in FINISHED


UNFINISHED = (DocumentStatus.QUEUED, DocumentStatus.PROCESSING)
FINISHED = (DocumentStatus.COMPLETED, DocumentStatus.FAILED)


def utcnow() -> datetime:
    # Millisecond precision: what MongoDB keeps, so both stores answer alike.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


# -- errors ------------------------------------------------------------------------------------------
class DocumentError(Exception):
    """A problem with the document itself (never a bug of ours): the API maps it to a 4xx.

    `code` is machine-readable, `message` is a sentence a person can act on, `http_status` is 415 for
    an unsupported type and 422 for everything else.
    """

    def __init__(self, code: str, message: str, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status if http_status is not None else (415 if code == "unsupported_type" else 422)

    def __repr__(self) -> str:
        return f"DocumentError({self.code!r}, {self.message!r})"

    def __reduce__(self):  # survives pickling across the worker-process boundary
        return (DocumentError, (self.code, self.message, self.http_status))


class StoreUnavailable(Exception):
    """A backing service (database, queue, cache) does not answer; the caller should retry later (503)."""

    def __init__(self, dependency: str, detail: str):
        super().__init__(f"{dependency} is unavailable: {detail}")
        self.dependency = dependency
        self.detail = detail


class DuplicateDocument(Exception):
    """A document with this id exists already."""


class Conflict(Exception):
    """The document id exists with other bytes or options."""


class UnknownContent(Exception):
    """A document named by its SHA-256 whose bytes this service does not have (with those options)."""


class DocumentNotFound(Exception):
    """No document with this id."""

    def __init__(self, document_id: str):
        super().__init__(document_id)
        self.document_id = document_id


# -- records -----------------------------------------------------------------------------------------
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
    status: DocumentStatus = DocumentStatus.QUEUED
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
        # Shallow (dataclasses.asdict deep-copies: a measurable share of a re-submission's time); the
        # nested options and error dicts are copied one level, which is all they have.
        data = {name: dict(value) if isinstance(value, dict) else value for name, value in vars(self).items()}
        data["status"] = str(self.status)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DocumentRecord:
        names = cls.__dataclass_fields__.keys()
        record = cls(**{k: v for k, v in data.items() if k in names})
        record.status = DocumentStatus(record.status)
        for name in ("created_at", "updated_at", "lease_until"):
            value = getattr(record, name)
            if isinstance(value, str):
                value = datetime.fromisoformat(value)
            if isinstance(value, datetime) and value.tzinfo is None:
                value = value.replace(tzinfo=UTC)  # MongoDB hands back naive UTC
            setattr(record, name, value)
        return record


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
            try:
                with open(fd, "wb") as out:
                    self.source.seek(0)
                    shutil.copyfileobj(self.source, out, 1024 * 1024)
            except BaseException:  # a full disk: free what was written, or the next upload fails too
                Path(name).unlink(missing_ok=True)
                raise
            self._staged = Path(name)
        return self._staged

    def discard(self) -> None:
        if self._staged is not None:
            self._staged.unlink(missing_ok=True)


@dataclass
class StatusView:
    """A document's state as clients see it (a follower shows its primary's progress)."""

    record: DocumentRecord
    status: DocumentStatus
    pages_total: int
    pages_done: int
    error: dict[str, str] | None
    result_source: str  # the document whose pages hold the result
    source_updated_at: datetime

    @classmethod
    def of(cls, record: DocumentRecord, source: DocumentRecord) -> StatusView:
        return cls(record=record, status=source.status, pages_total=source.pages_total,
                   pages_done=source.pages_done, error=source.error, result_source=source.document_id,
                   source_updated_at=source.updated_at)

    @property
    def document_id(self) -> str:
        return self.record.document_id

    def to_json(self) -> dict[str, Any]:
        """The status answer's body, in the shape of the API's StatusResponse."""
        return {
            "document_id": self.record.document_id,
            "status": str(self.status),
            "pages_total": self.pages_total,
            "pages_done": self.pages_done,
            "created_at": self.record.created_at.isoformat(),
            "updated_at": max(self.record.updated_at, self.source_updated_at).isoformat(),
            "error": self.error,
        }

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
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


UNFINISHED = (DocumentStatus.QUEUED, DocumentStatus.PROCESSING)
FINISHED = (DocumentStatus.COMPLETED, DocumentStatus.FAILED, DocumentStatus.CANCELLED)

# The tenant of the `API_KEY` setting and of keyless calls. Its documents are stored under their own id,
# as before tenants existed; every other tenant's under "tenant:id" (ids never contain ":").
DEFAULT_TENANT = "default"
TENANT_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


def storage_key(tenant: str, document_id: str) -> str:
    """The key a document is stored under: unique across tenants, so ids are unique per tenant."""
    return document_id if tenant == DEFAULT_TENANT else f"{tenant}:{document_id}"


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


class InvalidCursor(Exception):
    """A list cursor this service did not give out."""


class Unauthorized(Exception):
    """No API key, or one that is not valid (unknown, revoked, malformed)."""


class Conflict(Exception):
    """The document id exists with other bytes or options."""


class UnknownContent(Exception):
    """A document named by its SHA-256 whose bytes this service does not have (with those options)."""


class DocumentNotFound(Exception):
    """No document with this id (for the caller's tenant: another tenant's looks exactly the same)."""

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
    tenant: str = DEFAULT_TENANT
    # When the finished document and its bytes are deleted (RETENTION_S after it finished); None: kept.
    expires_at: datetime | None = None
    # Deleted while other documents still take their result from it: invisible, removed with the last one.
    deleted: bool = False
    # Webhooks: where the "document ended" event goes, the caller's tag echoed in it, and the base URL the
    # event's result_url is built on (PUBLIC_URL, else the URL the upload came in on).
    callback_url: str | None = None
    client_tag: str | None = None
    public_base_url: str | None = None
    # The X-Request-ID of the upload: the workers' log lines about this document carry it.
    request_id: str | None = None

    @property
    def key(self) -> str:
        return storage_key(self.tenant, self.document_id)

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
        for name in ("created_at", "updated_at", "lease_until", "expires_at"):
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
    result_source: str  # the storage key of the document whose pages hold the result
    source_updated_at: datetime
    webhook: dict[str, Any] | None = None  # the "document ended" event's delivery state, with a callback_url

    @classmethod
    def of(cls, record: DocumentRecord, source: DocumentRecord) -> StatusView:
        return cls(record=record, status=source.status, pages_total=source.pages_total,
                   pages_done=source.pages_done, error=source.error, result_source=source.key,
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
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "error": self.error,
            "webhook": self.webhook,
        }

    @property
    def expires_at(self) -> datetime | None:
        return self.record.expires_at


@dataclass
class WebhookTarget:
    """Where an upload's "document ended" event goes (checked against the SSRF guard before it is kept)."""

    url: str
    client_tag: str | None
    public_base_url: str


@dataclass
class WebhookDelivery:
    """One document's "ended" event and its delivery state, kept in the store so any worker can deliver it
    (and retry it) after another one died. Times are epoch seconds."""

    key: str  # the document's storage key: one event per document
    tenant: str
    url: str
    payload: str  # the JSON body, fixed when the document ended (retries send the same bytes)
    message_id: str  # `webhook-id`: the same on every attempt, so receivers can drop duplicates
    created_at: float
    status: str = "pending"  # pending | delivered | failed
    attempts: int = 0
    next_attempt_at: float = 0.0
    lease_owner: str | None = None
    lease_until: float = 0.0
    last_error: str | None = None

    def state(self) -> dict[str, Any]:
        """What the status answer shows."""
        state: dict[str, Any] = {"status": self.status, "attempts": self.attempts}
        if self.last_error:
            state["last_error"] = self.last_error
        return state


@dataclass
class ApiKey:
    """An API key as stored: only its SHA-256 (keys are long random strings, so a fast hash is enough)."""

    key_id: str  # short, shown in listings and used to revoke
    tenant: str
    key_sha256: str
    created_at: datetime = field(default_factory=utcnow)
    revoked_at: datetime | None = None

"""Embedded store: SQLite for records and page results, plain files for uploads.

Needs no server and survives a restart. One process owns it (the embedded service): writes go
through one connection under a process-wide lock; reads use a connection per thread and take no
lock, since SQLite's write-ahead log lets readers see the last commit while a writer works.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..domain import (
    UNFINISHED,
    ApiKey,
    DocumentRecord,
    DocumentStatus,
    DuplicateDocument,
    WebhookDelivery,
    utcnow,
)
from .base import BULK_BATCH, PAGES_PER_READ, BulkDocument, Cache, DocumentStore, may_be_primary

# `document_id` columns hold storage keys (DocumentRecord.key): for the default tenant that is the id
# itself, as it was before tenants, so existing data needs no rewrite.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    document_id TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    cache_key   TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_status ON documents (status, updated_at);
CREATE INDEX IF NOT EXISTS documents_cache_key ON documents (cache_key);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id      TEXT PRIMARY KEY,
    key_sha256  TEXT NOT NULL UNIQUE,
    body        TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pages (
    document_id TEXT NOT NULL,
    number      INTEGER NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (document_id, number)
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    document_id TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    next_at     REAL NOT NULL,
    lease_until REAL NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (status, next_at);
CREATE TABLE IF NOT EXISTS tenant_settings (
    tenant         TEXT PRIMARY KEY,
    webhook_secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tenant_callbacks (
    tenant         TEXT PRIMARY KEY,
    callback_url   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS primaries (
    cache_key   TEXT PRIMARY KEY,
    document_id TEXT NOT NULL
);
"""

# Columns added after the first release: (name, declaration), added to older databases on open.
_ADDED_COLUMNS = (
    ("tenant", "TEXT NOT NULL DEFAULT 'default'"),
    ("created_at", "TEXT NOT NULL DEFAULT ''"),
    ("expires_at", "TEXT"),
    ("result_of", "TEXT"),
    ("deleted", "INTEGER NOT NULL DEFAULT 0"),
)
_INDEXES = """
CREATE INDEX IF NOT EXISTS documents_tenant_created ON documents (tenant, deleted, created_at, document_id);
CREATE INDEX IF NOT EXISTS documents_tenant_status ON documents (tenant, status, deleted, created_at, document_id);
CREATE INDEX IF NOT EXISTS documents_expires ON documents (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS documents_result_of ON documents (result_of) WHERE result_of IS NOT NULL;
CREATE INDEX IF NOT EXISTS primaries_document ON primaries (document_id);
"""


def _encode(record: DocumentRecord) -> str:
    return json.dumps(record.to_dict(), default=lambda v: v.isoformat())


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class LocalStore(DocumentStore):
    name = "local-store"
    def __init__(self, data_dir: Path):
        self.uploads = data_dir / "uploads"
        self.uploads.mkdir(parents=True, exist_ok=True)
        for leftover in self.uploads.glob("*.partial"):  # copies a crash interrupted; never accepted
            leftover.unlink()
        self._path = data_dir / "ocr.sqlite3"
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a 202 means the record is on disk
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(documents)")}
        for name, declaration in _ADDED_COLUMNS:
            if name not in have:
                self._db.execute(f"ALTER TABLE documents ADD COLUMN {name} {declaration}")
        self._db.executescript(_INDEXES)
        self._lock = threading.RLock()
        self._readers = threading.local()
        self._readers_lock = threading.Lock()
        self._reader_connections: list[sqlite3.Connection] = []

    @property
    def _reader(self) -> sqlite3.Connection:
        """This thread's read-only connection."""
        db = getattr(self._readers, "db", None)
        if db is None:
            db = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False,
                                 isolation_level=None)
            self._readers.db = db
            with self._readers_lock:  # not the writer's lock: a reader never waits for a write
                self._reader_connections.append(db)
        return db

    # -- helpers -------------------------------------------------------------------------------
    def _upload_path(self, key: str) -> Path:
        # Keys are [a-z0-9_-]+: and [A-Za-z0-9._-]+; the suffix keeps "." and ".." from naming a directory.
        return self.uploads / f"{key}.upload"

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _load(self, db: sqlite3.Connection, key: str) -> DocumentRecord | None:
        row = db.execute("SELECT body FROM documents WHERE document_id = ?", (key,)).fetchone()
        return DocumentRecord.from_dict(json.loads(row[0])) if row else None

    def _write(self, db: sqlite3.Connection, record: DocumentRecord) -> None:
        db.execute(
            "UPDATE documents SET status = ?, updated_at = ?, body = ?, expires_at = ?, result_of = ?, deleted = ? "
            "WHERE document_id = ?",
            (record.status.value, record.updated_at.isoformat(), _encode(record), _iso(record.expires_at),
             record.result_of, int(record.deleted), record.key),
        )

    def _update(self, key: str, change: Callable[[DocumentRecord], bool]) -> DocumentRecord | None:
        """Apply change to the record in one transaction; it returns False to leave it as it was."""
        with self._transaction() as db:
            record = self._load(db, key)
            if record is None or not change(record):
                return None
            record.updated_at = utcnow()
            self._write(db, record)
            return record

    # -- DocumentStore -------------------------------------------------------------------------
    def _copy_synced(self, upload: Path) -> Path:
        fd, name = tempfile.mkstemp(suffix=".partial", dir=self.uploads)
        try:
            with open(fd, "wb") as out, open(upload, "rb") as source:
                shutil.copyfileobj(source, out)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:  # a full disk: free what was written, or the next upload fails too
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    def _sync_uploads_dir(self) -> None:
        fd = os.open(self.uploads, os.O_RDONLY)
        try:
            os.fsync(fd)  # the rename is on disk too before the record says the upload exists
        finally:
            os.close(fd)

    def create(self, record: DocumentRecord, upload: Path | None) -> None:
        # The bytes are copied before taking the lock: a large upload must not stall other writers.
        copy = self._copy_synced(upload) if upload is not None else None
        try:
            with self._lock:
                if self._load(self._db, record.key) is not None:
                    raise DuplicateDocument(record.document_id)
                if copy is not None:
                    copy.replace(self._upload_path(record.key))
                    self._sync_uploads_dir()
                try:
                    with self._transaction() as db:
                        db.execute(
                            "INSERT INTO documents (document_id, status, cache_key, updated_at, body, tenant, "
                            "created_at, expires_at, result_of, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                            (record.key, record.status.value, record.cache_key, record.updated_at.isoformat(),
                             _encode(record), record.tenant, record.created_at.isoformat(),
                             _iso(record.expires_at), record.result_of),
                        )
                except sqlite3.IntegrityError:
                    raise DuplicateDocument(record.document_id) from None
        finally:
            if copy is not None:
                copy.unlink(missing_ok=True)  # moved into place, or not needed after all

    def insert_many(self, documents: Iterable[BulkDocument], batch: int = BULK_BATCH) -> int:
        stored, pending = 0, iter(documents)
        while chunk := list(itertools.islice(pending, batch)):
            stored += self._insert_batch(chunk)
        return stored

    def _insert_batch(self, chunk: list[BulkDocument]) -> int:
        """One transaction: the batch's records, pages and primaries (its bytes moved into place first)."""
        # As in create: the bytes are copied before taking the lock.
        copies = {item.record.key: self._copy_synced(item.upload) for item in chunk if item.upload is not None}
        moved: list[Path] = []
        try:
            with self._transaction() as db:
                existing = {key for (key,) in db.execute(
                    "SELECT document_id FROM documents WHERE document_id IN (SELECT value FROM json_each(?))",
                    (json.dumps([item.record.key for item in chunk]),))}
                new: dict[str, BulkDocument] = {}
                for item in chunk:  # the first of a key wins, as the unique key would decide
                    if item.record.key not in existing:
                        new.setdefault(item.record.key, item)
                try:
                    for key in new.keys() & copies.keys():
                        copies[key].replace(self._upload_path(key))
                        moved.append(self._upload_path(key))
                    if moved:
                        self._sync_uploads_dir()
                    self._bulk_rows(db, list(new.values()))
                except BaseException:
                    for path in moved:  # no record will point at them
                        path.unlink(missing_ok=True)
                    raise
            return len(new)
        finally:
            for copy in copies.values():
                copy.unlink(missing_ok=True)

    @staticmethod
    def _bulk_rows(db: sqlite3.Connection, items: list[BulkDocument]) -> None:
        db.executemany(
            "INSERT INTO documents (document_id, status, cache_key, updated_at, body, tenant, created_at, "
            "expires_at, result_of, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(r.key, r.status.value, r.cache_key, r.updated_at.isoformat(), _encode(r), r.tenant,
              r.created_at.isoformat(), _iso(r.expires_at), r.result_of, int(r.deleted))
             for r in (item.record for item in items)])
        db.executemany("INSERT OR REPLACE INTO pages (document_id, number, body) VALUES (?, ?, ?)",
                       [(item.record.key, page["number"], json.dumps(page)) for item in items for page in item.pages])
        db.executemany("INSERT OR IGNORE INTO primaries (cache_key, document_id) VALUES (?, ?)",
                       [(item.record.cache_key, item.record.key) for item in items if may_be_primary(item.record)])

    def get(self, key: str) -> DocumentRecord | None:
        return self._load(self._reader, key)

    def claim_primary(self, cache_key: str, key: str) -> str:
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO primaries (cache_key, document_id) VALUES (?, ?)", (cache_key, key))
            return db.execute("SELECT document_id FROM primaries WHERE cache_key = ?", (cache_key,)).fetchone()[0]

    def primary_of(self, cache_key: str) -> str | None:
        row = self._reader.execute("SELECT document_id FROM primaries WHERE cache_key = ?", (cache_key,)).fetchone()
        return row[0] if row else None

    def release_primary(self, cache_key: str, key: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM primaries WHERE cache_key = ? AND document_id = ?", (cache_key, key))

    def follow(self, key: str, primary: str) -> None:
        def point(record: DocumentRecord) -> bool:
            record.result_of = primary
            return True

        self._update(key, point)

    def claim(self, key: str, owner: str, lease_s: float) -> DocumentRecord | None:
        def take(record: DocumentRecord) -> bool:
            now = utcnow()
            held = record.lease_owner not in (None, owner) and record.lease_until and record.lease_until > now
            if record.status not in UNFINISHED or record.result_of or held:
                return False
            record.status = DocumentStatus.PROCESSING
            record.attempts += 1
            record.lease_owner, record.lease_until = owner, now + timedelta(seconds=lease_s)
            return True

        return self._update(key, take)

    def renew(self, key: str, owner: str, lease_s: float) -> bool:
        def extend(record: DocumentRecord) -> bool:
            if record.lease_owner != owner or record.status != DocumentStatus.PROCESSING:
                return False
            record.lease_until = utcnow() + timedelta(seconds=lease_s)
            return True

        return self._update(key, extend) is not None

    def save_page(self, key: str, page: dict[str, Any]) -> DocumentStatus | None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO pages (document_id, number, body) VALUES (?, ?, ?)",
                       (key, page["number"], json.dumps(page)))
            record = self._load(db, key)
            if record is None:
                return None
            (record.pages_done,) = db.execute("SELECT COUNT(*) FROM pages WHERE document_id = ?", (key,)).fetchone()
            record.updated_at = utcnow()
            self._write(db, record)
            return record.status

    def page_numbers(self, key: str) -> set[int]:
        rows = self._reader.execute("SELECT number FROM pages WHERE document_id = ?", (key,))
        return {number for (number,) in rows}

    def pages(self, key: str, words: bool = True) -> Iterator[dict[str, Any]]:
        # A batch per query, resumed after the last number: no statement stays open between batches, so
        # the caller may go on from another thread (a streamed answer does) and never holds a read snapshot.
        body = "body" if words else "json_remove(body, '$.words')"
        after = -(2**63)
        while True:
            rows = self._reader.execute(
                f"SELECT number, {body} FROM pages WHERE document_id = ? AND number > ? ORDER BY number LIMIT ?",
                (key, after, PAGES_PER_READ)).fetchall()
            for _, page in rows:
                yield json.loads(page)
            if len(rows) < PAGES_PER_READ:
                return
            after = rows[-1][0]

    def finish(self, key: str, owner: str | None, status: DocumentStatus,
               error: dict[str, str] | None = None, expires_at: datetime | None = None) -> bool:
        assert status.finished

        def end(record: DocumentRecord) -> bool:
            if owner is not None and (record.lease_owner != owner or record.status != DocumentStatus.PROCESSING):
                return False  # a worker whose lease ran out must not overwrite its successor's outcome
            record.status, record.error, record.expires_at = status, error, expires_at
            record.lease_owner = record.lease_until = None
            return True

        return self._update(key, end) is not None

    def cancel(self, key: str, expires_at: datetime | None) -> DocumentRecord | None:
        def stop(record: DocumentRecord) -> bool:
            if record.status not in UNFINISHED:
                return False
            record.status, record.expires_at = DocumentStatus.CANCELLED, expires_at
            record.lease_owner = record.lease_until = None
            return True

        return self._update(key, stop)

    def release(self, key: str, owner: str) -> bool:
        def give_back(record: DocumentRecord) -> bool:
            if record.lease_owner != owner:
                return False
            record.status, record.lease_owner, record.lease_until = DocumentStatus.QUEUED, None, None
            return True

        return self._update(key, give_back) is not None

    def unfinished(self, stale_before: datetime | None = None,
                   status: DocumentStatus | None = None) -> list[DocumentRecord]:
        statuses = [status] if status is not None else list(UNFINISHED)
        query = f"SELECT body FROM documents WHERE status IN ({', '.join('?' * len(statuses))})"
        params: tuple = tuple(s.value for s in statuses)
        if stale_before is not None:
            query, params = query + " AND updated_at < ?", params + (stale_before.isoformat(),)
        rows = self._reader.execute(query + " ORDER BY updated_at", params).fetchall()
        records = [DocumentRecord.from_dict(json.loads(body)) for (body,) in rows]
        return [record for record in records if not record.result_of]

    def queue_stats(self) -> tuple[int, datetime | None]:
        count, oldest = self._reader.execute(
            "SELECT COUNT(*), MIN(created_at) FROM documents WHERE status = ? AND result_of IS NULL AND deleted = 0",
            (DocumentStatus.QUEUED.value,)).fetchone()
        return count, datetime.fromisoformat(oldest) if oldest else None

    @contextlib.contextmanager
    def open_upload(self, key: str) -> Iterator[Path]:
        yield self._upload_path(key)

    # -- lifecycle -----------------------------------------------------------------------------
    def followers(self, key: str) -> list[str]:
        return [row[0] for row in self._reader.execute("SELECT document_id FROM documents WHERE result_of = ?", (key,))]

    def mark_deleted(self, key: str) -> None:
        def hide(record: DocumentRecord) -> bool:
            record.deleted = True
            return True

        self._update(key, hide)

    def delete(self, key: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM pages WHERE document_id = ?", (key,))
            db.execute("DELETE FROM primaries WHERE document_id = ?", (key,))
            db.execute("DELETE FROM documents WHERE document_id = ?", (key,))
            db.execute("DELETE FROM webhook_deliveries WHERE document_id = ?", (key,))
        self._upload_path(key).unlink(missing_ok=True)

    def list(self, tenant: str, status: DocumentStatus | None, limit: int,
             after: tuple[str, str] | None) -> list[DocumentRecord]:
        query, params = "SELECT body FROM documents WHERE tenant = ? AND deleted = 0", [tenant]
        if status is not None:
            query, params = query + " AND status = ?", [*params, status.value]
        if after is not None:
            # A row value: the index seeks to the cursor instead of walking the pages before it.
            query += " AND (created_at, document_id) < (?, ?)"
            params += [after[0], after[1]]
        rows = self._reader.execute(query + " ORDER BY created_at DESC, document_id DESC LIMIT ?",
                                    [*params, limit]).fetchall()
        return [DocumentRecord.from_dict(json.loads(body)) for (body,) in rows]

    def expired(self, now: datetime, limit: int = 100) -> list[DocumentRecord]:
        rows = self._reader.execute(
            "SELECT body FROM documents WHERE expires_at IS NOT NULL AND expires_at < ? AND deleted = 0 "
            "ORDER BY expires_at LIMIT ?",
            (now.isoformat(), limit)).fetchall()
        return [DocumentRecord.from_dict(json.loads(body)) for (body,) in rows]

    # -- API keys ------------------------------------------------------------------------------
    def add_key(self, key: ApiKey) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO api_keys (key_id, key_sha256, body) VALUES (?, ?, ?)",
                       (key.key_id, key.key_sha256, json.dumps(asdict(key), default=lambda v: v.isoformat())))

    def find_key(self, key_sha256: str) -> ApiKey | None:
        row = self._reader.execute("SELECT body FROM api_keys WHERE key_sha256 = ?", (key_sha256,)).fetchone()
        return _api_key(json.loads(row[0])) if row else None

    def list_keys(self) -> list[ApiKey]:
        return [_api_key(json.loads(body)) for (body,) in self._reader.execute("SELECT body FROM api_keys")]

    def revoke_key(self, key_id: str) -> bool:
        with self._transaction() as db:
            row = db.execute("SELECT body FROM api_keys WHERE key_id = ?", (key_id,)).fetchone()
            if row is None:
                return False
            key = _api_key(json.loads(row[0]))
            key.revoked_at = key.revoked_at or utcnow()
            db.execute("UPDATE api_keys SET body = ? WHERE key_id = ?",
                       (json.dumps(asdict(key), default=lambda v: v.isoformat()), key_id))
            return True

    def has_keys(self) -> bool:
        return any(key.revoked_at is None for key in self.list_keys())

    # -- webhooks ------------------------------------------------------------------------------
    def _put_delivery(self, db: sqlite3.Connection, delivery: WebhookDelivery, insert: bool) -> None:
        verb = "INSERT OR IGNORE" if insert else "REPLACE"
        db.execute(f"{verb} INTO webhook_deliveries (document_id, status, next_at, lease_until, body) "
                   "VALUES (?, ?, ?, ?, ?)",
                   (delivery.key, delivery.status, delivery.next_attempt_at, delivery.lease_until,
                    json.dumps(asdict(delivery))))

    def add_delivery(self, delivery: WebhookDelivery) -> None:
        with self._transaction() as db:
            self._put_delivery(db, delivery, insert=True)

    def get_delivery(self, key: str) -> WebhookDelivery | None:
        row = self._reader.execute("SELECT body FROM webhook_deliveries WHERE document_id = ?", (key,)).fetchone()
        return WebhookDelivery(**json.loads(row[0])) if row else None

    def claim_deliveries(self, owner: str, lease_s: float, now: float, limit: int) -> list[WebhookDelivery]:
        with self._transaction() as db:
            rows = db.execute("SELECT body FROM webhook_deliveries WHERE status = 'pending' AND next_at <= ? "
                              "AND lease_until < ? ORDER BY next_at LIMIT ?", (now, now, limit)).fetchall()
            claimed = []
            for (body,) in rows:
                delivery = WebhookDelivery(**json.loads(body))
                delivery.lease_owner, delivery.lease_until = owner, now + lease_s
                self._put_delivery(db, delivery, insert=False)
                claimed.append(delivery)
            return claimed

    def save_delivery(self, delivery: WebhookDelivery, owner: str) -> bool:
        with self._transaction() as db:
            row = db.execute("SELECT body FROM webhook_deliveries WHERE document_id = ?", (delivery.key,)).fetchone()
            if row is None or json.loads(row[0])["lease_owner"] != owner:
                return False
            delivery.lease_owner, delivery.lease_until = None, 0.0
            self._put_delivery(db, delivery, insert=False)
            return True

    def webhook_secret(self, tenant: str, candidate: str) -> str:
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO tenant_settings (tenant, webhook_secret) VALUES (?, ?)",
                       (tenant, candidate))
            return db.execute("SELECT webhook_secret FROM tenant_settings WHERE tenant = ?", (tenant,)).fetchone()[0]

    def default_callback(self, tenant: str) -> str | None:
        row = self._reader.execute("SELECT callback_url FROM tenant_callbacks WHERE tenant = ?", (tenant,)).fetchone()
        return row[0] if row else None

    def set_default_callback(self, tenant: str, url: str | None) -> None:
        with self._transaction() as db:
            if url is None:
                db.execute("DELETE FROM tenant_callbacks WHERE tenant = ?", (tenant,))
            else:
                db.execute("INSERT OR REPLACE INTO tenant_callbacks (tenant, callback_url) VALUES (?, ?)",
                           (tenant, url))

    def ping(self) -> None:
        self._reader.execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock, self._readers_lock:
            for db in [*self._reader_connections, self._db]:
                db.close()


def _api_key(data: dict[str, Any]) -> ApiKey:
    key = ApiKey(**data)
    key.created_at = datetime.fromisoformat(data["created_at"])
    key.revoked_at = datetime.fromisoformat(data["revoked_at"]) if data.get("revoked_at") else None
    return key


class MemoryCache(Cache):
    """In-process cache for the embedded mode: bounded in entries and in bytes, with expiry."""

    def __init__(self, max_entries: int = 256, max_bytes: int = 64 * 1024 * 1024):
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._max = max_entries
        self._max_bytes, self._bytes = max_bytes, 0
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] < time.monotonic():
                self._drop(key)
                return None
            return entry[1]

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        if len(value) > self._max_bytes:
            return
        with self._lock:
            self._drop(key)
            while self._entries and (len(self._entries) >= self._max or self._bytes + len(value) > self._max_bytes):
                self._drop(next(iter(self._entries)))  # oldest insertion first
            self._entries[key] = (time.monotonic() + ttl_s, value)
            self._bytes += len(value)

    def delete(self, *keys: str) -> None:
        with self._lock:
            for key in keys:
                self._drop(key)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[1])

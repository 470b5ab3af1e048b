"""Embedded store: SQLite for records and page results, plain files for uploads.

Needs no server and survives a restart. One process owns it (the embedded service): writes go
through one connection under a process-wide lock; reads use a connection per thread and take no
lock, since SQLite's write-ahead log lets readers see the last commit while a writer works.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ..domain import UNFINISHED, DocumentRecord, DocumentStatus, DuplicateDocument, utcnow
from .base import Cache, DocumentStore

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
CREATE TABLE IF NOT EXISTS pages (
    document_id TEXT NOT NULL,
    number      INTEGER NOT NULL,
    body        TEXT NOT NULL,
    PRIMARY KEY (document_id, number)
);
CREATE TABLE IF NOT EXISTS primaries (
    cache_key   TEXT PRIMARY KEY,
    document_id TEXT NOT NULL
);
"""


def _encode(record: DocumentRecord) -> str:
    return json.dumps(record.to_dict(), default=lambda v: v.isoformat())


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
    def _upload_path(self, document_id: str) -> Path:
        # Ids match [A-Za-z0-9._-]+; the suffix keeps "." and ".." from naming a directory.
        return self.uploads / f"{document_id}.upload"

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

    def _load(self, db: sqlite3.Connection, document_id: str) -> DocumentRecord | None:
        row = db.execute("SELECT body FROM documents WHERE document_id = ?", (document_id,)).fetchone()
        return DocumentRecord.from_dict(json.loads(row[0])) if row else None

    def _write(self, db: sqlite3.Connection, record: DocumentRecord) -> None:
        db.execute(
            "UPDATE documents SET status = ?, updated_at = ?, body = ? WHERE document_id = ?",
            (record.status.value, record.updated_at.isoformat(), _encode(record), record.document_id),
        )

    def _update(self, document_id: str, change: Callable[[DocumentRecord], bool]) -> DocumentRecord | None:
        """Apply change to the record in one transaction; it returns False to leave it as it was."""
        with self._transaction() as db:
            record = self._load(db, document_id)
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
                if self._load(self._db, record.document_id) is not None:
                    raise DuplicateDocument(record.document_id)
                if copy is not None:
                    copy.replace(self._upload_path(record.document_id))
                    self._sync_uploads_dir()
                try:
                    with self._transaction() as db:
                        db.execute(
                            "INSERT INTO documents (document_id, status, cache_key, updated_at, body) "
                            "VALUES (?, ?, ?, ?, ?)",
                            (record.document_id, record.status.value, record.cache_key,
                             record.updated_at.isoformat(), _encode(record)),
                        )
                except sqlite3.IntegrityError:
                    raise DuplicateDocument(record.document_id) from None
        finally:
            if copy is not None:
                copy.unlink(missing_ok=True)  # moved into place, or not needed after all

    def get(self, document_id: str) -> DocumentRecord | None:
        return self._load(self._reader, document_id)

    def claim_primary(self, cache_key: str, document_id: str) -> str:
        with self._transaction() as db:
            db.execute("INSERT OR IGNORE INTO primaries (cache_key, document_id) VALUES (?, ?)",
                       (cache_key, document_id))
            return db.execute("SELECT document_id FROM primaries WHERE cache_key = ?", (cache_key,)).fetchone()[0]

    def primary_of(self, cache_key: str) -> str | None:
        row = self._reader.execute("SELECT document_id FROM primaries WHERE cache_key = ?", (cache_key,)).fetchone()
        return row[0] if row else None

    def release_primary(self, cache_key: str, document_id: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM primaries WHERE cache_key = ? AND document_id = ?", (cache_key, document_id))

    def follow(self, document_id: str, primary: str) -> None:
        def point(record: DocumentRecord) -> bool:
            record.result_of = primary
            return True

        self._update(document_id, point)

    def claim(self, document_id: str, owner: str, lease_s: float) -> DocumentRecord | None:
        def take(record: DocumentRecord) -> bool:
            now = utcnow()
            held = record.lease_owner not in (None, owner) and record.lease_until and record.lease_until > now
            if record.status not in UNFINISHED or record.result_of or held:
                return False
            record.status = DocumentStatus.PROCESSING
            record.attempts += 1
            record.lease_owner, record.lease_until = owner, now + timedelta(seconds=lease_s)
            return True

        return self._update(document_id, take)

    def renew(self, document_id: str, owner: str, lease_s: float) -> bool:
        def extend(record: DocumentRecord) -> bool:
            if record.lease_owner != owner or record.status != DocumentStatus.PROCESSING:
                return False
            record.lease_until = utcnow() + timedelta(seconds=lease_s)
            return True

        return self._update(document_id, extend) is not None

    def save_page(self, document_id: str, page: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO pages (document_id, number, body) VALUES (?, ?, ?)",
                       (document_id, page["number"], json.dumps(page)))
            record = self._load(db, document_id)
            if record is not None:
                (record.pages_done,) = db.execute(
                    "SELECT COUNT(*) FROM pages WHERE document_id = ?", (document_id,)).fetchone()
                record.updated_at = utcnow()
                self._write(db, record)

    def page_numbers(self, document_id: str) -> set[int]:
        rows = self._reader.execute("SELECT number FROM pages WHERE document_id = ?", (document_id,))
        return {number for (number,) in rows}

    def pages(self, document_id: str) -> Iterator[dict[str, Any]]:
        rows = self._reader.execute(
            "SELECT body FROM pages WHERE document_id = ? ORDER BY number", (document_id,)).fetchall()
        for (body,) in rows:
            yield json.loads(body)

    def finish(self, document_id: str, owner: str | None, status: DocumentStatus,
               error: dict[str, str] | None = None) -> bool:
        assert status.finished

        def end(record: DocumentRecord) -> bool:
            if owner is not None and (record.lease_owner != owner or record.status != DocumentStatus.PROCESSING):
                return False  # a worker whose lease ran out must not overwrite its successor's outcome
            record.status, record.error = status, error
            record.lease_owner = record.lease_until = None
            return True

        return self._update(document_id, end) is not None

    def release(self, document_id: str, owner: str) -> None:
        def give_back(record: DocumentRecord) -> bool:
            if record.lease_owner != owner:
                return False
            record.status, record.lease_owner, record.lease_until = DocumentStatus.QUEUED, None, None
            return True

        self._update(document_id, give_back)

    def unfinished(self, stale_before: datetime | None = None) -> list[DocumentRecord]:
        query = "SELECT body FROM documents WHERE status IN (?, ?)"
        params: tuple = tuple(status.value for status in UNFINISHED)
        if stale_before is not None:
            query, params = query + " AND updated_at < ?", params + (stale_before.isoformat(),)
        rows = self._reader.execute(query + " ORDER BY updated_at", params).fetchall()
        records = [DocumentRecord.from_dict(json.loads(body)) for (body,) in rows]
        return [record for record in records if not record.result_of]

    @contextlib.contextmanager
    def open_upload(self, document_id: str) -> Iterator[Path]:
        yield self._upload_path(document_id)

    def ping(self) -> None:
        self._reader.execute("SELECT 1").fetchone()

    def close(self) -> None:
        with self._lock, self._readers_lock:
            for db in [*self._reader_connections, self._db]:
                db.close()


class MemoryCache(Cache):
    """In-process cache for the embedded mode: bounded, with expiry."""

    def __init__(self, max_entries: int = 256):
        self._entries: dict[str, tuple[float, bytes]] = {}
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] < time.monotonic():
                self._entries.pop(key, None)
                return None
            return entry[1]

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.pop(next(iter(self._entries)))  # oldest insertion first
            self._entries[key] = (time.monotonic() + ttl_s, value)

"""Production store: MongoDB holds the records, the page results and (in GridFS) the uploads, so a
worker on any instance can process any document. MongoDB is the source of truth.

Times are stored as epoch seconds and "none" as empty strings: plain values that every MongoDB
wire-compatible server compares and matches the same way.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gridfs
import pymongo
from pymongo import ReturnDocument
from pymongo.errors import ConnectionFailure, DuplicateKeyError

from ..domain import UNFINISHED, DocumentRecord, DocumentStatus, DuplicateDocument, StoreUnavailable
from .base import DocumentStore

_TIMES = ("created_at", "updated_at", "lease_until")
_OPTIONAL_STRINGS = ("result_of", "lease_owner", "filename")


def _to_mongo(record: DocumentRecord) -> dict[str, Any]:
    doc = record.to_dict()
    for name in _TIMES:
        doc[name] = doc[name].timestamp() if doc[name] else 0.0
    for name in _OPTIONAL_STRINGS:
        doc[name] = doc[name] or ""
    return doc


def _from_mongo(doc: dict[str, Any]) -> DocumentRecord:
    doc = dict(doc)
    for name in _TIMES:
        doc[name] = datetime.fromtimestamp(doc[name], UTC) if doc.get(name) else None
    for name in _OPTIONAL_STRINGS:
        doc[name] = doc.get(name) or None
    return DocumentRecord.from_dict(doc)


def _unavailable_on_connection_errors(method):
    """Turn "MongoDB does not answer" into StoreUnavailable, which the API answers with 503."""

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except ConnectionFailure as error:
            raise StoreUnavailable("mongodb", str(error).split(",")[0]) from error

    return wrapper


@dataclass(frozen=True)
class MongoConfig:
    uri: str = field(repr=False)  # holds the password
    db_name: str = "ocr"
    collection: str = "documents"
    timeout_ms: int = 3000


class MongoStore(DocumentStore):
    name = "mongodb"

    def __init__(self, config: MongoConfig):
        self.client = pymongo.MongoClient(
            config.uri, serverSelectionTimeoutMS=config.timeout_ms, connectTimeoutMS=config.timeout_ms,
            socketTimeoutMS=60_000, retryWrites=True, appname="ocr-service",
        )
        db = self.client[config.db_name]
        name = config.collection
        self.documents = db[name]
        self.page_results = db[f"{name}_pages"]
        self.primaries = db[f"{name}_primaries"]
        self.uploads = gridfs.GridFSBucket(db, bucket_name=f"{name}_uploads")
        self._indexes_ready = False

    def _ensure_indexes(self) -> None:
        # Lazily, so the service starts (and answers 503) while MongoDB is still down.
        if self._indexes_ready:
            return
        self.documents.create_index("document_id", unique=True)
        self.documents.create_index("content_sha256")
        self.documents.create_index("cache_key")
        self.documents.create_index([("status", 1), ("updated_at", 1)])
        self.page_results.create_index([("document_id", 1), ("number", 1)], unique=True)
        self._indexes_ready = True

    def _update(self, query: dict[str, Any], change: dict[str, Any]) -> DocumentRecord | None:
        change.setdefault("$set", {})["updated_at"] = time.time()
        doc = self.documents.find_one_and_update(query, change, projection={"_id": False},
                                                 return_document=ReturnDocument.AFTER)
        return _from_mongo(doc) if doc else None

    @_unavailable_on_connection_errors
    def create(self, record: DocumentRecord, upload: Path | None) -> None:
        self._ensure_indexes()
        # No existence check first (the orchestrator made one): the unique index decides a race.
        file_id = None
        if upload is not None:
            with open(upload, "rb") as f:  # the bytes first: a record never points at missing bytes
                file_id = self.uploads.upload_from_stream(record.document_id, f)
        try:
            self.documents.insert_one(_to_mongo(record))
        except DuplicateKeyError:
            if file_id is not None:
                self.uploads.delete(file_id)
            raise DuplicateDocument(record.document_id) from None

    @_unavailable_on_connection_errors
    def get(self, document_id: str) -> DocumentRecord | None:
        doc = self.documents.find_one({"document_id": document_id}, projection={"_id": False})
        return _from_mongo(doc) if doc else None

    @_unavailable_on_connection_errors
    def claim_primary(self, cache_key: str, document_id: str) -> str:
        try:
            self.primaries.update_one({"_id": cache_key}, {"$setOnInsert": {"document_id": document_id}}, upsert=True)
        except DuplicateKeyError:  # two concurrent upserts: one inserts, the other loses the race
            pass
        return self.primaries.find_one({"_id": cache_key})["document_id"]

    @_unavailable_on_connection_errors
    def primary_of(self, cache_key: str) -> str | None:
        doc = self.primaries.find_one({"_id": cache_key})
        return doc["document_id"] if doc else None

    @_unavailable_on_connection_errors
    def release_primary(self, cache_key: str, document_id: str) -> None:
        self.primaries.delete_one({"_id": cache_key, "document_id": document_id})

    @_unavailable_on_connection_errors
    def follow(self, document_id: str, primary: str) -> None:
        self._update({"document_id": document_id}, {"$set": {"result_of": primary}})

    @_unavailable_on_connection_errors
    def claim(self, document_id: str, owner: str, lease_s: float) -> DocumentRecord | None:
        now = time.time()
        return self._update(
            {"document_id": document_id, "status": {"$in": [str(s) for s in UNFINISHED]}, "result_of": "",
             "$or": [{"lease_owner": ""}, {"lease_owner": owner}, {"lease_until": {"$lt": now}}]},
            {"$set": {"status": DocumentStatus.PROCESSING.value, "lease_owner": owner, "lease_until": now + lease_s},
             "$inc": {"attempts": 1}},
        )

    @_unavailable_on_connection_errors
    def renew(self, document_id: str, owner: str, lease_s: float) -> bool:
        held = {"document_id": document_id, "lease_owner": owner, "status": DocumentStatus.PROCESSING.value}
        return self._update(held, {"$set": {"lease_until": time.time() + lease_s}}) is not None

    @_unavailable_on_connection_errors
    def save_page(self, document_id: str, page: dict[str, Any]) -> None:
        saved = self.page_results.update_one({"document_id": document_id, "number": page["number"]},
                                             {"$set": {"page": page}}, upsert=True)
        # Count a page once: a redelivered page replaces its result without counting again.
        self._update({"document_id": document_id}, {"$inc": {"pages_done": 1 if saved.upserted_id else 0}})

    @_unavailable_on_connection_errors
    def page_numbers(self, document_id: str) -> set[int]:
        return {doc["number"] for doc in self.page_results.find({"document_id": document_id}, {"number": True})}

    @_unavailable_on_connection_errors
    def pages(self, document_id: str) -> Iterator[dict[str, Any]]:
        cursor = self.page_results.find({"document_id": document_id}, {"page": True}).sort("number", 1)
        return iter([doc["page"] for doc in cursor])

    @_unavailable_on_connection_errors
    def finish(self, document_id: str, owner: str | None, status: DocumentStatus,
               error: dict[str, str] | None = None) -> bool:
        assert status.finished
        query: dict[str, Any] = {"document_id": document_id}
        if owner is not None:  # a worker whose lease ran out must not overwrite its successor's outcome
            query.update(lease_owner=owner, status=DocumentStatus.PROCESSING.value)
        return self._update(query, {"$set": {"status": status.value, "error": error, "lease_owner": "",
                                             "lease_until": 0.0}}) is not None

    @_unavailable_on_connection_errors
    def release(self, document_id: str, owner: str) -> None:
        self._update({"document_id": document_id, "lease_owner": owner},
                     {"$set": {"status": DocumentStatus.QUEUED.value, "lease_owner": "", "lease_until": 0.0}})

    @_unavailable_on_connection_errors
    def unfinished(self, stale_before: datetime | None = None) -> list[DocumentRecord]:
        query: dict[str, Any] = {"status": {"$in": [str(s) for s in UNFINISHED]}, "result_of": ""}
        if stale_before is not None:
            query["updated_at"] = {"$lt": stale_before.timestamp()}
        return [_from_mongo(doc) for doc in self.documents.find(query, {"_id": False}).sort("updated_at", 1)]

    @contextlib.contextmanager
    def open_upload(self, document_id: str) -> Iterator[Path]:
        with tempfile.NamedTemporaryFile(prefix=f"ocr-{document_id[:32]}-") as spool:
            try:
                self.uploads.download_to_stream_by_name(document_id, spool)
            except ConnectionFailure as error:
                    raise StoreUnavailable("mongodb", str(error).split(",")[0]) from error
            spool.flush()
            yield Path(spool.name)

    @_unavailable_on_connection_errors
    def ping(self) -> None:
        self.client.admin.command("ping")
        self._ensure_indexes()

    def close(self) -> None:
        self.client.close()

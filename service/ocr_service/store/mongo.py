"""Production store: MongoDB holds the records, the page results and (in GridFS) the uploads, so a
worker on any instance can process any document. MongoDB is the source of truth.

Times are stored as epoch seconds and "none" as empty strings: plain values that every MongoDB
wire-compatible server compares and matches the same way.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gridfs
import pymongo
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError

from ..domain import (
    DEFAULT_TENANT,
    UNFINISHED,
    ApiKey,
    DocumentRecord,
    DocumentStatus,
    DuplicateDocument,
    StoreUnavailable,
    WebhookDelivery,
)
from .base import BULK_BATCH, PAGES_PER_READ, BulkDocument, DocumentStore, may_be_primary

_TIMES = ("created_at", "updated_at", "lease_until", "expires_at")
_OPTIONAL_STRINGS = ("result_of", "lease_owner", "filename")
# Stores made before retention was left to the sweeper alone carry this TTL index: dropped on start.
# A TTL index deletes only the record (its pages and bytes would stay behind, unreachable), and MongoDB
# emulations that purge on every read (nx-27017) scan the collection for it before each query.
_OLD_TTL_FIELD = "purge_after"


def _to_mongo(record: DocumentRecord) -> dict[str, Any]:
    doc = record.to_dict()
    doc["key"] = record.key  # documents are found by their storage key (ids are unique per tenant)
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


def _insert_new(collection, docs: list[dict[str, Any]]) -> set[int]:
    """Insert what is not there yet (unordered: one round trip); the positions of those skipped because
    their unique key exists."""
    if not docs:
        return set()
    try:
        collection.insert_many(docs, ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        if any(e.get("code") != 11000 for e in errors) or error.details.get("writeConcernErrors"):
            raise
        return {e["index"] for e in errors}
    return set()


def _api_key(doc: dict[str, Any]) -> ApiKey:
    return ApiKey(key_id=doc["_id"], tenant=doc["tenant"], key_sha256=doc["key_sha256"],
                  created_at=datetime.fromtimestamp(doc["created_at"], UTC),
                  revoked_at=datetime.fromtimestamp(doc["revoked_at"], UTC) if doc.get("revoked_at") else None)


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
        self.api_keys = db[f"{name}_api_keys"]
        self.tenant_callbacks = db[f"{name}_tenant_callbacks"]
        self.uploads = gridfs.GridFSBucket(db, bucket_name=f"{name}_uploads")
        self.deliveries = db[f"{name}_webhook_deliveries"]
        self.tenant_settings = db[f"{name}_tenant_settings"]
        self._indexes_ready = False

    def _ensure_indexes(self) -> None:
        # Lazily, so the service starts (and answers 503) while MongoDB is still down.
        if self._indexes_ready:
            return
        self._adopt_records_from_before_tenants()
        self.documents.create_index("key", unique=True)
        self.documents.create_index("document_id")
        self.documents.create_index("cache_key")
        self.documents.create_index("result_of")
        self.documents.create_index([("status", 1), ("updated_at", 1)])
        self.documents.create_index([("tenant", 1), ("deleted", 1), ("created_at", -1), ("key", -1)])
        self.documents.create_index([("tenant", 1), ("status", 1), ("deleted", 1), ("created_at", -1), ("key", -1)])
        self.documents.create_index("expires_at")
        for name, index in self.documents.index_information().items():
            if [field for field, _ in index["key"]] == [_OLD_TTL_FIELD]:
                self.documents.drop_index(name)
        self.page_results.create_index([("document_id", 1), ("number", 1)], unique=True)
        self.primaries.create_index("document_id")
        self.api_keys.create_index("key_sha256", unique=True)
        self.deliveries.create_index([("status", 1), ("next_attempt_at", 1)])
        self._indexes_ready = True

    def _adopt_records_from_before_tenants(self) -> None:
        """Records written before tenants existed belong to the default tenant and are stored under
        their id; ids were unique then, so their unique index gives way to the one on the key."""
        for doc in self.documents.find({"key": {"$exists": False}}, {"document_id": True}):
            self.documents.update_one({"_id": doc["_id"]}, {"$set": {
                "key": doc["document_id"], "tenant": DEFAULT_TENANT, "deleted": False, "expires_at": 0.0}})
        for name, spec in self.documents.index_information().items():
            if spec.get("unique") and spec.get("key") == [("document_id", 1)]:
                self.documents.drop_index(name)

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
                file_id = self.uploads.upload_from_stream(record.key, f)
        try:
            self.documents.insert_one(_to_mongo(record))
        except DuplicateKeyError:
            if file_id is not None:
                self.uploads.delete(file_id)
            raise DuplicateDocument(record.document_id) from None

    @_unavailable_on_connection_errors
    def insert_many(self, documents: Iterable[BulkDocument], batch: int = BULK_BATCH) -> int:
        self._ensure_indexes()
        stored, pending = 0, iter(documents)
        while chunk := list(itertools.islice(pending, batch)):
            stored += self._insert_batch(chunk)
        return stored

    def _insert_batch(self, chunk: list[BulkDocument]) -> int:
        # The bytes first, as in create; those of a record that turns out to exist go again.
        files = {n: self._upload_file(item) for n, item in enumerate(chunk) if item.upload is not None}
        skipped = _insert_new(self.documents, [_to_mongo(item.record) for item in chunk])
        for n in skipped & files.keys():
            self.uploads.delete(files[n])
        new = [item for n, item in enumerate(chunk) if n not in skipped]
        _insert_new(self.page_results, [{"document_id": item.record.key, "number": page["number"], "page": page}
                                        for item in new for page in item.pages])
        _insert_new(self.primaries, [{"_id": item.record.cache_key, "document_id": item.record.key}
                                     for item in new if may_be_primary(item.record)])
        return len(new)

    def _upload_file(self, item: BulkDocument):
        with open(item.upload, "rb") as f:
            return self.uploads.upload_from_stream(item.record.key, f)

    @_unavailable_on_connection_errors
    def get(self, key: str) -> DocumentRecord | None:
        doc = self.documents.find_one({"key": key}, projection={"_id": False})
        return _from_mongo(doc) if doc else None

    @_unavailable_on_connection_errors
    def claim_primary(self, cache_key: str, key: str) -> str:
        try:
            self.primaries.update_one({"_id": cache_key}, {"$setOnInsert": {"document_id": key}}, upsert=True)
        except DuplicateKeyError:  # two concurrent upserts: one inserts, the other loses the race
            pass
        return self.primaries.find_one({"_id": cache_key})["document_id"]

    @_unavailable_on_connection_errors
    def primary_of(self, cache_key: str) -> str | None:
        doc = self.primaries.find_one({"_id": cache_key})
        return doc["document_id"] if doc else None

    @_unavailable_on_connection_errors
    def release_primary(self, cache_key: str, key: str) -> None:
        self.primaries.delete_one({"_id": cache_key, "document_id": key})

    @_unavailable_on_connection_errors
    def follow(self, key: str, primary: str) -> None:
        self._update({"key": key}, {"$set": {"result_of": primary}})

    @_unavailable_on_connection_errors
    def claim(self, key: str, owner: str, lease_s: float) -> DocumentRecord | None:
        now = time.time()
        return self._update(
            {"key": key, "status": {"$in": [str(s) for s in UNFINISHED]}, "result_of": "",
             "$or": [{"lease_owner": ""}, {"lease_owner": owner}, {"lease_until": {"$lt": now}}]},
            {"$set": {"status": DocumentStatus.PROCESSING.value, "lease_owner": owner, "lease_until": now + lease_s},
             "$inc": {"attempts": 1}},
        )

    @_unavailable_on_connection_errors
    def renew(self, key: str, owner: str, lease_s: float) -> bool:
        held = {"key": key, "lease_owner": owner, "status": DocumentStatus.PROCESSING.value}
        return self._update(held, {"$set": {"lease_until": time.time() + lease_s}}) is not None

    @_unavailable_on_connection_errors
    def save_page(self, key: str, page: dict[str, Any]) -> DocumentStatus | None:
        saved = self.page_results.update_one({"document_id": key, "number": page["number"]},
                                             {"$set": {"page": page}}, upsert=True)
        # Count a page once: a redelivered page replaces its result without counting again.
        record = self._update({"key": key}, {"$inc": {"pages_done": 1 if saved.upserted_id else 0}})
        return record.status if record else None

    @_unavailable_on_connection_errors
    def page_numbers(self, key: str) -> set[int]:
        return {doc["number"] for doc in self.page_results.find({"document_id": key}, {"number": True})}

    def pages(self, key: str, words: bool = True) -> Iterator[dict[str, Any]]:
        # A batch per query, resumed after the last number (the unique index serves it): no cursor stays
        # open between batches, so a slow reader never meets a cursor the server timed out.
        after = -(2**63)
        while True:
            batch = self._page_batch(key, after, words)
            for doc in batch:
                if not words:  # the projection leaves them out on MongoDB; some wire-compatible servers ignore it
                    doc["page"].pop("words", None)
                yield doc["page"]
            if len(batch) < PAGES_PER_READ:
                return
            after = batch[-1]["number"]

    @_unavailable_on_connection_errors
    def _page_batch(self, key: str, after: int, words: bool) -> list[dict[str, Any]]:
        projection = {"page": True, "number": True} if words else {"page.words": False, "_id": False}
        return list(self.page_results.find({"document_id": key, "number": {"$gt": after}}, projection)
                    .sort("number", 1).limit(PAGES_PER_READ))

    @_unavailable_on_connection_errors
    def finish(self, key: str, owner: str | None, status: DocumentStatus,
               error: dict[str, str] | None = None, expires_at: datetime | None = None) -> bool:
        assert status.finished
        query: dict[str, Any] = {"key": key}
        if owner is not None:  # a worker whose lease ran out must not overwrite its successor's outcome
            query.update(lease_owner=owner, status=DocumentStatus.PROCESSING.value)
        return self._update(query, {"$set": {
            "status": status.value, "error": error, "lease_owner": "", "lease_until": 0.0,
            "expires_at": expires_at.timestamp() if expires_at else 0.0}}) is not None

    @_unavailable_on_connection_errors
    def cancel(self, key: str, expires_at: datetime | None) -> DocumentRecord | None:
        return self._update({"key": key, "status": {"$in": [s.value for s in UNFINISHED]}}, {"$set": {
            "status": DocumentStatus.CANCELLED.value, "lease_owner": "", "lease_until": 0.0,
            "expires_at": expires_at.timestamp() if expires_at else 0.0}})

    @_unavailable_on_connection_errors
    def release(self, key: str, owner: str) -> bool:
        back = {"$set": {"status": DocumentStatus.QUEUED.value, "lease_owner": "", "lease_until": 0.0}}
        return self._update({"key": key, "lease_owner": owner}, back) is not None

    @_unavailable_on_connection_errors
    def unfinished(self, stale_before: datetime | None = None,
                   status: DocumentStatus | None = None) -> list[DocumentRecord]:
        wanted: Any = status.value if status is not None else {"$in": [str(s) for s in UNFINISHED]}
        query: dict[str, Any] = {"status": wanted, "result_of": ""}
        if stale_before is not None:
            query["updated_at"] = {"$lt": stale_before.timestamp()}
        return [_from_mongo(doc) for doc in self.documents.find(query, {"_id": False}).sort("updated_at", 1)]

    @_unavailable_on_connection_errors
    def queue_stats(self) -> tuple[int, datetime | None]:
        query = {"status": DocumentStatus.QUEUED.value, "result_of": "", "deleted": False}
        count = self.documents.count_documents(query)
        oldest = self.documents.find_one(query, {"created_at": True}, sort=[("created_at", 1)]) if count else None
        return count, datetime.fromtimestamp(oldest["created_at"], UTC) if oldest else None

    @contextlib.contextmanager
    def open_upload(self, key: str) -> Iterator[Path]:
        with tempfile.NamedTemporaryFile(prefix="ocr-upload-") as spool:
            try:
                self.uploads.download_to_stream_by_name(key, spool)
            except ConnectionFailure as error:
                    raise StoreUnavailable("mongodb", str(error).split(",")[0]) from error
            spool.flush()
            yield Path(spool.name)

    # -- lifecycle -----------------------------------------------------------------------------
    @_unavailable_on_connection_errors
    def followers(self, key: str) -> list[str]:
        return [doc["key"] for doc in self.documents.find({"result_of": key}, {"key": True})]

    @_unavailable_on_connection_errors
    def mark_deleted(self, key: str) -> None:
        self._update({"key": key}, {"$set": {"deleted": True}})

    @_unavailable_on_connection_errors
    def delete(self, key: str) -> None:
        for stored in self.uploads.find({"filename": key}, no_cursor_timeout=False):
            self.uploads.delete(stored._id)  # the file and its chunks
        self.page_results.delete_many({"document_id": key})
        self.primaries.delete_many({"document_id": key})
        self.documents.delete_one({"key": key})
        self.deliveries.delete_one({"_id": key})

    @_unavailable_on_connection_errors
    def list(self, tenant: str, status: DocumentStatus | None, limit: int,
             after: tuple[str, str] | None) -> list[DocumentRecord]:
        query: dict[str, Any] = {"tenant": tenant, "deleted": False}
        if status is not None:
            query["status"] = status.value
        if after is not None:
            created = datetime.fromisoformat(after[0]).timestamp()
            # The range on created_at bounds the index scan at the cursor; the $or only sorts out its ties.
            query["created_at"] = {"$lte": created}
            query["$or"] = [{"created_at": {"$lt": created}}, {"key": {"$lt": after[1]}}]
        cursor = self.documents.find(query, {"_id": False}).sort([("created_at", -1), ("key", -1)]).limit(limit)
        return [_from_mongo(doc) for doc in cursor]

    @_unavailable_on_connection_errors
    def expired(self, now: datetime, limit: int = 100) -> list[DocumentRecord]:
        query = {"expires_at": {"$gt": 0.0, "$lt": now.timestamp()}, "deleted": False}
        cursor = self.documents.find(query, {"_id": False}).sort("expires_at", 1).limit(limit)
        return [_from_mongo(doc) for doc in cursor]

    # -- API keys ------------------------------------------------------------------------------
    @_unavailable_on_connection_errors
    def add_key(self, key: ApiKey) -> None:
        self._ensure_indexes()
        self.api_keys.insert_one({"_id": key.key_id, "tenant": key.tenant, "key_sha256": key.key_sha256,
                                  "created_at": key.created_at.timestamp(), "revoked_at": 0.0})

    @_unavailable_on_connection_errors
    def find_key(self, key_sha256: str) -> ApiKey | None:
        doc = self.api_keys.find_one({"key_sha256": key_sha256})
        return _api_key(doc) if doc else None

    @_unavailable_on_connection_errors
    def list_keys(self) -> list[ApiKey]:
        return [_api_key(doc) for doc in self.api_keys.find({})]

    @_unavailable_on_connection_errors
    def revoke_key(self, key_id: str) -> bool:
        found = self.api_keys.find_one({"_id": key_id})
        if found is None:
            return False
        if not found.get("revoked_at"):
            self.api_keys.update_one({"_id": key_id}, {"$set": {"revoked_at": time.time()}})
        return True

    @_unavailable_on_connection_errors
    def has_keys(self) -> bool:
        return self.api_keys.find_one({"revoked_at": 0.0}) is not None

    # -- webhooks ------------------------------------------------------------------------------
    @staticmethod
    def _delivery(doc: dict[str, Any]) -> WebhookDelivery:
        doc = {name: value for name, value in doc.items() if name != "_id"}
        doc["lease_owner"] = doc.get("lease_owner") or None
        return WebhookDelivery(**doc)

    @_unavailable_on_connection_errors
    def add_delivery(self, delivery: WebhookDelivery) -> None:
        self._ensure_indexes()
        doc = {**asdict(delivery), "lease_owner": ""}
        try:
            self.deliveries.update_one({"_id": delivery.key}, {"$setOnInsert": doc}, upsert=True)
        except DuplicateKeyError:  # two concurrent upserts: the first one's event stands
            pass

    @_unavailable_on_connection_errors
    def get_delivery(self, key: str) -> WebhookDelivery | None:
        doc = self.deliveries.find_one({"_id": key})
        return self._delivery(doc) if doc else None

    @_unavailable_on_connection_errors
    def claim_deliveries(self, owner: str, lease_s: float, now: float, limit: int) -> list[WebhookDelivery]:
        claimed = []
        for _ in range(limit):  # one atomic find-and-modify each: a delivery is never taken twice
            doc = self.deliveries.find_one_and_update(
                {"status": "pending", "next_attempt_at": {"$lte": now}, "lease_until": {"$lt": now}},
                {"$set": {"lease_owner": owner, "lease_until": now + lease_s}},
                sort=[("next_attempt_at", 1)], return_document=ReturnDocument.AFTER)
            if doc is None:
                break
            claimed.append(self._delivery(doc))
        return claimed

    @_unavailable_on_connection_errors
    def save_delivery(self, delivery: WebhookDelivery, owner: str) -> bool:
        done = self.deliveries.update_one({"_id": delivery.key, "lease_owner": owner}, {"$set": {
            "status": delivery.status, "attempts": delivery.attempts, "next_attempt_at": delivery.next_attempt_at,
            "last_error": delivery.last_error, "lease_owner": "", "lease_until": 0.0}})
        return done.matched_count == 1

    @_unavailable_on_connection_errors
    def webhook_secret(self, tenant: str, candidate: str) -> str:
        try:
            self.tenant_settings.update_one({"_id": tenant}, {"$setOnInsert": {"webhook_secret": candidate}},
                                            upsert=True)
        except DuplicateKeyError:
            pass
        return self.tenant_settings.find_one({"_id": tenant})["webhook_secret"]

    @_unavailable_on_connection_errors
    def default_callback(self, tenant: str) -> str | None:
        doc = self.tenant_callbacks.find_one({"_id": tenant})
        return doc["callback_url"] if doc else None

    @_unavailable_on_connection_errors
    def set_default_callback(self, tenant: str, url: str | None) -> None:
        if url is None:
            self.tenant_callbacks.delete_one({"_id": tenant})
        else:
            self.tenant_callbacks.update_one({"_id": tenant}, {"$set": {"callback_url": url}}, upsert=True)

    @_unavailable_on_connection_errors
    def ping(self) -> None:
        self.client.admin.command("ping")
        self._ensure_indexes()

    def close(self) -> None:
        self.client.close()

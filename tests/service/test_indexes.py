"""Every query the hot paths run is served by an index, in both stores, so their cost does not grow with
the number of documents stored.

The queries are not copied here: each hot-path call runs against a store filled through its bulk insert,
its statements (SQLite) or commands (MongoDB) are recorded as they go out, and each one's plan is read
back from the engine. A query added or changed later is checked the same way.

- SQLite: `EXPLAIN QUERY PLAN` of every recorded statement searches an index (or the primary key) and
  never scans a table.
- MongoDB: against a real mongod (`MONGO_TEST_URI`), `explain` of every recorded filter and sort shows an
  index scan and no COLLSCAN. nx-27017 answers `explain` with the plan of the SQLite query it translates a
  filter into (the filter only: it ignores the sort); it keeps an index for equalities and ranges on
  indexed fields, but turns booleans, `$in` and `$or` into scans whatever the indexes, so its plans say
  nothing about MongoDB's. There, each recorded query is checked against the collection's index list
  instead (an index leads with a field the filter constrains, and serves the sort after its equality
  fields), and `explain` is asserted for the lookups the status and submit calls make.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from pymongo import monitoring

from ocr_service.domain import ApiKey, DocumentRecord, DocumentStatus, WebhookDelivery, utcnow
from ocr_service.store.base import BulkDocument, DocumentStore
from tests.support.servers import mongo_uri

TENANTS = ("default", "acme", "globex")
SEEDED = 3000


def seeded_record(n: int) -> DocumentRecord:
    tenant = TENANTS[n % len(TENANTS)]
    created = utcnow() - timedelta(seconds=SEEDED - n)
    status = (DocumentStatus.COMPLETED, DocumentStatus.COMPLETED, DocumentStatus.FAILED, DocumentStatus.QUEUED)[n % 4]
    record = DocumentRecord(
        document_id=f"doc-{n:05d}", content_sha256=f"{n:064x}", cache_key=f"{n:064x}"[::-1],
        options={"language": "eng", "mode": "auto", "min_quality": "none"}, filename="scan.pdf",
        media_type="application/pdf", size_bytes=250_000, pages_total=1, status=status,
        pages_done=int(status == DocumentStatus.COMPLETED), created_at=created, updated_at=created, tenant=tenant,
        expires_at=created + timedelta(days=1) if n % 2 else None)
    return record


def seed(store: DocumentStore) -> None:
    store.insert_many(BulkDocument(record, [{"number": 1, "text": "seeded", "source": "ocr"}])
                      for record in map(seeded_record, range(SEEDED)))


def hot_calls(store: DocumentStore, upload) -> dict[str, Callable[[], object]]:
    """What the status, submit, claim, listing, reconciler, retention, webhook and auth paths ask the store."""
    completed, queued = seeded_record(1), seeded_record(3)
    fresh = DocumentRecord(document_id=f"new-{uuid.uuid4().hex[:8]}", content_sha256="cd" * 32,
                           cache_key="ef" * 32, options={"language": "eng"}, filename="a.pdf",
                           media_type="application/pdf", size_bytes=16, pages_total=1, tenant="acme")
    page = store.list("acme", DocumentStatus.COMPLETED, 3, None)[-1]
    store.add_delivery(WebhookDelivery(key=completed.key, tenant=completed.tenant, url="https://example.org/hook",
                                       payload="{}", message_id="msg-1", created_at=0.0))
    return {
        "status": lambda: store.get(completed.key),
        "submit: dedupe by content": lambda: store.primary_of(completed.cache_key),
        "submit: store": lambda: (store.create(fresh, upload), store.claim_primary(fresh.cache_key, fresh.key)),
        "submit: follow": lambda: store.follow(fresh.key, completed.key),
        "claim": lambda: store.claim(queued.key, "worker-a", 60),
        "renew": lambda: store.renew(queued.key, "worker-a", 60),
        "save page": lambda: store.save_page(queued.key, {"number": 1, "text": "x"}),
        "finish": lambda: store.finish(queued.key, "worker-a", DocumentStatus.COMPLETED),
        "list": lambda: store.list("acme", None, 11, None),
        "list by status, next page": lambda: store.list(
            "acme", DocumentStatus.COMPLETED, 11, (page.created_at.isoformat(), page.key)),
        "reconciler: stale": lambda: store.unfinished(stale_before=utcnow() - timedelta(seconds=60)),
        "reconciler: all": lambda: store.unfinished(),
        "metrics: backlog": lambda: store.queue_stats(),
        "retention: due": lambda: store.expired(utcnow() + timedelta(days=2)),
        "retention: followers": lambda: store.followers(completed.key),
        "retention: delete": lambda: store.delete(seeded_record(5).key),
        "webhooks: due": lambda: store.claim_deliveries("worker-a", 30, 1e12, 10),
        "webhooks: state": lambda: store.get_delivery(completed.key),
        "auth": lambda: store.find_key("00" * 32),
    }


@pytest.fixture
def upload(tmp_path):
    path = tmp_path / "upload.bin"
    path.write_bytes(b"%PDF-1.7 pretend")
    return path


# -- SQLite ---------------------------------------------------------------------------------------------
def test_sqlite_hot_queries_search_indexes(tmp_path, upload):
    from ocr_service.store.local import LocalStore

    store = LocalStore(tmp_path / "data")
    seed(store)
    store.add_key(ApiKey(key_id="k1", tenant="acme", key_sha256="11" * 32))
    calls = hot_calls(store, upload)
    statements: list[str] = []
    for connection in (store._db, store._reader):  # the writer, and this thread's reader
        connection.set_trace_callback(statements.append)
    plans: dict[str, list[tuple[str, list[str]]]] = {}
    try:
        for name, call in calls.items():
            statements.clear()
            call()
            queries = [s for s in statements if s.split()[0].upper() in ("SELECT", "UPDATE", "DELETE")]
            assert queries, f"{name}: no query recorded"
            plans[name] = [(q, [row[3] for row in store._db.execute(f"EXPLAIN QUERY PLAN {q}")]) for q in queries]
    finally:
        for connection in (store._db, store._reader):
            connection.set_trace_callback(None)
        store.close()

    for name, planned in plans.items():
        for query, plan in planned:
            scans = [line for line in plan if line.startswith("SCAN")]
            assert not scans, f"{name}: {query!r} scans: {plan}"
            assert any(line.startswith("SEARCH") and "USING" in line for line in plan), f"{name}: {query!r}: {plan}"
    # The documents table is searched by its indexes on the paths that matter most.
    joined = {name: " ".join(line for _, plan in planned for line in plan) for name, planned in plans.items()}
    assert "documents_tenant_created" in joined["list"]
    assert "(created_at,document_id)<(?,?)" in joined["list by status, next page"]
    assert "documents_status" in joined["reconciler: stale"]
    assert "documents_expires" in joined["retention: due"]
    assert "primaries_document" in joined["retention: delete"]


# -- MongoDB --------------------------------------------------------------------------------------------
class _Recorder(monitoring.CommandListener):
    """Records the commands MongoDB clients send while `active`, from the thread that activated it."""

    def __init__(self):
        self.active: threading.Thread | None = None
        self.commands: list[tuple[str, dict]] = []

    def started(self, event):
        if self.active is threading.current_thread():
            self.commands.append((event.command_name, dict(event.command)))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


_RECORDER = _Recorder()
monitoring.register(_RECORDER)  # clients made from now on report to it; it records only when asked


def _queries(command_name: str, command: dict) -> list[tuple[str, dict, dict]]:
    """(collection, filter, sort) of each query in a command."""
    collection = command.get(command_name)
    if command_name == "find":
        return [(collection, command.get("filter", {}), dict(command.get("sort") or {}))]
    if command_name == "findAndModify":
        return [(collection, command.get("query", {}), dict(command.get("sort") or {}))]
    if command_name in ("update", "delete"):
        return [(collection, statement["q"], {}) for statement in command.get(f"{command_name}s", [])]
    if command_name == "aggregate":
        first = command.get("pipeline", [{}])[0]
        return [(collection, first["$match"], {})] if "$match" in first else []
    if command_name == "count":
        return [(collection, command.get("query", {}), {})]
    return []


def _constrained(query: dict) -> tuple[set[str], set[str]]:
    """(fields matched by equality or $in, fields matched by a range) at the top level of a filter."""
    equal, ranged = set(), set()
    for name, value in query.items():
        if name.startswith("$"):
            continue
        if isinstance(value, dict) and not set(value) <= {"$in", "$eq"}:
            ranged.add(name)
        else:
            equal.add(name)
    return equal, ranged


def _served(indexes: list[list[str]], query: dict, sort: list[str]) -> bool:
    """An index leads with a field the filter constrains, and after its equality fields holds the sort."""
    equal, ranged = _constrained(query)
    for keys in indexes:
        if keys[0] not in equal | ranged:
            continue
        rest = list(keys)
        while rest and rest[0] in equal:
            rest.pop(0)
        if not sort or rest[:len(sort)] == sort:
            return True
    return False


def _plan_stages(plan) -> list[str]:
    if isinstance(plan, dict):
        found = [plan["stage"]] if "stage" in plan else []
        return found + [s for value in plan.values() for s in _plan_stages(value)]
    if isinstance(plan, list):
        return [s for value in plan for s in _plan_stages(value)]
    return []


# The lookups the status and submit calls make: nx-27017 keeps these on its indexes too.
NX_EXPLAINED = ("status", "submit: dedupe by content", "auth", "webhooks: state")
# Sorted in memory after the index found them: the queued documents only (the backlog, not the store).
SORTED_AFTER_INDEX = {"metrics: backlog"}


def test_mongo_hot_queries_use_indexes(mongo_server, upload):
    from ocr_service.store.mongo import MongoConfig, MongoStore

    store = MongoStore(MongoConfig(uri=mongo_uri(mongo_server), db_name=f"indexes_{uuid.uuid4().hex[:10]}"))
    try:
        seed(store)
        store.add_key(ApiKey(key_id="k1", tenant="acme", key_sha256="11" * 32))
        calls = hot_calls(store, upload)
        recorded: dict[str, list[tuple[str, dict, dict]]] = {}
        for name, call in calls.items():
            _RECORDER.commands, _RECORDER.active = [], threading.current_thread()
            try:
                call()
            finally:
                _RECORDER.active = None
            recorded[name] = [q for command in _RECORDER.commands for q in _queries(*command)]
            assert recorded[name], f"{name}: no query recorded"

        db = store.documents.database
        real = bool(os.environ.get("MONGO_TEST_URI"))
        for name, queries in recorded.items():
            for collection, query, sort in queries:
                if collection.endswith((".files", ".chunks")):
                    continue  # GridFS: the driver makes its indexes; nx-27017 serves these collections apart
                if real:
                    command = {"find": collection, "filter": query, **({"sort": sort} if sort else {})}
                    plan = db.command("explain", command)["queryPlanner"]["winningPlan"]
                    stages = _plan_stages(plan)
                    assert "COLLSCAN" not in stages, f"{name}: {collection} {query} scans: {plan}"
                    assert any("IXSCAN" in s or s in ("IDHACK", "EXPRESS_CLUSTERED_IXSCAN") for s in stages), \
                        f"{name}: {collection} {query}: {plan}"
                    continue
                indexes = [[key for key, _ in spec["key"]] for spec in db[collection].index_information().values()]
                used_sort = [] if name in SORTED_AFTER_INDEX else list(sort)
                assert _served(indexes, query, used_sort), f"{name}: no index serves {collection} {query} {sort}"
                if name in NX_EXPLAINED:
                    plan = db.command("explain", {"find": collection, "filter": query})["queryPlanner"]["winningPlan"]
                    details = [step.get("detail", "") for step in plan] if isinstance(plan, list) else [str(plan)]
                    assert any(d.startswith("SEARCH") and "INDEX" in d for d in details), f"{name}: {details}"
                    assert not any(d.startswith(f"SCAN {collection}") for d in details), f"{name}: {details}"
    finally:
        store.close()


def test_index_rule_tells_a_served_query_from_a_scan():
    """The rule the nx-27017 run relies on, on the shapes it decides."""
    listing = [["tenant", "deleted", "created_at", "key"]]
    assert _served(listing, {"tenant": "a", "deleted": False, "created_at": {"$lte": 1.0}}, ["created_at", "key"])
    assert not _served(listing, {"deleted": False}, [])  # does not lead with tenant
    assert not _served(listing, {"tenant": "a", "deleted": False}, ["updated_at"])  # sort not held
    assert not _served(listing, {"tenant": "a"}, ["created_at"])  # deleted sits between
    unfinished = {"status": {"$in": ["queued"]}, "updated_at": {"$lt": 5}}
    assert _served([["status", "updated_at"]], unfinished, ["updated_at"])

"""Both store adapters honour the same contract (SQLite on disk; MongoDB over TCP)."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest

from ocr_service.domain import DocumentRecord, DocumentStatus, DuplicateDocument, utcnow
from tests.support.servers import mongo_uri


@pytest.fixture(params=["local", "mongo"])
def store(request, tmp_path, mongo_server):
    if request.param == "local":
        from ocr_service.store.local import LocalStore

        store = LocalStore(tmp_path / "data")
    else:
        from ocr_service.store.mongo import MongoConfig, MongoStore

        store = MongoStore(MongoConfig(uri=mongo_uri(mongo_server), db_name=f"stores_{uuid.uuid4().hex[:10]}"))
    yield store
    store.close()


@pytest.fixture
def upload(tmp_path):
    path = tmp_path / "upload.bin"
    path.write_bytes(b"%PDF-1.7 pretend" * 1000)
    return path


def record(document_id: str = "doc-1", key: str = "key-1") -> DocumentRecord:
    return DocumentRecord(document_id=document_id, content_sha256="ab" * 32, cache_key=key,
                          options={"language": "eng", "mode": "auto"}, filename="a.pdf",
                          media_type="application/pdf", size_bytes=16000, pages_total=3)


def test_create_get_and_duplicate(store, upload):
    store.create(record(), upload)
    got = store.get("doc-1")
    assert got.status == DocumentStatus.QUEUED and got.pages_total == 3 and got.options["language"] == "eng"
    assert got.created_at.tzinfo is not None
    assert store.get("missing") is None
    with pytest.raises(DuplicateDocument):
        store.create(record(), upload)
    with store.open_upload("doc-1") as path:
        assert path.read_bytes() == upload.read_bytes()


def test_claim_is_exclusive_until_the_lease_ends(store, upload):
    store.create(record(), upload)
    first = store.claim("doc-1", "worker-a", lease_s=0.5)
    assert first.status == DocumentStatus.PROCESSING and first.attempts == 1
    assert store.claim("doc-1", "worker-b", lease_s=0.5) is None
    assert store.renew("doc-1", "worker-a", lease_s=0.5)
    assert not store.renew("doc-1", "worker-b", lease_s=0.5)
    time.sleep(0.7)
    taken = store.claim("doc-1", "worker-b", lease_s=5)
    assert taken.lease_owner == "worker-b" and taken.attempts == 2
    store.finish("doc-1", "worker-b", DocumentStatus.COMPLETED)
    assert store.claim("doc-1", "worker-b", lease_s=5) is None  # finished documents are never claimed


def test_pages_are_idempotent_and_ordered(store, upload):
    store.create(record(), upload)
    for number in (2, 1, 2):
        store.save_page("doc-1", {"number": number, "text": f"page {number}", "source": "ocr"})
    assert store.get("doc-1").pages_done == 2
    assert store.page_numbers("doc-1") == {1, 2}
    assert [page["number"] for page in store.pages("doc-1")] == [1, 2]


def test_primary_and_followers(store, upload):
    store.create(record("a"), upload)
    store.create(record("b"), upload)
    assert store.claim_primary("key-1", "a") == "a"
    assert store.claim_primary("key-1", "b") == "a"
    store.follow("b", "a")
    assert store.get("b").result_of == "a"
    assert store.claim("b", "w", 5) is None  # followers are never processed
    store.release_primary("key-1", "a")
    assert store.claim_primary("key-1", "b") == "b"


def test_unfinished_lists_stale_primaries_only(store, upload):
    store.create(record("a"), upload)
    store.create(record("b"), upload)
    store.create(record("c"), upload)
    store.follow("c", "a")
    store.claim("b", "w", 60)
    store.finish("b", "w", DocumentStatus.COMPLETED)
    assert [r.document_id for r in store.unfinished()] == ["a"]
    assert store.unfinished(stale_before=utcnow() - timedelta(seconds=60)) == []
    assert [r.document_id for r in store.unfinished(stale_before=utcnow() + timedelta(seconds=1))] == ["a"]
    assert store.unfinished(status=DocumentStatus.PROCESSING) == []
    assert [r.document_id for r in store.unfinished(status=DocumentStatus.QUEUED)] == ["a"]
    store.claim("a", "w", 60)
    assert [r.document_id for r in store.unfinished(status=DocumentStatus.PROCESSING)] == ["a"]
    assert store.unfinished(status=DocumentStatus.QUEUED) == []


def test_release_gives_the_document_back(store, upload):
    store.create(record(), upload)
    store.claim("doc-1", "w", 60)
    assert not store.release("doc-1", "not-the-owner")
    assert store.release("doc-1", "w")
    assert not store.release("doc-1", "w")  # only one caller gives it back
    again = store.get("doc-1")
    assert again.status == DocumentStatus.QUEUED and again.lease_owner is None
    assert store.claim("doc-1", "other", 60) is not None


def test_local_reads_do_not_wait_for_a_writer(tmp_path, upload):
    """Status calls read while the runner writes: the embedded store's reads take no lock."""
    import threading

    from ocr_service.store.local import LocalStore

    store = LocalStore(tmp_path / "data")
    store.create(record(), upload)
    writing, done = threading.Event(), threading.Event()

    def slow_writer():
        with store._transaction() as db:  # a long write transaction, holding the writer's lock
            db.execute("UPDATE documents SET body = json_set(body, '$.status', 'processing') "
                       "WHERE document_id = 'doc-1'")
            writing.set()
            done.wait(10)

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert writing.wait(10)
        started = time.monotonic()
        assert store.get("doc-1").status == DocumentStatus.QUEUED  # the last commit, not the write in progress
        assert store.primary_of("key-1") is None and store.page_numbers("doc-1") == set()
        assert time.monotonic() - started < 1
    finally:
        done.set()
        writer.join()
    assert store.get("doc-1").status == "processing"
    store.close()


def test_local_store_in_a_folder_whose_name_looks_like_a_uri(tmp_path, upload):
    """The read connections open the database by URI: '?', '#', '%' and spaces in the path are quoted."""
    from ocr_service.store.local import LocalStore

    store = LocalStore(tmp_path / "data ?mode=rw#1 100%")
    store.create(record(), upload)
    assert store.get("doc-1").status == DocumentStatus.QUEUED
    store.close()


def test_queue_stats_count_queued_primaries_of_every_tenant_and_the_oldest(store, upload):
    assert store.queue_stats() == (0, None)
    first = record("a")
    first.request_id = "req-a"
    store.create(first, upload)
    time.sleep(0.01)
    other = record("b")
    other.tenant = "acme"
    store.create(other, upload)
    store.create(record("c"), upload)
    store.follow("c", "a")  # a follower waits for nothing of its own
    store.create(record("d"), upload)
    store.claim("d", "w", 60)  # processing, not waiting
    count, oldest = store.queue_stats()
    assert count == 2 and oldest == first.created_at
    assert store.get("a").request_id == "req-a" and store.get("acme:b").request_id is None
    store.cancel("a", None)
    assert store.queue_stats() == (1, other.created_at)


def test_finish_by_a_worker_whose_lease_ran_out_changes_nothing(store, upload):
    """A worker that lost its lease (it stalled; another took the document over and completed it) must not
    overwrite the successor's outcome with its own failure."""
    store.create(record(), upload)
    assert store.claim("doc-1", "worker-a", lease_s=0.2) is not None
    time.sleep(0.4)
    assert store.claim("doc-1", "worker-b", lease_s=30) is not None  # worker-a's lease had expired
    assert store.finish("doc-1", "worker-b", DocumentStatus.COMPLETED)
    assert not store.finish("doc-1", "worker-a", DocumentStatus.FAILED, {"code": "x", "message": "late"})
    got = store.get("doc-1")
    assert got.status == DocumentStatus.COMPLETED and got.error is None


def test_the_reconcilers_query_uses_the_status_index(tmp_path, upload):
    """Every worker runs it every few seconds: it must read a range of the (status, updated_at) index,
    never the whole table."""
    from ocr_service.store.local import LocalStore

    store = LocalStore(tmp_path / "data")
    try:
        store.create(record(), upload)
        statements: list[str] = []
        store._reader.set_trace_callback(statements.append)
        store.unfinished(stale_before=utcnow(), status=DocumentStatus.PROCESSING)
        store._reader.set_trace_callback(None)
        [query] = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        plan = " ".join(row[-1] for row in store._reader.execute("EXPLAIN QUERY PLAN " + query))
        assert "USING INDEX documents_status (status=? AND updated_at<?)" in plan, plan
    finally:
        store.close()


def bulk(document_id: str, tenant: str = "default", status: DocumentStatus = DocumentStatus.COMPLETED,
         pages: int = 1, result_of: str | None = None, age_s: float = 0):
    from ocr_service.store.base import BulkDocument

    created = utcnow() - timedelta(seconds=age_s)
    item = record(document_id, key=f"cache-{tenant}-{document_id}")
    item.tenant, item.status, item.result_of, item.pages_total = tenant, status, result_of, pages
    item.pages_done = pages if status == DocumentStatus.COMPLETED else 0
    item.created_at = item.updated_at = created
    return BulkDocument(item, [{"number": n, "text": f"{document_id} page {n}", "source": "ocr"}
                               for n in range(1, pages + 1)] if status == DocumentStatus.COMPLETED else [])


def test_insert_many_stores_records_pages_and_primaries_in_batches(store, upload):
    from ocr_service.domain import storage_key

    items = [bulk(f"doc-{n}", tenant=("default", "acme")[n % 2], pages=1 + n % 3, age_s=100 - n) for n in range(7)]
    items.append(bulk("broken", status=DocumentStatus.FAILED))
    follower = bulk("copy", result_of="doc-0")
    follower.record.cache_key = items[0].record.cache_key
    items.append(follower)
    items[1].upload = upload
    assert store.insert_many(iter(items), batch=3) == 9

    for item in items:
        got = store.get(item.record.key)
        assert got is not None and got.status == item.record.status and got.tenant == item.record.tenant
        assert got.created_at == item.record.created_at and got.pages_done == item.record.pages_done
        assert [page["text"] for page in store.pages(got.key)] == [page["text"] for page in item.pages]
    assert store.get("acme:doc-1").key == storage_key("acme", "doc-1") and store.get("doc-1") is None
    with store.open_upload("acme:doc-1") as path:
        assert path.read_bytes() == upload.read_bytes()
    # Completed ones are the primaries of their content; a failed one and a follower are not.
    assert store.primary_of(items[0].record.cache_key) == "doc-0"
    assert store.primary_of(items[1].record.cache_key) == "acme:doc-1"
    assert store.primary_of(items[7].record.cache_key) is None
    assert store.followers("doc-0") == ["copy"]
    # Listed like any other document: the tenant's, newest first.
    listed = [r.document_id for r in store.list("acme", None, 10, None)]
    assert listed == ["doc-5", "doc-3", "doc-1"]


def test_insert_many_skips_keys_that_exist(store, upload):
    store.create(record("doc-1"), upload)
    again = [bulk("doc-1"), bulk("doc-2"), bulk("doc-2", pages=3)]
    assert store.insert_many(again) == 1
    kept = store.get("doc-1")
    assert kept.status == DocumentStatus.QUEUED and kept.cache_key == "key-1" and store.page_numbers("doc-1") == set()
    with store.open_upload("doc-1") as path:
        assert path.read_bytes() == upload.read_bytes()
    assert store.page_numbers("doc-2") == {1}  # the first of a repeated key wins
    assert store.insert_many([bulk("doc-2"), bulk("doc-3")]) == 1  # an interrupted import runs again
    assert store.get("doc-3").status == DocumentStatus.COMPLETED


def test_list_pages_through_ties_in_created_at(store):
    now = utcnow()
    items = [bulk(f"doc-{n}", tenant="acme") for n in range(8)]
    for n, item in enumerate(items):  # three at each time
        item.record.created_at = item.record.updated_at = now - timedelta(seconds=10 * (n // 3))
    store.insert_many(items)
    expected = [r.document_id for r in sorted((i.record for i in items), key=lambda r: (r.created_at, r.key),
                                               reverse=True)]
    seen, after = [], None
    while True:
        page = store.list("acme", DocumentStatus.COMPLETED, 2, after)
        seen += [r.document_id for r in page]
        if len(page) < 2:
            break
        after = (page[-1].created_at.isoformat(), page[-1].key)
    assert seen == expected


def test_an_older_stores_ttl_index_is_dropped(mongo_server, upload):
    """Retention is the sweeper's (it deletes a record with its pages and bytes); a TTL index left by an
    older version would delete records alone and, in nx-27017, scan the collection before every read."""
    import pymongo

    from ocr_service.store.mongo import MongoConfig, MongoStore

    name = f"stores_{uuid.uuid4().hex[:10]}"
    with pymongo.MongoClient(mongo_uri(mongo_server)) as client:
        client[name]["documents"].create_index("purge_after", expireAfterSeconds=0)
        store = MongoStore(MongoConfig(uri=mongo_uri(mongo_server), db_name=name))
        try:
            store.create(record(), upload)
            indexes = client[name]["documents"].index_information()
            fields = [[field for field, _ in index["key"]] for index in indexes.values()]
            assert ["purge_after"] not in fields and ["key"] in fields, indexes
        finally:
            store.close()

"""The Redis queue against a real redis-server and the MongoDB wire server: its "queued" marker never
outlives a message that was not sent, so the reconciler queues such a document again."""

from __future__ import annotations

import time
import uuid

import pytest
import redis

from ocr_service.domain import DocumentRecord, DocumentStatus
from ocr_service.jobs.base import QueueConfig
from ocr_service.jobs.redis_queue import RedisQueue
from ocr_service.store.mongo import MongoConfig, MongoStore
from tests.support.servers import mongo_uri


@pytest.fixture
def queue_and_store(redis_server, mongo_server):
    client = redis.Redis(host="127.0.0.1", port=redis_server.port, db=3)
    client.flushdb()
    store = MongoStore(MongoConfig(uri=mongo_uri(mongo_server), db_name=f"queue_{uuid.uuid4().hex[:10]}"))
    queue = RedisQueue(client, QueueConfig(lease_s=0.1), store, make_runner=lambda: None)
    yield queue, store, client
    queue.close()
    store.close()
    client.close()


def test_a_failed_send_leaves_no_marker_and_the_reconciler_queues_the_document(queue_and_store, monkeypatch):
    queue, store, client = queue_and_store
    record = DocumentRecord(document_id="lost-1", content_sha256="ab" * 32, cache_key="k", options={},
                            filename=None, media_type="application/pdf", size_bytes=1, pages_total=1)
    store.create(record, None)

    def broken_send(*args, **kwargs):
        raise redis.ConnectionError("the broker went away")

    monkeypatch.setattr(queue.actor, "send", broken_send)
    with pytest.raises(redis.ConnectionError):
        queue.enqueue("lost-1")
    assert not client.exists(queue.marker_prefix + "lost-1")  # the document does not look queued

    sent = []
    monkeypatch.setattr(queue.actor, "send", lambda key: sent.append(key))
    time.sleep(0.3)  # older than twice the lease: stale
    assert queue.reconcile() == ["lost-1"] and sent == ["lost-1"]
    assert store.get("lost-1").status == DocumentStatus.QUEUED


def test_a_queued_marker_expires(queue_and_store, monkeypatch):
    """A message dead-lettered after it was sent leaves its marker only until the marker's TTL."""
    queue, _, client = queue_and_store
    monkeypatch.setattr(queue.actor, "send", lambda key: None)
    queue.enqueue("doc-ttl")
    ttl = client.ttl(queue.marker_prefix + "doc-ttl")
    assert 0 < ttl <= QueueConfig().marker_ttl_s


def _processing(store, document_id: str, owner: str, lease_s: float) -> None:
    store.create(DocumentRecord(document_id=document_id, content_sha256="ab" * 32, cache_key=document_id,
                                options={}, filename=None, media_type="application/pdf", size_bytes=1,
                                pages_total=3), None)
    assert store.claim(document_id, owner, lease_s) is not None


def test_an_expired_lease_is_queued_again_at_once_by_one_reconciler(queue_and_store, monkeypatch):
    """A dead worker's document goes back to the queue as soon as its lease runs out (not some multiple
    of it), once however many workers' reconcilers see it, and a held lease is left alone."""
    queue, store, client = queue_and_store
    other = RedisQueue(client, QueueConfig(lease_s=0.1), store, make_runner=lambda: None)
    sent = []
    monkeypatch.setattr(queue.actor, "send", lambda key: sent.append(key))
    monkeypatch.setattr(other.actor, "send", lambda key: sent.append(key))
    _processing(store, "dead-1", "dead-worker", lease_s=0.3)
    _processing(store, "live-1", "live-worker", lease_s=60)
    time.sleep(0.4)  # the dead worker's lease has run out; the live one renews long before its own does
    assert queue.reconcile(lost=False) == ["dead-1"] and sent == ["dead-1"]
    assert other.reconcile(lost=False) == [] and sent == ["dead-1"]
    record = store.get("dead-1")
    assert record.status == DocumentStatus.QUEUED and record.lease_owner is None
    assert client.exists(queue.marker_prefix + "dead-1")  # an ordinary queued document from now on
    assert store.get("live-1").lease_owner == "live-worker"
    resumed = store.claim("dead-1", "survivor", 60)
    assert resumed.attempts == 2 and resumed.lease_owner == "survivor"
    assert store.claim("dead-1", "dead-worker", 60) is None  # its redelivered message finds it held
    other.close()

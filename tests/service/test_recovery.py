"""Recovery from a dead worker with real processes (redis-server, the MongoDB wire server, `ocr-service
worker`s): its document is resumed on a survivor at its next page, each page in the result once, and a
worker that is merely slow keeps its document."""

from __future__ import annotations

import httpx
import redis

from tests.support import samples
from tests.support.documents import Doc, small_scans
from tests.support.polling import wait_for
from tests.support.servers import wait_until

from .test_faults import _store_for


def _cluster(start_service, workers: int = 2, **env: str):
    """An API instance without workers, and `ocr-service worker` processes sharing its store and queue."""
    api = start_service("production", name="api", share="recovery", RUN_WORKERS="false", **env)
    procs = [start_service("production", name=f"worker-{n}", command="worker", share="recovery", OCR_WORKERS="1")
             for n in range(workers)]
    return api, procs


def _assert_completed_once(client: httpx.Client, document_id: str, doc: Doc) -> dict:
    status = wait_for(client, document_id, 240)
    assert status["status"] == "completed", status
    result = client.get(f"/result/{document_id}").json()
    # every page exactly once, in order, however many workers read it
    assert [page["number"] for page in result["pages"]] == list(range(1, len(doc.pages) + 1))
    assert status["pages_done"] == len(doc.pages)
    assert samples.cer(" ".join(doc.pages), result["text"]) <= 0.02
    return status


def test_a_killed_workers_document_resumes_on_the_survivor_at_its_next_page(start_service, scanned_10):
    others = small_scans(2, seed=1200)
    # A lease a little longer than the tests' default: the survivor must keep its own on a loaded machine.
    api, workers = _cluster(start_service, LEASE_S="5")
    store = _store_for(api)
    queue = redis.Redis(host="127.0.0.1", port=int(api.env["REDIS_PORT"]))
    try:
        with api.client() as client:
            document_id = scanned_10.upload(client).json()["document_id"]
            other_ids = [doc.upload(client).json()["document_id"] for doc in others]
            wait_until(lambda: client.get(f"/check-status/{document_id}").json()["pages_done"] >= 2, 120,
                       message="two pages done")
            owner = store.get(document_id).lease_owner  # host:pid:nonce of the worker process reading it
            [victim] = [w for w in workers if owner.split(":")[1] == str(w.process.pid)]
            done_before = store.page_numbers(document_id)
            assert len(done_before) < len(scanned_10.pages), "killed mid-document"
            victim.kill()  # SIGKILL, its OCR process too: its message is never acknowledged

            status = _assert_completed_once(client, document_id, scanned_10)
            result_pages = client.get(f"/result/{document_id}").json()["pages"]
            for other_id, doc in zip(other_ids, others, strict=True):
                _assert_completed_once(client, other_id, doc)  # no document lost
            # The queue delivers the dead worker's unacknowledged message again once its heartbeat is old
            # (the tests' settings make that seconds): wait until it has been, and acknowledged.
            wait_until(lambda: not queue.keys("ocr-dramatiq:__acks__.*"), 120, message="every message acknowledged")
            assert client.get(f"/result/{document_id}").json()["pages"] == result_pages
        record = store.get(document_id)
        # Taken once by the victim and once by the survivor: the dead worker's own message, delivered
        # again, found the document held or finished and did not run it a third time.
        assert record.attempts == 2, record
        assert record.lease_owner is None and status["status"] == "completed"
    finally:
        store.close()
        queue.close()


def test_a_page_longer_than_the_lease_does_not_lose_it(start_service):
    """The lease is renewed from its own thread: a page that takes several leases keeps the document on
    its worker, though the reconciler looks for expired leases many times meanwhile."""
    texts = [samples.sample_text(1300 + n, lines=4) for n in range(2)]
    doc = Doc("slow.pdf", samples.scanned_pdf(texts), texts)
    api, _ = _cluster(start_service, LEASE_S="2", RECONCILE_INTERVAL_S="0.3",
                      OCR_SANDBOX_FAULT="process_page:sleep=6")  # each page takes three leases and more
    store = _store_for(api)
    try:
        with api.client() as client:
            document_id = doc.upload(client).json()["document_id"]
            _assert_completed_once(client, document_id, doc)
        assert store.get(document_id).attempts == 1  # never taken over by the other worker
    finally:
        store.close()

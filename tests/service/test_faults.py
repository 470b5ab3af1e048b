"""Fault tests with real processes: kill the service, its workers, Redis and MongoDB mid-run."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import httpx
import pytest

from tests.support import samples
from tests.support.documents import Doc, small_scans
from tests.support.polling import wait_for
from tests.support.servers import wait_until

from .conftest import MODES


def _submit_all(client: httpx.Client, docs: list[Doc]) -> list[str]:
    ids = []
    for doc in docs:
        response = doc.upload(client)
        assert response.status_code == 202, response.text
        ids.append(response.json()["document_id"])
    return ids


def _assert_each_completed_once(client: httpx.Client, ids: list[str], docs: list[Doc], timeout: float = 180):
    for document_id, doc in zip(ids, docs, strict=True):
        status = wait_for(client, document_id, timeout)
        assert status["status"] == "completed", status
        result = client.get(f"/result/{document_id}").json()
        # exactly one result per page, however often the document was delivered
        assert [page["number"] for page in result["pages"]] == list(range(1, len(doc.pages) + 1))
        assert samples.cer(" ".join(doc.pages), result["text"]) <= 0.02


def _store_for(service):
    """The store the service uses, opened from the test to look at what the API does not show."""
    env = service.env
    if "MONGO_CONNECTION_STRING" in env:
        from ocr_service.store.mongo import MongoConfig, MongoStore

        return MongoStore(MongoConfig(uri=env["MONGO_CONNECTION_STRING"], db_name=env["MONGO_DB_NAME"]))
    from ocr_service.store.local import LocalStore

    return LocalStore(Path(env["DATA_DIR"]))


def test_embedded_restart_mid_job_resumes_and_completes(start_service, scanned_10):
    service = start_service("embedded", share="restart")
    with service.client() as client:
        running = scanned_10.upload(client).json()["document_id"]
        waiting = [scanned_10.upload(client, mode="ocr").json()["document_id"]]
        wait_until(lambda: client.get(f"/check-status/{running}").json()["pages_done"] >= 2, 60,
                   message="two pages done")
    service.kill()  # SIGKILL the whole process group, OCR processes included

    restarted = start_service("embedded", name="restarted", share="restart")
    with restarted.client() as client:
        _assert_each_completed_once(client, [running, *waiting], [scanned_10, scanned_10])


@pytest.mark.parametrize("mode", MODES)
def test_concurrent_identical_uploads_run_ocr_once(start_service, mode):
    [doc] = small_scans(1, seed=700)
    service = start_service(mode)
    results: list[httpx.Response] = []

    def upload(n: int) -> None:
        with service.client() as client:
            results.append(doc.upload(client, document_id=f"same-{n}"))

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results) == [202] * 20

    with service.client() as client:
        _assert_each_completed_once(client, [f"same-{n}" for n in range(20)], [doc] * 20)
    store = _store_for(service)
    try:
        records = [store.get(f"same-{n}") for n in range(20)]
        computed = [r for r in records if r.result_of is None]
        assert len(computed) == 1, "exactly one of the 20 uploads was OCR'd"
        assert computed[0].attempts == 1
        assert {r.result_of for r in records if r.result_of} == {computed[0].document_id}
    finally:
        store.close()


@pytest.fixture
def cluster(start_service):
    """Production mode as on the auto-scaling group: API instances and separate workers."""

    def build(api: int = 1, workers: int = 2):
        apis = [start_service("production", name=f"api-{n}", share="cluster", RUN_WORKERS="false")
                for n in range(api)]
        procs = [start_service("production", name=f"worker-{n}", command="worker", share="cluster",
                               OCR_WORKERS="1") for n in range(workers)]
        return apis, procs

    return build


def test_submit_on_one_instance_poll_and_fetch_on_another(cluster, scanned_page):
    (a, b), _ = cluster(api=2, workers=1)
    with a.client() as on_a, b.client() as on_b:
        document_id = scanned_page.upload(on_a).json()["document_id"]
        status = wait_for(on_b, document_id)
        assert status["status"] == "completed"
        result = on_b.get(f"/result/{document_id}").json()
        assert samples.cer(scanned_page.pages[0], result["text"]) <= 0.02
        assert on_a.get(f"/result/{document_id}", params={"format": "text"}).text == result["text"]


def test_worker_killed_mid_job_its_jobs_complete_elsewhere(cluster):
    docs = small_scans(20, seed=1000)
    (api,), (victim, survivor) = cluster(api=1, workers=2)
    with api.client() as client:
        ids = _submit_all(client, docs)
        wait_until(lambda: sum(client.get(f"/check-status/{i}").json()["status"] == "completed" for i in ids) >= 3,
                   120, message="three documents completed")
        victim.kill()  # SIGKILL: its prefetched and running jobs are never acknowledged
        _assert_each_completed_once(client, ids, docs)


def test_redis_restarted_empty_mid_run_all_complete(cluster, redis_server):
    docs = small_scans(10, seed=1100)
    (api,), _ = cluster(api=1, workers=1)
    with api.client() as client:
        ids = _submit_all(client, docs)
        wait_until(lambda: client.get(f"/check-status/{ids[1]}").json()["status"] == "completed", 120,
                   message="the first documents")
        redis_server.kill()
        redis_server.start()  # empty: every queued message is gone
        _assert_each_completed_once(client, ids, docs)


@pytest.mark.skipif(bool(os.environ.get("MONGO_TEST_URI")), reason="cannot stop an external MongoDB")
def test_mongodb_down_means_503_then_recovery(start_service, mongo_server, scanned_page):
    service = start_service("production")
    with service.client() as client:
        mongo_server.stop()
        try:
            response = scanned_page.upload(client)
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"].isdigit()
            assert response.json()["error"]["code"] == "unavailable"
            assert "mongodb" in response.json()["error"]["message"]
            assert client.get("/health/live").status_code == 200  # the process serves: nothing to replace
            for path in ("/health", "/health/ready"):
                health = client.get(path)
                assert health.status_code == 503
                # which dependency, and nothing of the error's text (no host names, no exception)
                assert health.json()["checks"] == {"store": "unavailable", "cache": "ok", "queue": "ok"}
                assert "127.0.0.1" not in health.text and "rror" not in health.text
            assert client.get("/check-status/anything").status_code == 503
        finally:
            mongo_server.start()
        wait_until(lambda: client.get("/health").status_code == 200, 30, message="recovery")
        result = client.post("/extract", files={"file": ("s.pdf", scanned_page.data)})
        assert result.status_code == 202
        assert wait_for(client, result.json()["document_id"])["status"] == "completed"

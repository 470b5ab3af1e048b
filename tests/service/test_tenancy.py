"""Tenants and API keys, over HTTP against the real service in both backends: every route needs a valid
key, and a tenant sees nothing of another's (documents, hashes, cached results, ids). Delete, cancel and
retention remove or stop what they say, everywhere it lives."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import gridfs
import httpx
import pymongo
import pymongo.errors
import pytest
from fastapi.routing import iter_route_contexts

from ocr_service.api import create_app
from ocr_service.config import Settings
from tests.support import samples
from tests.support.documents import Doc, small_scans
from tests.support.polling import wait_for
from tests.support.servers import BIN

from .conftest import MODES

DEFAULT_KEY = "default-tenant-key-0123456789abcdef"
OPEN_BY_DEFAULT = ("/health", "/health/live", "/health/ready", "/docs", "/docs/oauth2-redirect", "/redoc",
                   "/openapi.json", "/ui", "/docs-assets")


def create_key(service, tenant: str) -> str:
    done = subprocess.run([str(BIN / "ocr-service"), "keys", "create", "--tenant", tenant], env=service.env,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def revoke_key(service, key: str) -> None:
    listing = subprocess.run([str(BIN / "ocr-service"), "keys", "list"], env=service.env, capture_output=True,
                             text=True, timeout=60, check=True).stdout
    assert key not in listing  # the listing never shows a key itself
    key_id = listing.strip().splitlines()[-1].split()[0]  # the newest key
    subprocess.run([str(BIN / "ocr-service"), "keys", "revoke", key_id], env=service.env, check=True, timeout=60)


@pytest.fixture(scope="module", params=MODES)
def keyed(request, tmp_path_factory, redis_server, mongo_server):
    """A service with the default tenant's key set and two more tenants' keys (one revoked)."""
    from tests.support.servers import ServiceFactory

    factory = ServiceFactory(tmp_path_factory.mktemp(f"keyed-{request.param}"), redis_server, mongo_server)
    service = factory(request.param, name=f"keyed-{request.param}", API_KEY=DEFAULT_KEY,
                      ALLOW_ANONYMOUS="false", RETENTION_S="0")
    keys = {"alpha": create_key(service, "alpha"), "beta": create_key(service, "beta")}
    revoked = create_key(service, "gamma")
    revoke_key(service, revoked)
    yield service, keys, revoked
    factory.stop_all()


def _routes() -> dict[str, set[str]]:
    """Every route the app has (routers included), path parameters filled in, with its methods."""
    app = create_app(Settings(backend="embedded"))
    routes: dict[str, set[str]] = {"/redoc": set()}
    for context in iter_route_contexts(app.routes):
        path = re.sub(r"\{[^}]+\}", "some-id", context.route.path)
        routes.setdefault(path, set()).update(getattr(context.route, "methods", ()))
    return routes


def test_every_route_refuses_a_missing_wrong_revoked_non_ascii_or_doubled_key(keyed):
    service, keys, revoked = keyed
    variants = {
        "no key": [],
        "wrong key": [("X-API-Key", "ocr_not-a-key-at-all")],
        "revoked key": [("X-API-Key", revoked)],
        "non-ASCII key": [("X-API-Key", "cl\u00e9-\u00fcber".encode())],
        "two keys": [("X-API-Key", keys["alpha"]), ("X-API-Key", keys["alpha"])],
    }
    routes = _routes()
    assert {"/extract", "/documents", "/check-status/some-id", "/result/some-id"} <= set(routes)
    with httpx.Client(base_url=service.url, timeout=30) as client:
        for path, methods in routes.items():
            for method in sorted({"GET", "POST", "HEAD", "OPTIONS"} | methods):
                for name, headers in variants.items():
                    answer = client.request(method, path, headers=headers)
                    where = f"{method} {path} with {name}"
                    assert answer.status_code < 500, where
                    if path in OPEN_BY_DEFAULT:
                        assert answer.status_code != 401, where
                        continue
                    assert answer.status_code == 401, where
                    if method != "HEAD":
                        assert answer.json()["error"]["code"] == "unauthorized", where
        # the keys that are valid get through (a 404 for the unknown id, not a 401)
        for key in (DEFAULT_KEY, keys["alpha"]):
            assert client.get("/check-status/some-id", headers={"X-API-Key": key}).status_code == 404


def test_open_paths_are_a_setting(start_service):
    service = start_service("embedded", API_KEY=DEFAULT_KEY, OPEN_PATHS='["/openapi.json"]')
    with httpx.Client(base_url=service.url, timeout=30) as client:
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/health").status_code == 200
        for closed in ("/docs", "/redoc", "/ui"):
            assert client.get(closed).status_code == 401, closed
        assert client.get("/docs", headers={"X-API-Key": DEFAULT_KEY}).status_code == 200


def test_production_refuses_to_start_without_any_key(tmp_path, redis_server, mongo_server):
    from tests.support.servers import service_env

    env = service_env("production", tmp_path, redis_server, mongo_server, ALLOW_ANONYMOUS="false")
    done = subprocess.run([str(BIN / "ocr-service"), "serve"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "API_KEY" in done.stderr and "Traceback" not in done.stderr


def _as(service, key: str) -> httpx.Client:
    return httpx.Client(base_url=service.url, timeout=60, headers={"X-API-Key": key})


def test_another_tenants_documents_answer_as_if_they_did_not_exist(keyed):
    service, keys, _ = keyed
    doc = small_scans(1, seed=8100)[0]
    other_bytes = small_scans(1, seed=8101)[0]
    with _as(service, keys["alpha"]) as alpha, _as(service, keys["beta"]) as beta:
        posted = doc.upload(alpha, document_id="shared-id").json()
        assert wait_for(alpha, "shared-id")["status"] == "completed"

        for path in ("/check-status/{}", "/result/{}", "/result/{}?format=text", "/result/{}?format=hocr",
                     "/result/{}?format=pdf", "/result/{}?words=true"):
            theirs, nobodys = beta.get(path.format("shared-id")), beta.get(path.format("nobody-has-this"))
            assert theirs.status_code == nobodys.status_code == 404, path
            assert theirs.json() == {"error": {**nobodys.json()["error"],
                                               "message": nobodys.json()["error"]["message"].replace(
                                                   "nobody-has-this", "shared-id")}}, path

        by_hash = beta.post("/extract", data={"sha256": posted["content_sha256"]})
        unknown = beta.post("/extract", data={"sha256": "ab" * 32})
        assert by_hash.status_code == unknown.status_code == 404
        assert by_hash.json()["error"]["code"] == unknown.json()["error"]["code"] == "unknown_content"

        # the same bytes uploaded by beta are computed for beta, not served from alpha's result
        again = doc.upload(beta, document_id="beta-copy").json()
        assert again["status"] == "queued"
        # alpha's id with other bytes is beta's own new document
        own = other_bytes.upload(beta, document_id="shared-id")
        assert own.status_code == 202 and own.json()["status"] == "queued"
        assert wait_for(beta, "shared-id")["status"] == "completed"
        assert samples.cer(other_bytes.pages[0], beta.get("/result/shared-id?format=text").text) <= 0.02
        assert samples.cer(doc.pages[0], alpha.get("/result/shared-id?format=text").text) <= 0.02

        listed = {d["document_id"] for d in beta.get("/documents").json()["documents"]}
        assert listed == {"beta-copy", "shared-id"}
        assert {d["document_id"] for d in alpha.get("/documents").json()["documents"]} == {"shared-id"}


def test_the_document_list_is_newest_first_and_paginated(keyed):
    service, keys, _ = keyed
    tenant_key = create_key(service, "lister")
    with _as(service, tenant_key) as client:
        for n in range(5):
            assert client.post("/extract", files={"file": ("t.pdf", samples.text_pdf([f"Page {n} here."]))},
                               data={"document_id": f"list-{n}"}).status_code == 202
        seen, cursor = [], None
        while True:
            page = client.get("/documents", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
            seen += [d["document_id"] for d in page["documents"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [f"list-{n}" for n in reversed(range(5))]
        for n in range(5):
            wait_for(client, f"list-{n}")
        completed = client.get("/documents", params={"status": "completed"}).json()["documents"]
        assert len(completed) == 5
        bad = client.get("/documents", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"


def _stored_bytes(service, key: str) -> int:
    """How many places hold the document's uploaded bytes: files under DATA_DIR, or GridFS files + chunks."""
    if "MONGO_CONNECTION_STRING" in service.env:
        db = pymongo.MongoClient(service.env["MONGO_CONNECTION_STRING"])[service.env["MONGO_DB_NAME"]]
        files = [stored._id for stored in gridfs.GridFSBucket(db, "documents_uploads").find({"filename": key})]
        try:
            chunks = db["documents_uploads.chunks"].count_documents({"files_id": {"$in": files}}) if files else 0
        except pymongo.errors.OperationFailure:
            chunks = 0  # nx-27017 keeps a file's chunks with the file: counting the files says it all
        return len(files) + chunks
    return len(list((Path(service.env["DATA_DIR"]) / "uploads").glob(f"{key}.upload")))


def _cached_results(service) -> int:
    if "REDIS_HOST" not in service.env:
        return 0
    import redis

    client = redis.Redis(host="127.0.0.1", port=int(service.env["REDIS_PORT"]))
    return sum(1 for _ in client.scan_iter("ocr:cache:result:*"))


def test_delete_removes_the_record_its_pages_bytes_and_cached_results(keyed):
    service, keys, _ = keyed
    tenant_key = create_key(service, "deleter")
    doc = small_scans(1, seed=8200)[0]
    with _as(service, tenant_key) as client:
        doc.upload(client, document_id="to-delete")
        assert wait_for(client, "to-delete")["status"] == "completed"
        assert client.get("/result/to-delete").status_code == 200  # fills the result cache
        assert _stored_bytes(service, "deleter:to-delete") >= 1
        cached_before = _cached_results(service)

        assert client.delete("/documents/to-delete").status_code == 204
        assert _stored_bytes(service, "deleter:to-delete") == 0
        for path in ("/check-status/to-delete", "/result/to-delete", "/result/to-delete?format=pdf"):
            assert client.get(path).status_code == 404, path
        assert client.delete("/documents/to-delete").status_code == 204  # idempotent
        assert "to-delete" not in [d["document_id"] for d in client.get("/documents").json()["documents"]]
        if "REDIS_HOST" in service.env:
            assert _cached_results(service) < cached_before
        # nothing of it is left to share: the same bytes again are computed again
        assert doc.upload(client, document_id="to-delete").json()["status"] == "queued"
        assert wait_for(client, "to-delete")["status"] == "completed"


def test_deleting_a_document_that_others_follow_keeps_theirs_readable(keyed):
    service, keys, _ = keyed
    tenant_key = create_key(service, "sharer")
    doc = small_scans(1, seed=8300)[0]
    with _as(service, tenant_key) as client:
        doc.upload(client, document_id="first")
        assert wait_for(client, "first")["status"] == "completed"
        assert doc.upload(client, document_id="second").json()["status"] == "completed"  # shares first's result
        assert client.delete("/documents/first").status_code == 204
        assert client.get("/check-status/first").status_code == 404
        assert samples.cer(doc.pages[0], client.get("/result/second?format=text").text) <= 0.02
        assert client.get("/result/second?format=pdf").status_code == 200
        assert client.delete("/documents/second").status_code == 204
        assert _stored_bytes(service, "sharer:first") == 0  # the last one took the shared bytes along


@pytest.fixture(scope="module")
def twenty_pages() -> Doc:
    texts = [samples.sample_text(8400 + n, lines=12) for n in range(20)]
    return Doc("twenty.pdf", samples.scanned_pdf(texts, seed=8400), texts)


@pytest.mark.parametrize("mode", MODES)
def test_cancel_stops_a_document_between_pages_on_every_instance(start_service, twenty_pages, mode):
    key = "cancel-key-0123456789abcdef"
    if mode == "production":
        api_a = start_service(mode, name="api-a", share="cancel", RUN_WORKERS="false", API_KEY=key)
        api_b = start_service(mode, name="api-b", share="cancel", RUN_WORKERS="false", API_KEY=key)
        worker = start_service(mode, name="worker", share="cancel", command="worker", API_KEY=key, OCR_WORKERS="1")
    else:
        api_a = api_b = worker = start_service(mode, name="cancel", API_KEY=key, OCR_WORKERS="1")
    with _as(api_a, key) as a, _as(api_b, key) as b:
        twenty_pages.upload(a, document_id="long-one")
        deadline = time.monotonic() + 120
        while a.get("/check-status/long-one").json()["pages_done"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        cancelled = a.post("/documents/long-one/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert b.get("/check-status/long-one").json()["status"] == "cancelled"  # the other instance sees it
        time.sleep(8)  # several pages' time: the worker has read the cancel by now
        settled = b.get("/check-status/long-one").json()["pages_done"]
        if mode == "production":
            worker.kill()  # SIGKILL after the cancel: nothing may resume the document
            start_service(mode, name="worker-2", share="cancel", command="worker", API_KEY=key, OCR_WORKERS="1")
        time.sleep(6)
        status = b.get("/check-status/long-one").json()
        assert status["status"] == "cancelled" and status["pages_done"] == settled < 20
        result = b.get("/result/long-one").json()
        assert result["status"] == "cancelled" and len(result["pages"]) == settled
        again = a.post("/documents/long-one/cancel")
        assert again.status_code == 200 and again.json()["status"] == "cancelled"


@pytest.mark.parametrize("mode", MODES)
def test_retention_deletes_finished_documents_and_their_bytes(start_service, mode):
    service = start_service(mode, name=f"retention-{mode}", RETENTION_S="3", RETENTION_SWEEP_INTERVAL_S="0.5")
    doc = small_scans(1, seed=8500)[0]
    with service.client() as client:
        doc.upload(client, document_id="short-lived")
        status = wait_for(client, "short-lived")
        assert status["status"] == "completed" and status["expires_at"] is not None
        assert _stored_bytes(service, "short-lived") >= 1
        deadline = time.monotonic() + 30
        while client.get("/check-status/short-lived").status_code != 404:
            assert time.monotonic() < deadline, "the document outlived its retention"
            time.sleep(0.5)
        assert _stored_bytes(service, "short-lived") == 0
        assert client.get("/result/short-lived").status_code == 404


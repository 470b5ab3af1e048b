"""Webhooks, over HTTP against the real service in both backends, delivered to a real receiver on a
loopback port that refuses the first deliveries of each document and verifies every signature with the
`standardwebhooks` package: completed, failed and cancelled events arrive signed with the client's tag,
retries back off, a worker SIGKILLed (and Redis restarted) meanwhile loses nothing, and the SSRF guard
refuses callback URLs on non-public addresses."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from standardwebhooks import Webhook

from tests.support import samples
from tests.support.documents import Doc, small_scans
from tests.support.polling import wait_for
from tests.support.servers import wait_until

from .conftest import MODES
from .test_tenancy import create_key

KEY = "webhook-tenant-key-0123456789abcdef"
CRASH_OCR = "CRASH-THE-OCR"
RETRY_FIRST_S = 0.5
LOOPBACK_ALLOWED = {"WEBHOOK_ALLOWED_NETWORKS": '["127.0.0.0/8"]', "WEBHOOK_RETRY_FIRST_S": str(RETRY_FIRST_S),
                    "WEBHOOK_POLL_INTERVAL_S": "0.2", "WEBHOOK_TIMEOUT_S": "2", "API_KEY": KEY,
                    "ALLOW_ANONYMOUS": "false", "RETENTION_S": "0", "OCR_WORKERS": "1",
                    "OCR_SANDBOX_FAULT": f"process_page:abort:{CRASH_OCR}"}


class Receiver:
    """An HTTP server on a random loopback port: answers 500 to the first `fail_first` deliveries of each
    document, 204 after; keeps every delivery with the payload its signature verified (None if it did not)."""

    def __init__(self, fail_first: int = 2, refusal: int = 500, location: str | None = None):
        self.fail_first, self.secret, self.refusal, self.location = fail_first, "", refusal, location
        self.deliveries: dict[str, list[dict]] = defaultdict(list)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["content-length"]))
                try:
                    verified = Webhook(receiver.secret).verify(body, dict(self.headers))
                except Exception:
                    verified = None
                document_id = json.loads(body)["document_id"]
                with receiver.lock:
                    seen = receiver.deliveries[document_id]
                    seen.append({"at": time.monotonic(), "payload": verified, "id": self.headers["webhook-id"]})
                    code = receiver.refusal if len(seen) <= receiver.fail_first else 204
                self.send_response(code)
                if receiver.location:
                    self.send_header("location", receiver.location)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, document_id: str) -> list[dict]:
        with self.lock:
            return list(self.deliveries[document_id])

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


def _client(service) -> httpx.Client:
    return httpx.Client(base_url=service.url, headers={"X-API-Key": KEY}, timeout=60)


def _delivered(client: httpx.Client, document_id: str, timeout: float = 90) -> dict:
    return wait_until(lambda: (lambda s: s if (s.get("webhook") or {}).get("status") == "delivered" else None)(
        client.get(f"/check-status/{document_id}").json()), timeout, 0.2, f"{document_id}'s webhook")


def _check_event(receiver: Receiver, document_id: str, status: str, tag: str, result_base: str) -> None:
    attempts = receiver.of(document_id)
    assert len(attempts) == 3, attempts  # two refused, the third accepted, none after
    assert all(a["payload"] is not None for a in attempts), "a signature did not verify"
    assert len({a["id"] for a in attempts}) == 1  # one webhook-id across retries: receivers can de-duplicate
    event = attempts[-1]["payload"]
    assert event["type"] == f"document.{status}" and event["status"] == status
    assert event["document_id"] == document_id and event["client_tag"] == tag
    assert event["result_url"] == f"{result_base}/result/{document_id}"
    # Exponential backoff: each wait at least the one before it doubled (lower bounds only).
    first_gap, second_gap = (attempts[1]["at"] - attempts[0]["at"]), (attempts[2]["at"] - attempts[1]["at"])
    assert first_gap >= RETRY_FIRST_S * 0.9 and second_gap >= 2 * RETRY_FIRST_S * 0.9, (first_gap, second_gap)


@pytest.mark.parametrize("mode", MODES)
def test_completed_failed_and_cancelled_events_arrive_signed_with_retries(start_service, receiver, mode):
    service = start_service(mode, name=f"hooks-{mode}", **LOOPBACK_ALLOWED)
    with _client(service) as client:
        secret = client.get("/webhooks/secret").json()["secret"]
        assert secret.startswith("whsec_") and client.get("/webhooks/secret").json()["secret"] == secret
        receiver.secret = secret
        hook = {"callback_url": receiver.url}
        done_pdf = samples.text_pdf(["Webhooks say done."])
        done = client.post("/extract", files={"file": ("t.pdf", done_pdf)},
                           data={**hook, "client_tag": "tag-done", "document_id": "done"})
        crash = samples.with_marker(samples.scanned_pdf([samples.sample_text(4100, lines=2)], seed=4100), CRASH_OCR)
        failing = client.post("/extract", files={"file": ("x.pdf", crash)},
                              data={**hook, "client_tag": "tag-failed", "document_id": "failing", "mode": "ocr"})
        long_scan = samples.scanned_pdf([samples.sample_text(4200 + n, lines=8) for n in range(6)], seed=4200)
        stopped = client.post("/extract", files={"file": ("long.pdf", long_scan)},
                              data={**hook, "client_tag": "tag-cancel", "document_id": "stopped", "mode": "ocr"})
        assert done.status_code == failing.status_code == stopped.status_code == 202, done.text
        assert client.post("/documents/stopped/cancel").json()["status"] == "cancelled"

        status = wait_for(client, "done")
        assert status["status"] == "completed" and status["webhook"]["status"] in ("pending", "delivered")
        for document_id, final, tag in (("done", "completed", "tag-done"), ("failing", "failed", "tag-failed"),
                                        ("stopped", "cancelled", "tag-cancel")):
            status = _delivered(client, document_id)
            assert status["status"] == final and status["webhook"] == {"status": "delivered", "attempts": 3}
            _check_event(receiver, document_id, final, tag, service.url)
        assert receiver.of("failing")[-1]["payload"]["error"]["code"] == "page_crashed"

        # A re-upload of a processed document is completed at once: its event goes out too.
        again = client.post("/extract", files={"file": ("t.pdf", done_pdf)},
                            data={**hook, "client_tag": "tag-again", "document_id": "again"})
        assert again.status_code == 202 and again.json()["status"] == "completed", again.text
        assert _delivered(client, "again")["webhook"] == {"status": "delivered", "attempts": 3}
        _check_event(receiver, "again", "completed", "tag-again", service.url)

        other_tenant = create_key(service, "other")
        other = client.get("/webhooks/secret", headers={"X-API-Key": other_tenant}).json()["secret"]
        assert other.startswith("whsec_") and other != secret  # a secret per tenant
        assert service.log().count(secret) == 0


@pytest.mark.parametrize("mode", MODES)
def test_a_worker_killed_before_delivery_succeeded_leaves_it_to_another(start_service, receiver, redis_server, mode):
    """The event is kept in the store: after a SIGKILL (and, in production, a Redis restart) another
    worker process delivers it."""
    text = Doc("k.pdf", samples.text_pdf(["Delivered by whoever is alive."]), [])
    if mode == "production":
        api = start_service(mode, name="api", share="kill", RUN_WORKERS="false", **LOOPBACK_ALLOWED)
        first = start_service(mode, name="worker-1", share="kill", command="worker")
    else:
        api = first = start_service(mode, name="embedded-1", share="kill", **LOOPBACK_ALLOWED)
    with _client(api) as client:
        receiver.secret = client.get("/webhooks/secret").json()["secret"]
        response = text.upload(client, callback_url=receiver.url, client_tag="survivor", document_id="survivor")
        assert response.status_code == 202, response.text
        # Between refused attempts the status shows the delivery pending, with the last attempt's error.
        pending = wait_until(lambda: (lambda w: w if w and w.get("last_error") else None)(
            client.get("/check-status/survivor").json().get("webhook")), 90, 0.02, "a refused attempt")
        assert pending["status"] == "pending" and pending["last_error"] == "HTTP 500" and pending["attempts"] >= 1
    first.kill()  # SIGKILL after the document ended, before any delivery succeeded
    if mode == "production":
        redis_server.stop()
        redis_server.start()
        start_service(mode, name="worker-2", share="kill", command="worker")
    else:
        api = start_service(mode, name="embedded-2", share="kill")
    with _client(api) as client:
        status = _delivered(client, "survivor")
    assert status["status"] == "completed" and status["webhook"]["attempts"] >= 3
    attempts = receiver.of("survivor")
    assert all(a["payload"] is not None for a in attempts)
    assert attempts[-1]["payload"]["client_tag"] == "survivor"
    assert len(attempts) == status["webhook"]["attempts"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://169.254.169.254/latest/meta-data/",
                                 "http://[::1]/hook", "http://10.1.2.3/hook", "ftp://example.com/hook",
                                 "http://localhost/hook", "not a url"])
def test_callback_urls_on_non_public_addresses_are_refused(guarded, url):
    response = guarded.post("/extract", files={"file": ("t.pdf", samples.text_pdf(["No."]))},
                            data={"callback_url": url})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_callback_url" and "callback_url" in error["message"]
    assert guarded.get("/documents").json()["documents"] == []  # nothing was accepted


def test_link_local_is_refused_even_where_loopback_is_allowed(start_service):
    secret = "whsec_" + base64.b64encode(b"the default tenant's own secret").decode()
    service = start_service("embedded", name="loopback-allowed", WEBHOOK_SECRET=secret, **LOOPBACK_ALLOWED)
    with _client(service) as client:
        assert client.get("/webhooks/secret").json()["secret"] == secret  # the default tenant's, from the setting
        data = samples.text_pdf(["Metadata, no."])
        refused = client.post("/extract", files={"file": ("t.pdf", data)},
                              data={"callback_url": "http://169.254.169.254/latest/meta-data/"})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_callback_url"
        allowed = client.post("/extract", files={"file": ("t.pdf", data)}, data={"callback_url": "http://127.0.0.1:9/"})
        assert allowed.status_code == 202, allowed.text


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, redis_server, mongo_server):
    """A service with the default settings: no network but public ones is a callback target."""
    from tests.support.servers import ServiceFactory

    factory = ServiceFactory(tmp_path_factory.mktemp("guarded"), redis_server, mongo_server)
    service = factory("embedded", name="guarded")
    with service.client() as client:
        yield client
    factory.stop_all()


def test_redirects_are_not_followed(start_service):
    elsewhere = Receiver(fail_first=0)
    redirecting = Receiver(fail_first=10**6, refusal=307, location=elsewhere.url)
    try:
        service = start_service("embedded", name="redirects", **LOOPBACK_ALLOWED)
        with _client(service) as client:
            response = client.post("/extract", files={"file": ("t.pdf", samples.text_pdf(["Go elsewhere?"]))},
                                   data={"callback_url": redirecting.url, "document_id": "moved"})
            assert response.status_code == 202, response.text
            state = wait_until(lambda: (lambda w: w if w and w["attempts"] >= 2 else None)(
                client.get("/check-status/moved").json().get("webhook")), 90, 0.1, "two attempts")
        assert state["status"] == "pending" and "redirect" in state["last_error"], state
        assert len(redirecting.of("moved")) >= 2 and elsewhere.of("moved") == []
    finally:
        redirecting.close()
        elsewhere.close()


@pytest.mark.parametrize("mode", MODES)
def test_a_tenant_default_callback_receives_the_events_of_uploads_that_name_none(start_service, receiver, mode):
    service = start_service(mode, name=f"default-callback-{mode}", **LOOPBACK_ALLOWED)
    receiver.fail_first = 0
    with _client(service) as client:
        receiver.secret = client.get("/webhooks/secret").json()["secret"]
        refused = client.put("/webhooks/default-callback", json={"callback_url": "http://169.254.169.254/x"})
        assert refused.status_code == 422 and "callback_url" in refused.json()["error"]["message"]
        assert client.get("/webhooks/default-callback").json() == {"callback_url": None}
        assert client.put("/webhooks/default-callback", json={"callback_url": receiver.url}).status_code == 200
        assert client.get("/webhooks/default-callback").json() == {"callback_url": receiver.url}

        doc = small_scans(1, seed=9300)[0]
        assert doc.upload(client, document_id="by-default", client_tag="tagged").status_code == 202
        _delivered(client, "by-default")
        (attempt,) = receiver.of("by-default")
        assert attempt["payload"]["status"] == "completed" and attempt["payload"]["client_tag"] == "tagged"

        assert client.put("/webhooks/default-callback", json={"callback_url": None}).status_code == 200
        other = small_scans(1, seed=9301)[0]
        other.upload(client, document_id="no-callback")
        assert wait_for(client, "no-callback")["webhook"] is None

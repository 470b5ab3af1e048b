"""Hostile clients and an unlucky machine cannot hurt the API: a full disk is a clear 507, uploads and
waits are bounded (503 + Retry-After at once), slow clients are cut off, forwarded headers are trusted
only from the configured proxies, ids that cannot round-trip through a URL are refused, and a document
accepted while the queue was down is queued as soon as it answers. All over real HTTP."""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time

import httpx
import pytest

from tests.support import samples
from tests.support.hostile import (
    can_mount,
    closed_by_server,
    noise_png,
    raw_connection,
    read_response,
    tiny_tmpfs,
)
from tests.support.polling import wait_for
from tests.support.servers import wait_until


def _text_pdf(seed: int) -> bytes:
    return samples.text_pdf([samples.sample_text(seed, lines=2)])


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    return body["error"]["message"]


# -- ids and messages -------------------------------------------------------------------------------
@pytest.mark.parametrize("document_id", [".", "..", "...", "a" * 129])
def test_ids_that_cannot_round_trip_through_a_url_are_refused(client, document_id):
    response = client.post("/extract", files={"file": ("t.pdf", _text_pdf(1))},
                           data={"document_id": document_id, "mode": "text"})
    assert "document_id" in _error(response, 422, "invalid_request")


@pytest.mark.parametrize("document_id", [".hidden", "v1.0.", "a.b", "-", "_"])
def test_ids_with_dots_and_more_are_accepted_and_reachable(client, document_id):
    response = client.post("/extract", files={"file": ("t.pdf", _text_pdf(2))},
                           data={"document_id": document_id, "mode": "text"})
    assert response.status_code == 202, response.text
    assert client.get(response.json()["status_url"]).json()["document_id"] == document_id


def test_unknown_language_message_suggests_only_installed_languages(start_service, tmp_path):
    # A machine with English only: every example the message gives must be accepted there.
    tessdata = tmp_path / "tessdata"
    tessdata.mkdir()
    from ocr_service.pipeline.engine import tessdata_dir

    for name in ("eng", "osd"):
        (tessdata / f"{name}.traineddata").symlink_to(os.path.join(tessdata_dir(), f"{name}.traineddata"))
    service = start_service("embedded", TESSDATA_PREFIX=str(tessdata))
    with service.client() as client:
        installed = client.get("/languages").json()["languages"]
        assert installed == ["eng"]
        message = _error(client.post("/extract", files={"file": ("t.pdf", _text_pdf(3))}, data={"language": "xx"}),
                         422, "unknown_language")
        examples = re.findall(r"'([A-Za-z0-9_]+(?:\+[A-Za-z0-9_]+)*)'", message.split("Use", 1)[1])
        assert examples, message
        for example in examples:
            assert set(example.split("+")) <= set(installed), message


# -- a full disk --------------------------------------------------------------------------------------
needs_root = pytest.mark.skipif(not can_mount(), reason="mounting a tmpfs needs root")


def _assert_healthy_after(client: httpx.Client) -> None:
    assert client.get("/health/ready").status_code == 200
    small = client.post("/extract", files={"file": ("small.pdf", _text_pdf(5))}, data={"mode": "text"})
    assert small.status_code == 202, small.text  # the failed upload's partial files were freed
    assert wait_for(client, small.json()["document_id"], timeout=60)["status"] == "completed"


@needs_root
@pytest.mark.parametrize("mode", ["embedded", "production"])
def test_disk_full_while_staging_an_upload_is_507_and_the_service_stays_healthy(start_service, tmp_path, mode):
    with tiny_tmpfs(tmp_path / "tmp", "1m") as staging:
        # Uploads past 64 KiB are spooled to TMPDIR while they arrive: there the disk fills up.
        # REDIS_DB: a queue of its own (see the queue-outage test below).
        service = start_service(mode, TMPDIR=str(staging), UPLOAD_MEMORY_BYTES="65536", REDIS_DB="6")
        try:
            with service.client() as client:
                big = client.post("/extract", files={"file": ("noise.png", noise_png(800, 700))})
                _error(big, 507, "insufficient_storage")
                assert big.headers["retry-after"].isdigit()
                _assert_healthy_after(client)
                # the metrics of the service's processes live in its temporary folder too: not staging
                leftovers = [p for p in staging.rglob("*")
                             if p.is_file() and not p.parent.name.startswith("ocr-metrics-")]
                assert leftovers == [], leftovers
        finally:
            service.stop()


@needs_root
def test_disk_full_while_storing_an_upload_is_507_and_the_service_stays_healthy(start_service, tmp_path):
    data_dir = tmp_path / "store-data"
    with tiny_tmpfs(data_dir / "uploads", "1m") as uploads:
        service = start_service("embedded", DATA_DIR=str(data_dir))
        try:
            with service.client() as client:
                big = client.post("/extract", files={"file": ("noise.png", noise_png(700, 600))})
                _error(big, 507, "insufficient_storage")
                assert big.headers["retry-after"].isdigit()
                assert list(uploads.glob("*.partial")) == []
                _assert_healthy_after(client)
        finally:
            service.stop()


# -- behind the load balancer ------------------------------------------------------------------------
FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ocr.example.com", "X-Forwarded-For": "203.0.113.9"}


def _submit(client: httpx.Client, seed: int, headers: dict[str, str]) -> httpx.Response:
    response = client.post("/extract", files={"file": ("t.pdf", _text_pdf(seed))},
                           data={"document_id": f"fwd-{seed}", "mode": "text"}, headers=headers)
    assert response.status_code == 202, response.text
    return response


def test_urls_follow_the_forwarded_scheme_and_host_from_a_trusted_proxy_only(start_service):
    trusted = start_service("embedded", name="trusted", FORWARDED_ALLOW_IPS="10.0.0.0/8, 127.0.0.1")
    with trusted.client() as client:
        answer = _submit(client, 10, FORWARDED)
        assert answer.json()["status_url"] == "https://ocr.example.com/check-status/fwd-10"
        assert answer.json()["result_url"] == "https://ocr.example.com/result/fwd-10"
        assert answer.headers["location"] == answer.json()["status_url"]
        # A proxy that keeps the client's Host header (an ALB) and says only the scheme.
        kept = _submit(client, 11, {"X-Forwarded-Proto": "https", "Host": "api.example.org"})
        assert kept.json()["status_url"] == "https://api.example.org/check-status/fwd-11"
        # A malformed forwarded host is ignored, not pasted into URLs.
        bad = _submit(client, 12, {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example/x?y"})
        assert bad.json()["status_url"] == f"https://127.0.0.1:{trusted.port}/check-status/fwd-12"

    untrusted = start_service("embedded", name="untrusted", FORWARDED_ALLOW_IPS="10.0.0.0/8")
    with untrusted.client() as client:
        answer = _submit(client, 13, FORWARDED)
        assert answer.json()["status_url"] == f"http://127.0.0.1:{untrusted.port}/check-status/fwd-13"
        assert answer.headers["location"] == answer.json()["status_url"]


def test_slow_headers_and_stalled_bodies_are_cut_off_but_idle_keep_alive_is_not(start_service):
    service = start_service("embedded", HEADER_TIMEOUT_S="1", BODY_TIMEOUT_S="1")
    # Half a request, then nothing: the server closes the connection (without a limit it waits for good).
    slow_headers = raw_connection(service.port)
    slow_headers.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
    # Connected, not a byte sent.
    silent = raw_connection(service.port)
    # A body that stops half way: 408 in the JSON error shape.
    stalled = raw_connection(service.port)
    boundary = "b0undary"
    stalled.sendall((f"POST /extract HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}"
                     f"\r\nContent-Length: 100000\r\n\r\n--{boundary}\r\nContent-Disposition: form-data; "
                     'name="file"; filename="a.pdf"\r\n\r\n%PDF-1.7\n').encode())
    # A keep-alive connection idle between two requests longer than the header deadline stays open.
    idle = raw_connection(service.port)
    idle.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_response(idle).startswith(b"HTTP/1.1 200")
    try:
        assert closed_by_server(slow_headers)
        assert closed_by_server(silent)
        answer = read_response(stalled)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b'"code":"request_timeout"' in answer
        time.sleep(1.5)
        idle.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(idle).startswith(b"HTTP/1.1 200")
    finally:
        for sock in (slow_headers, silent, stalled, idle):
            sock.close()


# -- load: half-open connections and a burst of waiting uploads --------------------------------------
SLOWLORIS = 50
BURST = 200


async def _burst(url: str, docs: list[bytes]) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=BURST + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        return await asyncio.gather(*(
            client.post("/extract", files={"file": (f"b{n}.pdf", data)}, data={"mode": "text"},
                        headers={"Prefer": "wait=10"})
            for n, data in enumerate(docs)))


def test_slowloris_and_a_burst_of_waiting_uploads_leave_status_calls_answered_and_lose_nothing(start_service):
    service = start_service("embedded", MAX_CONCURRENT_UPLOADS="16", MAX_WAITING_REQUESTS="8", MAX_WAIT_S="10",
                            HEADER_TIMEOUT_S="60")
    docs = [_text_pdf(1000 + n) for n in range(BURST)]
    with service.client() as client:
        known = client.post("/extract", files={"file": ("k.pdf", _text_pdf(999))}, data={"mode": "text"})
        known_id = known.json()["document_id"]
        keep_alive = raw_connection(service.port, timeout=30)
        keep_alive.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(keep_alive).startswith(b"HTTP/1.1 200")
        idle_since = time.monotonic()

        half_open = []
        for _ in range(SLOWLORIS):
            sock = raw_connection(service.port, timeout=30)
            sock.sendall(b"POST /extract HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; bo")
            half_open.append(sock)

        # Status calls while the burst runs: each must be answered (a generous functional bound).
        status_codes: list[int] = []
        failures: list[str] = []
        done = threading.Event()

        def poll_status() -> None:
            with httpx.Client(base_url=service.url, timeout=5) as poller:
                while not done.is_set():
                    try:
                        status_codes.append(poller.get(f"/check-status/{known_id}").status_code)
                    except httpx.HTTPError as error:
                        failures.append(type(error).__name__)
                    time.sleep(0.05)

        poller = threading.Thread(target=poll_status)
        poller.start()
        try:
            answers = asyncio.run(_burst(service.url, docs))
        finally:
            done.set()
            poller.join()

        assert failures == [] and status_codes and set(status_codes) == {200}, (failures, status_codes[-5:])
        by_status = {code: [a for a in answers if a.status_code == code] for code in {a.status_code for a in answers}}
        assert set(by_status) <= {200, 202, 503}, {code: by_status[code][0].text for code in by_status}
        refused = by_status.get(503, [])
        assert refused, "no upload was refused: nothing bounds concurrent uploads"
        for answer in refused:
            assert answer.headers["retry-after"].isdigit()
            assert answer.json()["error"]["code"] == "busy"
        accepted = [a.json()["document_id"] for code in (200, 202) for a in by_status.get(code, [])]
        assert len(accepted) + len(refused) == BURST
        for document_id in accepted:  # nothing accepted is lost
            assert wait_for(client, document_id, timeout=60)["status"] == "completed"

        # Recovered: a waiting upload gets its result at once; the slowloris sockets held nothing back.
        after = client.post("/extract", files={"file": ("after.pdf", _text_pdf(5000))}, data={"mode": "text"},
                            headers={"Prefer": "wait=10"})
        assert after.status_code == 200, after.text
        assert client.get("/health/ready").status_code == 200

        # The keep-alive connection idle all along (longer than uvicorn's old 5 s) is still usable.
        time.sleep(max(0.0, 6 - (time.monotonic() - idle_since)))
        keep_alive.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(keep_alive).startswith(b"HTTP/1.1 200")
        for sock in [*half_open, keep_alive]:
            sock.close()


# -- the queue comes back ------------------------------------------------------------------------------
def test_document_accepted_while_the_queue_is_down_is_queued_when_it_answers(start_service, redis_server):
    # The reconciler would queue it too, but only after an hour here: only the retry can explain it. A
    # Redis database of its own: another production service alive meanwhile (this module's) shares the
    # server, and its worker would take the message and not find the document in its own database.
    service = start_service("production", REQUEUE_LOST_INTERVAL_S="3600", REDIS_DB="7")
    with service.client() as client:
        redis_server.stop()
        try:
            accepted = client.post("/extract", files={"file": ("q.pdf", _text_pdf(7000))}, data={"mode": "text"})
            assert accepted.status_code == 202, accepted.text
            assert client.get(accepted.json()["status_url"]).json()["status"] == "queued"
        finally:
            redis_server.start()
        wait_until(lambda: client.get("/health/ready").status_code == 200, 30, message="redis back")
        assert wait_for(client, accepted.json()["document_id"], timeout=30)["status"] == "completed"

"""ocr_service.client (sync and async) against the real service over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pypdf
import pytest

from ocr_service.client import (
    AsyncClient,
    BadRequest,
    Client,
    Conflict,
    DocumentStatus,
    NotFinished,
    NotFound,
    Result,
    ServiceUnreachable,
    Unauthorized,
    Unavailable,
)
from tests.support import samples
from tests.support.documents import Doc
from tests.support.servers import free_port, wait_until


@pytest.fixture(scope="module")
def scan_2() -> Doc:
    texts = [samples.sample_text(800 + n, lines=4) for n in range(2)]
    return Doc("scan2.pdf", samples.scanned_pdf(texts, seed=800), texts)


@pytest.fixture
def ocr(service):
    with Client(service.url, timeout=60) as client:
        yield client


def test_the_client_imports_nothing_of_the_server():
    code = ("import sys, ocr_service.client; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette', 'pymongo', "
            "'redis', 'dramatiq', 'pypdfium2', 'tesserocr') or m.startswith('ocr_service.') "
            "and m != 'ocr_service.client'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_submit_with_wait_returns_the_result_in_the_answer(ocr, scanned_page, tmp_path):
    path = tmp_path / "scan.pdf"
    path.write_bytes(scanned_page.data)
    # The server caps the wait (MAX_WAIT_S), and a loaded machine may take longer to OCR a page: the
    # first upload is followed to the end, the second (the same bytes) completes within any wait.
    first = ocr.submit(path, document_id=f"client-{uuid.uuid4().hex[:8]}")
    assert first.created is True and first.result is None
    assert ocr.wait(first.document_id, timeout=300).status == "completed"
    submission = ocr.submit(path, wait=30, document_id=f"client-{uuid.uuid4().hex[:8]}")
    assert submission.status == "completed" and isinstance(submission.result, Result)
    assert samples.cer(scanned_page.pages[0], submission.result.text) <= 0.02
    [page] = submission.result.pages
    assert page.number == 1 and page.source == "ocr" and page.words is None

    status = ocr.status(submission.document_id)
    assert isinstance(status, DocumentStatus) and status.finished
    assert (status.pages_done, status.pages_total) == (1, 1)
    assert ocr.text(submission.document_id) == submission.result.text
    with_words = ocr.result(submission.document_id, words=True)
    assert len(with_words.pages[0].words) >= 20 and len(with_words.pages[0].words[0].bbox) == 4
    assert "ocrx_word" in ocr.hocr(submission.document_id)

    target = ocr.download(submission.document_id, tmp_path / "out" / "scan.pdf")
    text = pypdf.PdfReader(target).pages[0].extract_text()
    assert samples.cer(scanned_page.pages[0], text) <= 0.05
    assert ocr.pdf(submission.document_id)[:5] == b"%PDF-"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["scan.pdf"]  # no temporary file left


def test_without_wait_progress_is_reported_until_completed(ocr, scan_2):
    submission = ocr.submit(io.BytesIO(scan_2.data), filename="scan2.pdf", pages="2")
    assert submission.result is None and submission.status in ("queued", "processing")
    with pytest.raises(NotFinished) as early:  # asked for before the OCR of a page can have finished
        ocr.result(submission.document_id)
    assert early.value.status_code == 202 and early.value.status.pages_total == 1
    seen: list[DocumentStatus] = []
    final = ocr.wait(submission.document_id, timeout=120, interval=0.1, on_progress=seen.append)
    assert final.status == "completed" and seen[-1] is final
    result = ocr.result(submission.document_id)
    assert [page.number for page in result.pages] == [2]
    assert samples.cer(scan_2.pages[1], result.text) <= 0.02

    again = ocr.submit(sha256=hashlib.sha256(scan_2.data).hexdigest(), pages="2", wait=30)
    assert again.result is not None and again.result.text == result.text


def test_errors_are_typed_with_the_service_code_and_status(ocr, scanned_page, tmp_path):
    with pytest.raises(NotFound) as missing:
        ocr.status("no-such-document")
    assert (missing.value.status_code, missing.value.code) == (404, "not_found")
    with pytest.raises(BadRequest) as bad_range:
        ocr.submit(scanned_page.data, pages="3-1")
    assert (bad_range.value.status_code, bad_range.value.code) == (422, "invalid_pages")
    assert "'3-1'" in bad_range.value.message
    with pytest.raises(BadRequest) as not_a_document:
        ocr.submit(b"just some text, not a document")
    assert not_a_document.value.code == "unsupported_type" and not_a_document.value.status_code == 415
    document_id = f"clash-{uuid.uuid4().hex[:8]}"
    ocr.submit(scanned_page.data, document_id=document_id)
    with pytest.raises(Conflict) as clash:
        ocr.submit(scanned_page.data, document_id=document_id, mode="ocr")
    assert clash.value.code == "document_id_conflict"
    with pytest.raises(NotFound) as unknown:
        ocr.submit(sha256="0" * 64)
    assert unknown.value.code == "unknown_content"
    with pytest.raises(FileNotFoundError):
        ocr.submit(tmp_path / "missing.pdf")


def test_languages_and_health(ocr, service):
    assert "eng" in ocr.languages()
    health = ocr.health()
    assert health.ok and health.checks and set(health.checks.values()) == {"ok"}


def test_the_async_client_does_the_same(service, scan_2, tmp_path):
    async def scenario():
        async with AsyncClient(service.url) as ocr:
            first, second = await asyncio.gather(ocr.submit(scan_2.data, pages="1", filename="a.pdf"),
                                                 ocr.submit(scan_2.data, pages="2", filename="b.pdf"))
            finals = await asyncio.gather(ocr.wait(first.document_id, timeout=120, interval=0.1),
                                          ocr.wait(second.document_id, timeout=120, interval=0.1))
            assert [f.status for f in finals] == ["completed", "completed"]
            results = [await ocr.result(s.document_id) for s in (first, second)]
            await ocr.download(second.document_id, tmp_path / "b.json", format="json")
            with pytest.raises(NotFound):
                await ocr.status("no-such-document")
            return results, await ocr.health(), await ocr.languages()

    (one, two), health, languages = asyncio.run(scenario())
    assert [p.number for p in one.pages] == [1] and [p.number for p in two.pages] == [2]
    assert samples.cer(scan_2.pages[0], one.text) <= 0.02 and samples.cer(scan_2.pages[1], two.text) <= 0.02
    assert [p["number"] for p in json.loads((tmp_path / "b.json").read_text())["pages"]] == [2]
    assert health.ok and "eng" in languages


def test_the_key_comes_from_the_argument_or_the_environment(start_service, scanned_page, monkeypatch):
    service = start_service("embedded", API_KEY="client-test-key")
    monkeypatch.delenv("OCR_API_KEY", raising=False)
    with Client(service.url, api_key="wrong") as ocr, pytest.raises(Unauthorized) as refused:
        ocr.status("anything")
    assert (refused.value.status_code, refused.value.code) == (401, "unauthorized")
    with Client(service.url) as ocr:
        assert ocr.health().ok  # health checks are open
        with pytest.raises(Unauthorized):
            ocr.languages()
    monkeypatch.setenv("OCR_API_KEY", "client-test-key")
    monkeypatch.setenv("OCR_URL", service.url)
    with Client() as ocr:
        assert ocr.url == service.url
        assert ocr.wait(ocr.submit(scanned_page.data).document_id, timeout=300).status == "completed"


def test_a_service_that_does_not_answer_is_one_error():
    with Client(f"http://127.0.0.1:{free_port()}") as ocr, pytest.raises(ServiceUnreachable) as error:
        ocr.status("anything")
    assert "does not answer" in str(error.value)


@pytest.mark.skipif(bool(os.environ.get("MONGO_TEST_URI")), reason="cannot stop an external MongoDB")
def test_503_is_retried_after_retry_after_and_bounded(start_service, mongo_server, scanned_page):
    service = start_service("production")
    with Client(service.url, max_retries=6, max_retry_wait_s=1) as patient, \
            Client(service.url, max_retries=1, max_retry_wait_s=0.2) as impatient:
        document_id = patient.submit(scanned_page.data).document_id
        assert patient.wait(document_id, timeout=300).status == "completed"
        mongo_server.stop()
        restart = threading.Timer(3, mongo_server.start)
        try:
            with pytest.raises(Unavailable) as down:  # one retry, then the 503 is the answer
                impatient.status(document_id)
            assert down.value.status_code == 503 and down.value.code == "unavailable"
            assert down.value.retry_after is not None and down.value.retry_after > 0
            restart.start()
            assert patient.status(document_id).status == "completed"  # retried until MongoDB was back
        finally:
            restart.join()
            if not mongo_server.running:
                mongo_server.start()
    # The impatient client's two answers were 503s, and so were the patient one's first ones (the service
    # writes one JSON line per request, once its answer is sent: the last one may land just after the
    # client has read it; with MongoDB down the key check answers before routing).
    def logged():
        access = [json.loads(line) for line in service.log_path.read_text().splitlines()
                  if '"logger": "ocr_service.access"' in line]
        statuses = [entry["status"] for entry in access if entry.get("method") == "GET"]
        status_calls = [entry["status"] for entry in access if entry.get("route") == "/check-status/{document_id}"]
        return statuses, status_calls, access

    with contextlib.suppress(TimeoutError):
        wait_until(lambda: logged()[1][-1:] == [200], 10, message="the last status call's line")
    statuses, status_calls, access = logged()
    assert statuses.count(503) >= 3 and status_calls[-1] == 200, access[-10:]


# -- routes the service gains with the document lifecycle ---------------------------------------------

def test_documents_are_listed_across_pages_with_the_cursor(ocr):
    ids = {ocr.submit(samples.png_page(f"Listed document {n}", seed=n)).document_id for n in range(5)}
    page = ocr.documents(limit=2)
    assert len(page.documents) <= 2 and page.next_cursor
    listed = [document.document_id for document in ocr.iter_documents(page_size=2)]
    assert ids <= set(listed) and len(listed) == len(set(listed))


def test_delete_and_cancel(ocr, scanned_10):
    done = ocr.submit(scanned_10.data, pages="1", wait=60)
    ocr.delete(done.document_id)
    with pytest.raises(NotFound):
        ocr.status(done.document_id)
    running = ocr.submit(scanned_10.data, mode="ocr")
    assert ocr.cancel(running.document_id).status == "cancelled"
    assert ocr.wait(running.document_id, timeout=60).status == "cancelled"


def test_liveness_and_readiness(ocr):
    assert ocr.live().ok
    ready = ocr.ready()
    assert ready.ok and set(ready.checks.values()) == {"ok"}


def test_retry_after_is_read_as_seconds_or_an_http_date():
    from email.utils import format_datetime

    import httpx

    from ocr_service.client import _retry_after, error_from

    assert _retry_after(httpx.Response(503, headers={"Retry-After": "3"})) == 3
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    assert 100 < _retry_after(httpx.Response(429, headers={"Retry-After": later})) <= 120
    assert _retry_after(httpx.Response(503, headers={"Retry-After": "soon"})) is None
    assert _retry_after(httpx.Response(503)) is None
    # An answer not in the service's shape (a proxy's page) is still a typed error with the status.
    error = error_from(httpx.Response(502, text="<html>Bad Gateway</html>"))
    assert (type(error).__name__, error.status_code, error.code) == ("ApiError", 502, "http_error")

"""Bad input gets a 4xx with a message a person can act on; the service stays healthy."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.support import samples
from tests.support.polling import submit_and_wait, wait_for

TINY_LIMIT = 300_000


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    assert len(body["error"]["message"]) > 20
    return body["error"]["message"]


BAD_DOCUMENTS = {
    "empty": (b"", 422, "empty_file"),
    "plain text": (b"Hello, this is not a PDF at all.\n" * 20, 415, "unsupported_type"),
    "html named .pdf": (b"<!doctype html><html><body>PDF?</body></html>", 415, "unsupported_type"),
    "truncated": (samples.truncated_pdf(), 422, "corrupt_document"),
    "encrypted": (samples.encrypted_pdf(), 422, "encrypted_document"),
    "zero pages": (samples.zero_page_pdf(), 422, "no_pages"),
    "pdf header then garbage": (b"%PDF-1.7\n" + bytes(range(256)) * 40, 422, "corrupt_document"),
}


@pytest.mark.parametrize("name", BAD_DOCUMENTS)
def test_bad_documents_are_refused_with_a_clear_4xx(client, name):
    data, status, code = BAD_DOCUMENTS[name]
    _error(client.post("/extract", files={"file": ("upload.pdf", data)}), status, code)


@pytest.mark.parametrize("document_id", ["../../etc/passwd", "a" * 129, "white space", "semi;colon", ""])
def test_invalid_document_id(client, scanned_page, document_id):
    response = scanned_page.upload(client, document_id=document_id)
    if document_id == "":  # an empty form field is the same as none: an id is generated
        assert response.status_code == 202
        return
    message = _error(response, 422, "invalid_request")
    assert "document_id" in message


def test_unknown_language_lists_the_available_ones(client, scanned_page):
    message = _error(scanned_page.upload(client, language="klingon"), 422, "unknown_language")
    assert "eng" in message
    _error(scanned_page.upload(client, language="eng+xx"), 422, "unknown_language")
    _error(scanned_page.upload(client, language="eng; rm -rf /"), 422, "invalid_request")


def test_invalid_mode(client, scanned_page):
    assert "mode" in _error(scanned_page.upload(client, mode="fast"), 422, "invalid_request")


def test_missing_file_and_wrong_body(client):
    assert "file" in _error(client.post("/extract", data={"language": "eng"}), 422, "missing_file")
    assert "file" in _error(client.post("/extract", json={"file": "x"}), 422, "missing_file")
    _error(client.post("/extract", content=b"\x00" * 100,
                       headers={"content-type": "multipart/form-data; boundary=zzz"}), 400, "malformed_request")


def test_wrong_method_and_path(client):
    _error(client.get("/extract"), 405, "method_not_allowed")
    _error(client.get("/nowhere"), 404, "not_found")


def test_service_is_healthy_after_all_of_it(client, scanned_page):
    assert client.get("/health").status_code == 200
    result = submit_and_wait(client, scanned_page)
    assert samples.cer(scanned_page.pages[0], result["text"]) <= 0.02


@pytest.fixture(scope="module")
def limited(tmp_path_factory, redis_server, mongo_server):
    """An embedded service with small limits, to hit them cheaply."""
    from tests.support.servers import ServiceFactory

    factory = ServiceFactory(tmp_path_factory.mktemp("limited"), redis_server, mongo_server)
    service = factory("embedded", name="limited", MAX_UPLOAD_BYTES=str(TINY_LIMIT), MAX_PAGES="3",
                      PAGE_TIMEOUT_S="0.001")
    with service.client() as client:
        yield client
    factory.stop_all()


def test_oversized_upload_with_content_length_is_413_before_reading_it(limited):
    message = _error(limited.post("/extract", files={"file": ("big.pdf", b"%PDF-1.7\n" + b"0" * (2 * TINY_LIMIT))}),
                     413, "too_large")
    assert str(TINY_LIMIT) in message


def test_oversized_streamed_upload_is_refused_before_the_body_ends(limited):
    """A chunked upload with no Content-Length: the server must answer 413 once the limit is
    passed, while the client is still in the middle of sending (the body is never finished)."""
    url = httpx.URL(str(limited.base_url))
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(b"POST /extract HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")
        part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.pdf"\r\n\r\n%PDF-1.7\n'
        chunks = [part] + [b"0" * 65536] * (2 * TINY_LIMIT // 65536 + 2)
        for chunk in chunks:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        # The body is left unfinished: a server that waits for all of it never answers.
        answer = ""
        while "too_large" not in answer and (data := sock.recv(65536)):
            answer += data.decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
    assert "too_large" in answer


def test_too_many_pages(limited):
    data = samples.text_pdf(["one", "two", "three", "four"])
    assert "3" in _error(limited.post("/extract", files={"file": ("four.pdf", data)}), 422, "too_many_pages")


def test_a_document_failing_midway_ends_failed_and_others_go_on(limited, scanned_page):
    failing = scanned_page.upload(limited).json()["document_id"]  # OCR cannot finish in 1 ms
    fine = limited.post("/extract", files={"file": ("t.pdf", samples.text_pdf(["Still fine."]))}).json()["document_id"]
    status = wait_for(limited, failing)
    assert status["status"] == "failed"
    assert status["error"]["code"] == "ocr_timeout"
    result = limited.get(f"/result/{failing}")
    assert result.status_code == 409 and result.json()["error"]["code"] == "ocr_timeout"
    assert wait_for(limited, fine)["status"] == "completed"
    assert limited.get("/health").status_code == 200


def test_prefer_wait_on_a_document_that_fails_answers_202_with_the_failed_status(limited):
    scan = samples.scanned_pdf([samples.sample_text(7500, lines=3)], seed=7500)  # OCR cannot finish in 1 ms
    response = limited.post("/extract", files={"file": ("fails.pdf", scan)}, headers={"Prefer": "wait=30"})
    assert response.status_code == 202 and response.json()["status"] == "failed", response.text
    status = limited.get(response.headers["Location"]).json()
    assert status["error"]["code"] == "ocr_timeout"

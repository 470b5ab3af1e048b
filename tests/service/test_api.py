"""The HTTP contract over real HTTP, against a uvicorn server in each mode."""

from __future__ import annotations

import hashlib
import os
import time

import pytest

from tests.support import samples
from tests.support.corpus import DATA
from tests.support.documents import small_scans
from tests.support.polling import submit_and_wait, wait_for


def test_health_names_the_mode_and_its_dependencies(client, service):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["mode"] in service.name
    assert set(body["checks"]) == {"store", "cache", "queue"}


def test_scanned_page_round_trip(client, scanned_page):
    response = scanned_page.upload(client)
    assert response.status_code == 202
    accepted = response.json()
    assert set(accepted) == {"document_id", "status", "content_sha256", "status_url", "result_url"}
    assert accepted["content_sha256"] == hashlib.sha256(scanned_page.data).hexdigest()
    assert accepted["status"] in ("queued", "processing", "completed")
    assert accepted["status_url"].endswith(f"/check-status/{accepted['document_id']}")

    status = wait_for(client, accepted["document_id"])
    assert status["status"] == "completed"
    assert status["pages_total"] == status["pages_done"] == 1
    assert status["error"] is None
    assert status["created_at"] <= status["updated_at"]

    result = client.get(accepted["result_url"]).json()
    assert result["status"] == "completed"
    [page] = result["pages"]
    assert page["number"] == 1 and page["source"] == "ocr"
    assert page["confidence"] > 70
    assert "words" not in page
    assert samples.cer(scanned_page.pages[0], page["text"]) <= 0.02
    assert samples.cer(scanned_page.pages[0], result["text"]) <= 0.02

    text = client.get(accepted["result_url"], params={"format": "text"})
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text == result["text"]

    with_words = client.get(accepted["result_url"], params={"words": "true"}).json()
    words = with_words["pages"][0]["words"]
    assert len(words) >= 20
    assert all(len(word["bbox"]) == 4 and word["bbox"][0] < word["bbox"][2] for word in words)


def test_born_digital_50_pages_take_the_text_layer_exactly(client, born_digital_50):
    result = submit_and_wait(client, born_digital_50)
    assert len(result["pages"]) == 50
    # No page went to Tesseract: every one came from the text layer, with no OCR confidence.
    assert {page["source"] for page in result["pages"]} == {"text-layer"}
    assert all(page["confidence"] is None for page in result["pages"])
    for page, expected in zip(result["pages"], born_digital_50.pages, strict=True):
        assert samples.normalise_whitespace(page["text"]) == samples.normalise_whitespace(expected)


def test_ten_page_scan_shows_progress_page_by_page(client, scanned_10):
    document_id = scanned_10.upload(client).json()["document_id"]
    early = client.get(f"/result/{document_id}")
    assert early.status_code in (200, 202)  # 202 with the status body while it runs
    if early.status_code == 202:
        assert early.json()["status"] in ("queued", "processing")

    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = client.get(f"/check-status/{document_id}").json()
        seen.append((status["status"], status["pages_done"]))
        if status["status"] in ("completed", "failed"):
            break
        time.sleep(0.05)
    assert seen[-1] == ("completed", 10)
    done_counts = [done for _, done in seen]
    assert done_counts == sorted(done_counts), "progress never goes backwards"
    assert any(state == "processing" and 0 < done < 10 for state, done in seen), seen

    result = client.get(f"/result/{document_id}").json()
    assert [page["number"] for page in result["pages"]] == list(range(1, 11))
    for page, expected in zip(result["pages"], scanned_10.pages, strict=True):
        assert samples.cer(expected, page["text"]) <= 0.02


def test_mixed_document_takes_each_page_its_own_way(client, mixed_doc):
    result = submit_and_wait(client, mixed_doc)
    assert [page["source"] for page in result["pages"]] == ["text-layer", "ocr"]
    assert samples.normalise_whitespace(result["pages"][0]["text"]) == samples.normalise_whitespace(mixed_doc.pages[0])
    assert samples.cer(mixed_doc.pages[1], result["pages"][1]["text"]) <= 0.02


def test_mode_text_never_ocrs_and_mode_ocr_always_does(client, mixed_doc):
    text_only = submit_and_wait(client, mixed_doc, mode="text")
    assert [page["source"] for page in text_only["pages"]] == ["text-layer", "none"]
    assert text_only["pages"][1]["text"] == ""
    forced = submit_and_wait(client, mixed_doc, mode="ocr")
    assert [page["source"] for page in forced["pages"]] == ["ocr", "ocr"]
    assert samples.cer(mixed_doc.pages[0], forced["pages"][0]["text"]) <= 0.02


def test_same_id_and_bytes_is_idempotent_other_bytes_conflict(client, scanned_page, mixed_doc):
    first = scanned_page.upload(client, document_id="contract-2026.v1")
    assert first.status_code == 202
    again = scanned_page.upload(client, document_id="contract-2026.v1")
    assert again.status_code == 202
    assert again.json()["document_id"] == "contract-2026.v1"
    assert again.headers["x-created"] == "false"

    clash = mixed_doc.upload(client, document_id="contract-2026.v1")
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == "document_id_conflict"
    other_options = scanned_page.upload(client, document_id="contract-2026.v1", mode="ocr")
    assert other_options.status_code == 409
    assert wait_for(client, "contract-2026.v1")["status"] == "completed"


def test_upload_of_an_already_processed_document_completes_at_once(client):
    [doc] = small_scans(1, seed=900)
    first = submit_and_wait(client, doc)
    again = doc.upload(client).json()
    status = client.get(f"/check-status/{again['document_id']}").json()
    assert status["status"] == "completed"
    assert client.get(f"/result/{again['document_id']}").json()["text"] == first["text"]


def test_unknown_document_is_404(client):
    for path in ("/check-status/nope", "/result/nope"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"


def test_languages_lists_installed_traineddata(client):
    languages = client.get("/languages").json()["languages"]
    assert "eng" in languages and "osd" not in languages


def test_openapi_describes_every_field_and_error(client):
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    extract = spec["paths"]["/extract"]["post"]
    assert {"202", "409", "413", "415", "422", "503"} <= set(extract["responses"])
    schema_ref = extract["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    form = spec["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert {"file", "document_id", "language", "mode"} <= set(form["properties"])
    assert all(form["properties"][name].get("description") for name in ("file", "document_id", "language", "mode"))
    assert {"200", "202", "404", "409"} <= set(spec["paths"]["/result/{document_id}"]["get"]["responses"])
    assert {"200", "503"} <= set(spec["paths"]["/health"]["get"]["responses"])


def test_hocr_and_searchable_pdf_results(client, scanned_page):
    import io

    import pypdfium2

    document_id = scanned_page.upload(client).json()["document_id"]
    assert wait_for(client, document_id)["status"] == "completed"
    ocr_text = client.get(f"/result/{document_id}").json()["text"]

    hocr = client.get(f"/result/{document_id}", params={"format": "hocr"})
    assert hocr.status_code == 200 and hocr.headers["content-type"].startswith("text/html")
    assert "ocr_page" in hocr.text and "ocrx_word" in hocr.text

    pdf = client.get(f"/result/{document_id}", params={"format": "pdf"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    searchable, original = pypdfium2.PdfDocument(pdf.content), pypdfium2.PdfDocument(io.BytesIO(scanned_page.data))
    assert len(searchable) == len(original) == 1
    assert searchable[0].get_size() == pytest.approx(original[0].get_size())
    assert samples.cer(ocr_text, searchable[0].get_textpage().get_text_range()) <= 0.01


def test_images_are_accepted_by_their_bytes(client):
    text = samples.sample_text(42, lines=4)
    response = client.post("/extract", files={"file": ("no-extension", samples.png_page(text))})
    assert response.status_code == 202
    status = wait_for(client, response.json()["document_id"])
    assert status["status"] == "completed"
    result = client.get(f"/result/{response.json()['document_id']}").json()
    assert samples.cer(text, result["text"]) <= 0.02


CORPUS = DATA


def test_real_scan_as_pdf_is_read_exactly(client, tmp_path):
    from PIL import Image

    pdf = tmp_path / "phototest.pdf"
    Image.open(CORPUS / "phototest.tif").save(pdf, resolution=200)
    response = client.post("/extract", files={"file": ("phototest.pdf", pdf.read_bytes())})
    assert wait_for(client, response.json()["document_id"])["status"] == "completed"
    text = client.get(f"/result/{response.json()['document_id']}", params={"format": "text"}).text
    assert samples.cer((CORPUS / "phototest.txt").read_text(), text) == 0.0


def test_uploads_leak_no_file_descriptors(client, service, born_digital_50):
    def open_files() -> int:
        return len(os.listdir(f"/proc/{service.process.pid}/fd"))

    for _ in range(10):  # warm up: pools and connections open as they are first needed
        assert born_digital_50.upload(client).status_code == 202
    before = open_files()
    for _ in range(40):  # a leak per upload would add 40
        assert born_digital_50.upload(client).status_code == 202
    assert open_files() <= before + 10


@pytest.mark.anyio
async def test_uploads_up_to_upload_memory_bytes_are_received_in_memory():
    """Starlette would spool past 1 MiB and hand each chunk to a thread; the setting moves that line for
    the upload route only, without changing Starlette's class for anyone else."""
    from starlette.formparsers import MultiPartParser

    from ocr_service.api import create_app
    from ocr_service.api.deps import UploadRequest
    from ocr_service.config import Settings

    app = create_app(Settings(upload_memory_bytes=3 * 1024 * 1024))

    def request_with(size: int) -> UploadRequest:
        boundary = "b0undary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode()
        body = head + b"x" * size + f"\r\n--{boundary}--\r\n".encode()
        sent = False

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.request", "body": b"", "more_body": False}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {"type": "http", "method": "POST", "path": "/extract", "app": app, "query_string": b"",
                 "headers": [(b"content-type", f"multipart/form-data; boundary={boundary}".encode()),
                             (b"content-length", str(len(body)).encode())]}
        return UploadRequest(scope, receive)

    in_memory = (await request_with(2 * 1024 * 1024).form())["file"]
    spooled = (await request_with(4 * 1024 * 1024).form())["file"]
    assert not in_memory.file._rolled and spooled.file._rolled  # SpooledTemporaryFile: on disk once rolled
    assert MultiPartParser.spool_max_size == 1024 * 1024


def test_a_document_named_by_its_sha256_shares_the_earlier_result(client):
    """Re-submitting without the bytes: the new document is complete at once, with the same text."""
    doc = small_scans(1, seed=7100)[0]
    first = doc.upload(client).json()
    assert wait_for(client, first["document_id"])["status"] == "completed"

    again = client.post("/extract", data={"sha256": first["content_sha256"].upper(), "document_id": "by-hash-1"})
    assert again.status_code == 202, again.text
    assert again.json()["status"] == "completed" and again.json()["content_sha256"] == first["content_sha256"]
    earlier = client.get(f"/result/{first['document_id']}").json()
    shared = client.get("/result/by-hash-1").json()
    assert shared["document_id"] == "by-hash-1" and shared["pages_total"] == 1
    assert shared["text"] == earlier["text"] and samples.cer(doc.pages[0], shared["text"]) <= 0.02
    assert client.get("/result/by-hash-1", params={"format": "pdf"}).content.startswith(b"%PDF")

    repeated = client.post("/extract", data={"sha256": first["content_sha256"], "document_id": "by-hash-1"})
    assert repeated.status_code == 202 and repeated.headers["X-Created"] == "false"
    other_options = client.post("/extract", data={"sha256": first["content_sha256"], "mode": "ocr"})
    assert other_options.status_code == 404 and other_options.json()["error"]["code"] == "unknown_content"


def test_submit_by_sha256_refuses_unknown_and_malformed_hashes(client):
    unknown = client.post("/extract", data={"sha256": "0" * 64})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "unknown_content" and "upload the file" in unknown.text
    assert client.post("/extract", data={"sha256": "not-a-hash"}).status_code == 422
    both = client.post("/extract", files={"file": ("a.pdf", b"%PDF-1.4")}, data={"sha256": "0" * 64})
    assert both.status_code == 422 and both.json()["error"]["code"] == "file_and_sha256"
    assert client.get("/health").status_code == 200


def test_prefer_wait_answers_with_the_result_when_it_is_done_in_time(client):
    """`Prefer: wait=N` (RFC 7240): one call for a small document, no polling."""
    doc = small_scans(1, seed=7200)[0]
    started = time.monotonic()
    response = client.post("/extract", files={"file": (doc.name, doc.data)}, data={"document_id": "waited"},
                           headers={"Prefer": "respond-async, wait=60"})
    assert response.status_code == 200, response.text
    assert response.headers["Preference-Applied"] == "wait=30"  # capped at MAX_WAIT_S
    assert response.headers["Location"].endswith("/check-status/waited")
    body = response.json()
    assert body["status"] == "completed" and body["document_id"] == "waited"
    assert samples.cer(doc.pages[0], body["text"]) <= 0.02 and "words" not in body["pages"][0]
    assert time.monotonic() - started < 30
    # the same document named by its hash: complete at once, one call
    again = client.post("/extract", data={"sha256": hashlib.sha256(doc.data).hexdigest()},
                        headers={"Prefer": "wait=5"})
    assert again.status_code == 200 and again.json()["text"] == body["text"]


def test_prefer_wait_that_runs_out_or_is_not_understood_gives_the_usual_202(client):
    long_scan = samples.scanned_pdf([samples.sample_text(7400 + n, lines=5) for n in range(16)], seed=7400)
    started = time.monotonic()
    response = client.post("/extract", files={"file": ("long.pdf", long_scan)}, data={"document_id": "waited-16"},
                           headers={"Prefer": "wait=1"})
    assert response.status_code == 202 and response.json()["status"] in ("queued", "processing")
    assert 1 <= time.monotonic() - started < 20
    for prefer in ("wait=soon", "wait=0", "handling=lenient"):
        doc = small_scans(1, seed=7300 + len(prefer))[0]
        assert doc.upload(client, headers={"Prefer": prefer}).status_code == 202
    assert wait_for(client, "waited-16")["status"] == "completed"

"""Hostile documents over HTTP, against the real service in both modes: outputs are built in a
sandboxed child (a crash or hang there is a JSON answer, the API keeps serving and its memory stays
flat), image bombs are refused at upload, and a page that kills its OCR process fails only its own
document. The children misbehave through the sandbox's test hook (OCR_SANDBOX_FAULT)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.service.conftest import MODES
from tests.support import samples
from tests.support.documents import Doc
from tests.support.polling import wait_for
from tests.support.servers import ServiceFactory

ABORT, HANG, CRASH_OCR = "ABORT-THE-RENDER", "HANG-THE-RENDER", "CRASH-THE-OCR"
FAULTS = f"write_output:abort:{ABORT},write_output:hang:{HANG},process_page:abort:{CRASH_OCR}"
RENDER_TIMEOUT_S = 3
IMAGE_CAP = 20_000_000
ANSWER_DEADLINE_S = 60  # far above the render timeout: only a stalled or dead API misses it


@pytest.fixture(scope="module", params=MODES)
def service(request, tmp_path_factory, redis_server, mongo_server):
    factory = ServiceFactory(tmp_path_factory.mktemp(f"hostile-{request.param}"), redis_server, mongo_server)
    yield factory(request.param, name=f"hostile-{request.param}", OCR_SANDBOX_FAULT=FAULTS,
                  RENDER_TIMEOUT_S=str(RENDER_TIMEOUT_S), MAX_IMAGE_PIXELS=str(IMAGE_CAP))
    factory.stop_all()


@pytest.fixture
def client(service):
    with service.client() as client:
        yield client


def _completed(client, doc: Doc, **form) -> str:
    response = doc.upload(client, **form)
    assert response.status_code == 202, response.text
    document_id = response.json()["document_id"]
    assert wait_for(client, document_id, timeout=300)["status"] == "completed"
    return document_id


def _error(response, status: int, code: str) -> str:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert body["error"]["code"] == code, body
    return body["error"]["message"]


@pytest.mark.parametrize("marker", [ABORT, HANG])
def test_a_searchable_pdf_whose_renderer_dies_or_hangs_is_a_json_answer(service, client, marker):
    text = f"Render test {marker}, a born-digital page."
    document_id = _completed(client, Doc("render.pdf", samples.with_marker(samples.text_pdf([text]), marker), [text]))
    with ThreadPoolExecutor(1) as threads:
        started = time.monotonic()
        pdf = threads.submit(client.get, f"/result/{document_id}", params={"format": "pdf"},
                             timeout=ANSWER_DEADLINE_S)
        time.sleep(0.3)
        status = client.get(f"/check-status/{document_id}", timeout=10)  # answered while the render runs
        assert status.status_code == 200 and status.json()["status"] == "completed"
        if marker == HANG:
            assert not pdf.done(), "the hanging render answered before its timeout"
        response = pdf.result()
    assert time.monotonic() - started < ANSWER_DEADLINE_S
    message = _error(response, 422, "render_failed")
    assert document_id in message
    assert service.running
    assert client.get("/health").status_code == 200
    # the API and the renderer pool serve on: an ordinary document's searchable PDF still works
    normal = _completed(client, Doc("normal.pdf", samples.text_pdf([f"Ordinary page after {marker}."]), []))
    answer = client.get(f"/result/{normal}", params={"format": "pdf"})
    assert answer.status_code == 200 and answer.content.startswith(b"%PDF")
    assert answer.headers["content-disposition"] == f'attachment; filename="{normal}.pdf"'


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_many_frame_tiffs_searchable_pdf_leaves_the_api_memory_flat(service, client):
    """40 bilevel 1700x2200 frames: decoded and turned into page images they are hundreds of MB; the
    API process only streams the finished file."""
    frames = 40
    document_id = _completed(client, Doc("fax.tiff", samples.many_frame_tiff(frames), []), mode="text")
    pid = service.process.pid
    baseline, peak, stop = _rss_bytes(pid), [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_bytes(pid))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        response = client.get(f"/result/{document_id}", params={"format": "pdf"}, timeout=300)
    finally:
        stop.set()
        sampler.join()
    assert response.status_code == 200, response.text[:300]
    import io

    from pypdf import PdfReader

    assert len(PdfReader(io.BytesIO(response.content)).pages) == frames
    print(f"API RSS grew by {(peak[0] - baseline) / 2**20:.1f} MiB while it served the searchable PDF")
    assert peak[0] - baseline < 100 * 1024 * 1024, f"API RSS grew by {(peak[0] - baseline) / 2**20:.0f} MiB"


BOMBS = {
    "png of zeros over the image cap": lambda: samples.zeros_png(8000, 5000),
    "png claiming gigapixels": lambda: samples.zeros_png(40000, 40000, rows=16),
    "tiff whose third frame is huge": lambda: samples.tiff_with_huge_frame((6000, 6000)),
}


@pytest.mark.parametrize("name", BOMBS)
def test_image_bombs_are_refused_at_upload(client, name):
    response = client.post("/extract", files={"file": ("bomb", BOMBS[name]())})
    message = _error(response, 422, "page_too_large")
    assert "pixels" in message
    assert client.get("/health").status_code == 200


def test_a_page_that_kills_its_ocr_process_fails_only_its_document(client):
    x = Doc("x.pdf", samples.with_marker(samples.scanned_pdf([samples.sample_text(810, lines=3)]), CRASH_OCR), [])
    y_texts = [samples.sample_text(820 + n, lines=3) for n in range(3)]
    y = Doc("y.pdf", samples.scanned_pdf(y_texts), y_texts)
    ids = {}
    for name, doc in (("y", y), ("x", x)):
        response = doc.upload(client, mode="ocr")
        assert response.status_code == 202, response.text
        ids[name] = response.json()["document_id"]
    x_status = wait_for(client, ids["x"], timeout=300)
    y_status = wait_for(client, ids["y"], timeout=300)
    assert y_status["status"] == "completed", y_status
    assert x_status["status"] == "failed", x_status
    assert x_status["error"]["code"] == "page_crashed" and "Page 1" in x_status["error"]["message"]
    pages = client.get(f"/result/{ids['y']}").json()["pages"]
    assert all(samples.cer(y_texts[p["number"] - 1], p["text"]) < 0.05 for p in pages) and len(pages) == 3

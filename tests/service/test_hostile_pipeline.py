"""Hostile documents inside the pipeline: image bombs are refused before anything decodes them, and a
page that kills its OCR process is charged to its own document only."""

from __future__ import annotations

import hashlib
import threading

import pytest

from ocr_service.domain import DocumentRecord, DocumentStatus
from ocr_service.jobs.pool import PagePool
from ocr_service.jobs.runner import DocumentRunner, RunnerConfig
from ocr_service.pipeline import DocumentError, Limits, PageOptions, process_page
from ocr_service.store.local import LocalStore
from tests.support import samples

CRASH_MARKER = "CRASH-THE-OCR-PROCESS"


def test_a_text_glyph_over_an_image_bomb_is_refused_with_no_render(tmp_path, monkeypatch):
    """mode=auto looks at a page with a text layer before OCR; that look must not render (and so
    decode) an image over the pixel cap."""
    import pypdfium2 as pdfium

    path = tmp_path / "glyph.pdf"
    path.write_bytes(samples.glyph_over_image_pdf((1500, 1500)))
    renders = []
    original = pdfium.PdfPage.render

    def spy(self, *args, **kwargs):
        renders.append(kwargs.get("scale"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pdfium.PdfPage, "render", spy)
    with pytest.raises(DocumentError) as error:
        process_page(path, 1, PageOptions(mode="auto"), Limits(max_page_pixels=1_000_000))
    assert error.value.code == "page_too_large" and "1500x1500" in error.value.message
    assert renders == []
    # the same page under the cap is read from its text layer, so the spy does see renders
    process_page(path, 1, PageOptions(mode="auto"), Limits())
    assert renders


def test_the_image_cap_counts_each_image_not_only_the_page(tmp_path):
    path = tmp_path / "glyph.pdf"
    path.write_bytes(samples.glyph_over_image_pdf((1500, 1500)))
    with pytest.raises(DocumentError) as error:
        process_page(path, 1, PageOptions(mode="ocr"), Limits(max_image_pixels=2_000_000))
    assert error.value.code == "page_too_large"


def _record(document_id: str, data: bytes, pages: int) -> DocumentRecord:
    return DocumentRecord(document_id=document_id, content_sha256=hashlib.sha256(data).hexdigest(),
                          cache_key=f"key-{document_id}", options={"language": "eng", "mode": "ocr"},
                          filename=f"{document_id}.pdf", media_type="application/pdf", size_bytes=len(data),
                          pages_total=pages)


def test_a_page_that_kills_its_ocr_process_fails_only_its_own_document(tmp_path, monkeypatch):
    """X's page aborts the OCR process reading it; Y, processed at the same time by the same pool,
    completes on its first attempt. X fails naming the page after one retry of that page."""
    monkeypatch.setenv("OCR_SANDBOX_FAULT", f"process_page:abort:{CRASH_MARKER}")
    store = LocalStore(tmp_path / "store")
    y_texts = [samples.sample_text(700 + n, lines=4) for n in range(4)]
    documents = {
        "x": (samples.with_marker(samples.scanned_pdf([samples.sample_text(690, lines=3)]), CRASH_MARKER), 1),
        "y": (samples.scanned_pdf(y_texts), len(y_texts)),
    }
    for document_id, (data, pages) in documents.items():
        upload = tmp_path / f"{document_id}.pdf"
        upload.write_bytes(data)
        store.create(_record(document_id, data, pages), upload)
    pool = PagePool(2)
    try:
        runner = DocumentRunner(store, pool, RunnerConfig(limits=Limits(), max_retries=3))
        errors = []

        def run(document_id):
            try:
                runner.run(document_id)
            except Exception as error:  # a RetryLater here is what the old shared pool did to Y
                errors.append((document_id, error))

        threads = [threading.Thread(target=run, args=(d,)) for d in ("y", "x")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        assert errors == []
        y, x = store.get("y"), store.get("x")
        assert y.status == DocumentStatus.COMPLETED and y.attempts == 1
        texts = {page["number"]: page["text"] for page in store.pages("y")}
        assert all(samples.cer(y_texts[n - 1], texts[n]) < 0.05 for n in texts) and len(texts) == 4
        assert x.status == DocumentStatus.FAILED and x.attempts == 1
        assert x.error["code"] == "page_crashed" and "Page 1" in x.error["message"]
        assert pool.crashes == 2  # X's page and its single retry
    finally:
        pool.shutdown()


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose start-of-frame header is rewritten to claim width x height."""
    import struct

    data = bytearray(samples.jpeg_page("Header says huge.", dpi=100, noise=False))
    at = data.index(b"\xff\xc0")  # baseline start-of-frame: FFC0, length, precision, height, width
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_image_headers_are_checked_before_decoding(tmp_path):
    from ocr_service.pipeline import inspect_document
    from ocr_service.pipeline.sources import header_size

    jpeg, png = tmp_path / "huge.jpg", tmp_path / "huge.png"
    jpeg.write_bytes(_jpeg_claiming(3000, 2000))
    png.write_bytes(samples.zeros_png(3000, 2000, rows=4))
    assert header_size(jpeg, "image/jpeg") == (3000, 2000)
    assert header_size(png, "image/png") == (3000, 2000)
    for path in (jpeg, png):
        with pytest.raises(DocumentError) as error:
            inspect_document(path, Limits(max_image_pixels=5_000_000))
        assert error.value.code == "page_too_large" and "3000x2000" in error.value.message


def test_multi_frame_images_have_a_frame_cap(tmp_path):
    from ocr_service.pipeline import inspect_document

    path = tmp_path / "frames.tiff"
    path.write_bytes(samples.tiff_with_huge_frame((10, 10), frames=12))
    with pytest.raises(DocumentError) as error:
        inspect_document(path, Limits(max_frames=10))
    assert error.value.code == "too_many_pages" and "12 frames" in error.value.message

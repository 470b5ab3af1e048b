"""2. Born-digital: a 200-page PDF with a real text layer through the service (mode auto: the text
layer is read, verified and taken, nothing is OCR'd) against forced OCR of it (mode=ocr). Forcing OCR on
all 200 pages would take minutes, so it runs on the first SUBSET pages and is extrapolated per page.

The text-layer check (per-font verification: Unicode-map errors, symbol share, plausibility, and an
OCR of a glyph sample where those cannot tell) is also timed on its own, in this process, on the same
200 pages in Helvetica and on pages set in an embedded TrueType subset with a ToUnicode map, and
compared with the OCR time per page: it must stay a small fraction of it."""

from __future__ import annotations

import time
from pathlib import Path

from .harness import CORES, Row, embedded_service, process, scanned_pdf, text_pdf

PAGES = 200
SUBSET = 12
CHECK_PAGES_EMBEDDED = 20


def _check_seconds(path: Path) -> tuple[float, float, int]:
    """(seconds reading the text layers, seconds verifying their fonts, pages) over every page."""
    import pypdfium2 as pdfium

    from ocr_service.pipeline import Limits, PageOptions
    from ocr_service.pipeline.page import _glyph_similarity
    from ocr_service.pipeline.textlayer import read_text_layer, verify_fonts

    pdf = pdfium.PdfDocument(str(path))
    read_s = check_s = 0.0
    for index in range(len(pdf)):
        page = pdf[index]
        started = time.perf_counter()
        textpage = page.get_textpage()
        layer = read_text_layer(page, textpage)
        read_s += time.perf_counter() - started
        started = time.perf_counter()
        verify_fonts(layer, lambda indices, p=page, la=layer: _glyph_similarity(p, la, indices, PageOptions(),
                                                                                  Limits()))
        check_s += time.perf_counter() - started
        textpage.close()
        page.close()
    count = len(pdf)
    pdf.close()
    return read_s, check_s, count


def measure(servers, workdir: Path) -> list[Row]:
    from tests.support import samples

    data, truth = text_pdf(PAGES, lines=40, seed=300)
    subset, _ = text_pdf(SUBSET, lines=40, seed=300)  # the same first pages

    service = embedded_service(servers, "born-digital")
    with service.client() as client:
        process(client, scanned_pdf(2 * CORES, lines=5, seed=998)[0], "warm-up")
        auto_s, _ = process(client, data, "text-200")
        sources = {p["source"] for p in client.get("/result/text-200").json()["pages"]}
        ocr_s, _ = process(client, subset, "text-ocr", mode="ocr")
    service.stop()

    helvetica = workdir / "born-digital-helvetica.pdf"
    helvetica.write_bytes(data)
    embedded = workdir / "born-digital-embedded.pdf"
    embedded.write_bytes(samples.embedded_font_pdf(truth[:CHECK_PAGES_EMBEDDED], "keep"))
    read_h, check_h, pages_h = _check_seconds(helvetica)
    read_e, check_e, pages_e = _check_seconds(embedded)
    ocr_page_s = ocr_s / SUBSET * CORES  # one core's OCR time per page (the pool reads CORES at once)
    check_ms = 1000 * check_h / pages_h
    check_e_ms = 1000 * check_e / pages_e

    ocr_200_s = ocr_s / SUBSET * PAGES
    details = {"pages": PAGES, "auto_s": auto_s, "auto_sources": sorted(sources),
               "forced_ocr_pages": SUBSET, "forced_ocr_s": ocr_s, "forced_ocr_200_s_extrapolated": ocr_200_s,
               "text_layer_read_ms_per_page": 1000 * read_h / pages_h,
               "text_layer_check_ms_per_page_helvetica": check_ms,
               "text_layer_check_ms_per_page_embedded_truetype": check_e_ms,
               "ocr_s_per_page_one_core": ocr_page_s,
               "check_share_of_ocr": check_ms / 1000 / ocr_page_s,
               "check_share_of_ocr_embedded": check_e_ms / 1000 / ocr_page_s}
    return [Row("Born-digital vs forced OCR",
                f"{PAGES} text pages in {auto_s:.2f} s ({PAGES / auto_s:.0f} pages/s, "
                f"source {'/'.join(sorted(sources))})",
                f"mode=ocr: {ocr_200_s:.0f} s for {PAGES} p",
                ocr_200_s / auto_s, ">= 50",
                note=f"forced OCR timed on {SUBSET} pages ({ocr_s:.1f} s), extrapolated per page; text-layer "
                     f"check {check_ms:.2f} ms/page (Helvetica), {check_e_ms:.2f} ms/page (embedded TrueType) "
                     f"= {100 * check_ms / 1000 / ocr_page_s:.2f}% / {100 * check_e_ms / 1000 / ocr_page_s:.2f}% "
                     f"of one page's OCR ({ocr_page_s:.2f} s on one core)",
                details=details)]

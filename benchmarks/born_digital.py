"""2. Born-digital: a 200-page PDF with a real text layer through the service (mode auto: the text
layer is read, nothing is OCR'd) against forced OCR of it (mode=ocr). Forcing OCR on all 200 pages
would take minutes, so it runs on the first SUBSET pages and is extrapolated per page."""

from __future__ import annotations

from pathlib import Path

from .harness import CORES, Row, embedded_service, process, scanned_pdf, text_pdf

PAGES = 200
SUBSET = 12


def measure(servers, workdir: Path) -> list[Row]:
    data, _ = text_pdf(PAGES, lines=40, seed=300)
    subset, _ = text_pdf(SUBSET, lines=40, seed=300)  # the same first pages

    service = embedded_service(servers, "born-digital")
    with service.client() as client:
        process(client, scanned_pdf(2 * CORES, lines=5, seed=998)[0], "warm-up")
        auto_s, _ = process(client, data, "text-200")
        sources = {p["source"] for p in client.get("/result/text-200").json()["pages"]}
        ocr_s, _ = process(client, subset, "text-ocr", mode="ocr")
    service.stop()

    ocr_200_s = ocr_s / SUBSET * PAGES
    details = {"pages": PAGES, "auto_s": auto_s, "auto_sources": sorted(sources),
               "forced_ocr_pages": SUBSET, "forced_ocr_s": ocr_s, "forced_ocr_200_s_extrapolated": ocr_200_s}
    return [Row("Born-digital vs forced OCR",
                f"{PAGES} text pages in {auto_s:.2f} s ({PAGES / auto_s:.0f} pages/s, "
                f"source {'/'.join(sorted(sources))})",
                f"mode=ocr: {ocr_200_s:.0f} s for {PAGES} p",
                ocr_200_s / auto_s, ">= 50",
                note=f"forced OCR timed on {SUBSET} pages ({ocr_s:.1f} s), extrapolated per page",
                details=details)]

"""5. Memory: peak RSS of the service's process tree (the API/worker process and its OCR processes,
sampled with psutil) while it processes a 200-page scan, against a 1-page scan; and on a page whose
image is 35000x35000 pixels, which must be refused or processed within the pixel cap, not crash."""

from __future__ import annotations

import zlib
from pathlib import Path

from .harness import CORES, MB, Row, TreeRss, embedded_service, process, scanned_pdf, wait_finished

PAGES = 200
BIG = 35_000


def big_page_pdf(side: int = BIG, dpi: int = 300) -> bytes:
    """A one-page PDF holding a side x side 1-bit image (a 117-inch square sheet at 300 DPI), white
    but for a few black bars: ~150 MB of pixels that compress to a few hundred KB."""
    row_bytes = (side + 7) // 8
    white = b"\xff" * row_bytes
    quarter, half = row_bytes // 4, row_bytes // 2
    bar = b"\xff" * quarter + b"\x00" * half + b"\xff" * (row_bytes - quarter - half)
    compressor, chunks = zlib.compressobj(6), []
    for y in range(side):
        chunks.append(compressor.compress(bar if (y // 40) % 25 == 0 else white))
    chunks.append(compressor.flush())
    stream = b"".join(chunks)
    points = side * 72 / dpi
    content = f"q {points:.2f} 0 0 {points:.2f} 0 0 cm /Im0 Do Q".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {points:.2f} {points:.2f}] "
        f"/Resources << /XObject << /Im0 4 0 R >> >> /Contents 5 0 R >>".encode(),
        f"<< /Type /XObject /Subtype /Image /Width {side} /Height {side} /ColorSpace /DeviceGray "
        f"/BitsPerComponent 1 /Filter /FlateDecode /Length {len(stream)} >>\nstream\n".encode()
        + stream + b"\nendstream",
        f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def measure(servers, workdir: Path) -> list[Row]:
    # Clean scans keep 200 pages under the upload limit; the rendered page is as large as a noisy one.
    long_doc, _ = scanned_pdf(PAGES, lines=12, seed=600, noise=False, distinct=10)
    short_doc, _ = scanned_pdf(1, lines=12, seed=600, noise=False)
    big = big_page_pdf()

    service = embedded_service(servers, "memory")
    pid = service.process.pid
    with service.client() as client:
        # Every OCR process started: a running worker's steady state, so both documents meet the same pool.
        process(client, scanned_pdf(2 * CORES, lines=5, seed=995)[0], "warm-up")
        with TreeRss(pid) as idle:
            pass
        with TreeRss(pid) as one:
            process(client, short_doc, "scan-1")
        with TreeRss(pid) as many:
            long_s, _ = process(client, long_doc, "scan-200")
        with TreeRss(pid) as huge:
            answer = client.post("/extract", files={"file": ("big.pdf", big)}, data={"document_id": "big"})
            if answer.status_code == 202:
                big_status = wait_finished(client, "big")
                outcome = (f"processed ({big_status['status']})" if big_status["status"] == "completed"
                           else f"refused: {big_status['error']['code']}")
            else:
                big_status = answer.json()
                outcome = f"refused at upload: {answer.status_code} {big_status['error']['code']}"
        alive = client.get("/health").status_code == 200
    service.stop()

    crashed = not alive or (isinstance(big_status.get("error"), dict) and
                            big_status["error"].get("code") in ("processing_error", "internal_error"))
    details = {"idle_mb": idle.peak / MB, "one_page_peak_mb": one.peak / MB, "pages": PAGES,
               "many_pages_peak_mb": many.peak / MB, "many_pages_s": long_s, "long_pdf_bytes": len(long_doc),
               "big_page": {"pixels": f"{BIG}x{BIG}", "pdf_bytes": len(big), "outcome": outcome,
                            "status": big_status, "peak_mb": huge.peak / MB, "service_alive": alive}}
    rows = [Row("Peak RSS 200 pages vs 1 page",
                f"{PAGES} pages: {many.peak / MB:.0f} MB",
                f"1 page: {one.peak / MB:.0f} MB (idle {idle.peak / MB:.0f} MB)",
                many.peak / one.peak, "<= 1.5",
                note=f"service + {CORES} OCR processes, psutil every 20 ms", details=details)]
    rows.append(Row(f"{BIG}x{BIG} page, peak RSS vs 1 page",
                    f"{outcome}; peak {huge.peak / MB:.0f} MB", f"1 page: {one.peak / MB:.0f} MB",
                    huge.peak / one.peak, "refused or capped, no crash",
                    note="ratio shown for information" + ("" if alive else "; SERVICE DOWN"),
                    details=details["big_page"], verdict=not crashed))
    return rows

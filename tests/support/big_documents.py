"""Long completed documents written straight into a store through its own methods (no OCR): a blank
original of N pages and N page results whose words have boxes, for serving big results."""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import asdict
from pathlib import Path

from ocr_service.domain import DEFAULT_TENANT, DocumentRecord, DocumentStatus
from ocr_service.orchestrator import cache_key_for
from ocr_service.pipeline import PageOptions

WIDTH, HEIGHT = 612.0, 792.0  # a letter page in points
WORDS_PER_LINE = 10


def blank_pdf(pages: int, width: float = WIDTH, height: float = HEIGHT) -> bytes:
    """A PDF of `pages` empty pages (a few hundred bytes each)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(width, height)
    buffer = io.BytesIO()
    pdf.save(buffer)
    pdf.close()
    return buffer.getvalue()


def page_word(number: int, index: int) -> str:
    """The index-th word of page `number`: unique per page, so a reader can tell pages apart."""
    return f"p{number}w{index}"


def page_result(number: int, words: int, rng: random.Random | None = None) -> dict:
    """A stored page result as the pipeline writes it: an OCR'd page with `words` boxed words in lines."""
    rng = rng or random.Random(number)
    boxes = []
    for index in range(words):
        line, column = divmod(index, WORDS_PER_LINE)
        x0, y0 = 36.0 + column * 54.0, 36.0 + line * 14.0
        boxes.append({"text": page_word(number, index), "bbox": [x0, y0, x0 + 48.0, y0 + 10.0],
                      "confidence": round(rng.uniform(88, 99), 2), "line": line})
    lines = [" ".join(w["text"] for w in boxes[i:i + WORDS_PER_LINE]) for i in range(0, words, WORDS_PER_LINE)]
    confidence = round(sum(w["confidence"] for w in boxes) / words, 2) if words else None
    return {
        "number": number, "text": "\n".join(lines) + "\n", "source": "ocr", "confidence": confidence,
        "width": WIDTH, "height": HEIGHT, "units": "pt", "rotation": 0, "skew": 0.0, "dpi": 300,
        "reason": "no text layer", "words": boxes, "language": "eng", "language_confidence": None,
        "quality": {"verdict": "good", "reason": "words read with high confidence", "mean_confidence": confidence,
                    "low_confidence_share": 0.0},
        "tables": [],
    }


def seed_completed(store, workdir: Path, document_id: str, pages: int, words: int,
                   tenant: str = DEFAULT_TENANT) -> tuple[DocumentRecord, bytes]:
    """Store a completed document of `pages` pages (original and results) as a worker would leave it,
    through the store's own methods. Returns its record and its original's bytes."""
    original = blank_pdf(pages)
    upload = workdir / f"{document_id}.pdf"
    upload.write_bytes(original)
    sha256 = hashlib.sha256(original).hexdigest()
    options = PageOptions()
    record = DocumentRecord(document_id=document_id, content_sha256=sha256,
                            cache_key=cache_key_for(tenant, sha256, options), options=asdict(options),
                            filename=upload.name, media_type="application/pdf", size_bytes=len(original),
                            pages_total=pages, tenant=tenant)
    store.create(record, upload)
    store.claim_primary(record.cache_key, record.key)
    assert store.claim(record.key, "seed", lease_s=3600) is not None
    rng = random.Random(document_id)
    for number in range(1, pages + 1):
        store.save_page(record.key, page_result(number, words, rng))
    assert store.finish(record.key, "seed", DocumentStatus.COMPLETED)
    return store.get(record.key), original

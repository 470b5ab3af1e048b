"""The pipeline's value types: the one error it raises for bad documents, limits, per-page options."""

from __future__ import annotations

from dataclasses import dataclass


class DocumentError(Exception):
    """A problem with the document itself (never a bug of ours): the API maps it to a 4xx.

    `code` is machine-readable, `message` is a sentence a person can act on, `http_status` is 415 for
    an unsupported type and 422 for everything else.
    """

    def __init__(self, code: str, message: str, http_status: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status if http_status is not None else (415 if code == "unsupported_type" else 422)

    def __repr__(self) -> str:
        return f"DocumentError({self.code!r}, {self.message!r})"

    def __reduce__(self):  # survives pickling across the worker-process boundary
        return (DocumentError, (self.code, self.message, self.http_status))


@dataclass(frozen=True)
class Limits:
    max_pages: int = 2000
    # Pixels of one rendered/decoded page (guards decompression bombs). A PDF page whose render at the
    # wanted DPI would exceed it is rendered at a reduced scale if that still gives `min_dpi`.
    max_page_pixels: int = 200_000_000
    page_timeout_s: float = 120.0
    min_dpi: int = 100  # below this effective resolution text is no longer legible to Tesseract


@dataclass(frozen=True)
class PageOptions:
    language: str = "eng"  # '+'-joined traineddata names, or "auto" (detected per page)
    mode: str = "auto"  # auto | ocr | text
    dpi: int = 300  # target effective resolution of text reaching Tesseract
    orientation: bool = True  # detect 90/180/270 rotation with Tesseract OSD and OCR upright
    deskew: bool = True  # straighten pages skewed by a few degrees
    adaptive_dpi: bool = True  # pick the render scale from the resolution of the page's images
    tables: bool = True  # find ruled tables on OCR'd pages and read their cells one by one
    min_quality: str = "none"  # none | flag | fail: what a poor page does to its document (the runner acts)


DEFAULT_LIMITS = Limits()
DEFAULT_OPTIONS = PageOptions()


@dataclass(frozen=True)
class DocumentInfo:
    kind: str  # "pdf" | "image"
    media_type: str  # application/pdf, image/png, image/jpeg, image/tiff
    page_count: int

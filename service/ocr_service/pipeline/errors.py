"""The pipeline's value types: the one error it raises for bad documents (defined with the other domain
errors), limits, per-page options."""

from __future__ import annotations

from dataclasses import dataclass

from ..domain import DocumentError

__all__ = ["DEFAULT_LIMITS", "DEFAULT_OPTIONS", "DocumentError", "DocumentInfo", "Limits", "PageOptions"]


@dataclass(frozen=True)
class Limits:
    max_pages: int = 2000
    # Pixels of one rendered/decoded page (guards decompression bombs). A PDF page whose render at the
    # wanted DPI would exceed it is rendered at a reduced scale if that still gives `min_dpi`.
    max_page_pixels: int = 200_000_000
    # Pixels of one image as stored (a PDF's image XObject, an image file's frame): checked from the
    # headers before anything decodes it, since a decoder allocates the whole image at once.
    max_image_pixels: int = 200_000_000
    max_frames: int = 2000  # frames of one multi-frame image (TIFF)
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

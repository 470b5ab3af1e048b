"""A page of an uploaded document as a PNG, for people to look at beside its text (the web page).

One pure function of the stored upload: no store, no state, nothing kept open, so it can run in any
process. The picture shows the page as displayed (PDF /Rotate applied, a JPEG's EXIF orientation
applied), the frame the word boxes are given in, so boxes scale onto it by page width and height.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from .errors import DEFAULT_LIMITS, DocumentError, Limits
from .outputs import _PDFIUM_LOCK
from .pdfpage import page_geometry
from .sources import PDF_MEDIA_TYPE, check_image_frame, open_image, open_pdf, sniff_media_type

PREVIEW_DPI = 144  # sharp enough to read on screen, a fraction of an OCR render's pixels
PREVIEW_MAX_SIDE = 2000  # pixels on the longer side, whatever the page measures


def _missing(count: int, page_number: int) -> DocumentError:
    return DocumentError("page_not_found", f"The document has {count} page(s); page {page_number} does not exist.",
                         http_status=404)


def render_page_png(path: Path, page_number: int, limits: Limits = DEFAULT_LIMITS,
                    max_side: int = PREVIEW_MAX_SIDE) -> bytes:
    """PNG of page `page_number` (1-based) of the PDF or image at `path`, at most `PREVIEW_DPI` and at
    most `max_side` pixels on its longer side. Raises only DocumentError for the document's faults."""
    path = Path(path)
    media_type = sniff_media_type(path)
    try:
        if media_type == PDF_MEDIA_TYPE:
            with _PDFIUM_LOCK:  # pdfium is not thread-safe; the API answers from threads
                image = _render_pdf_page(path, page_number, limits, max_side)
        else:
            image = _image_frame(path, page_number, limits, max_side)
    except (DocumentError, MemoryError):
        raise
    except Exception as exc:  # pdfium/Pillow on damaged input
        raise DocumentError("corrupt_document", f"Page {page_number} is damaged and cannot be shown.") from exc
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False, compress_level=3)  # a third of the time of level 6, a little larger
    return buffer.getvalue()


def _render_pdf_page(path: Path, page_number: int, limits: Limits, max_side: int):
    pdf = open_pdf(path)
    try:
        if not 1 <= page_number <= len(pdf):
            raise _missing(len(pdf), page_number)
        page = pdf[page_number - 1]
        try:
            images, _ = page_geometry(page)
            for placed in images:  # pdfium decodes an image whole whatever the render scale
                if placed.pixels[0] * placed.pixels[1] > limits.max_page_pixels:
                    raise DocumentError("page_too_large", f"Page {page_number} holds an image too large to show.")
            width, height = page.get_size()
            scale = min(PREVIEW_DPI / 72.0, max_side / max(width, height, 1.0))
            bitmap = page.render(scale=scale, may_draw_forms=True)
            try:
                return bitmap.to_pil().convert("RGB")
            finally:
                bitmap.close()
        finally:
            page.close()
    finally:
        pdf.close()


def _image_frame(path: Path, page_number: int, limits: Limits, max_side: int):
    from PIL import Image, ImageOps

    image = open_image(path, limits=limits)
    try:
        count = getattr(image, "n_frames", 1)
        if not 1 <= page_number <= count:
            raise _missing(count, page_number)
        image.seek(page_number - 1)
        check_image_frame(image, limits, page_number)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()
            frame = ImageOps.exif_transpose(image) if image.format in ("JPEG", "MPO") else image.copy()
        if frame.mode not in ("L", "RGB"):
            rgba = frame.convert("RGBA")
            frame = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
        frame.thumbnail((max_side, max_side))
        return frame
    finally:
        image.close()

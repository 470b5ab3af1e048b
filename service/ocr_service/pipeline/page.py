"""process_page: one page in, one JSON-able result out. Only that page's image is ever in memory."""
from __future__ import annotations

from pathlib import Path

from . import engine
from .errors import DocumentError, Limits, PageOptions
from .sources import PDF_MEDIA_TYPE, load_image_page, pdf_cache, sniff_media_type
from .textlayer import judge, read_text_layer

MODES = ("auto", "ocr", "text")


def _check_options(options: PageOptions) -> None:
    if options.mode not in MODES:
        raise DocumentError("invalid_mode", f"Unknown mode {options.mode!r}; use one of {', '.join(MODES)}.")
    engine.validate_language(options.language)


def process_page(path: Path, page_number: int, options: PageOptions = PageOptions(), limits: Limits = Limits()) -> dict:
    path = Path(path)
    _check_options(options)
    media_type = sniff_media_type(path)
    try:
        if media_type == PDF_MEDIA_TYPE:
            return _process_pdf_page(path, page_number, options, limits)
        return _process_image_page(path, page_number, options, limits)
    except (DocumentError, MemoryError):
        raise
    except Exception as exc:  # pdfium/Pillow on damaged input
        import pypdfium2 as pdfium

        if isinstance(exc, (pdfium.PdfiumError, OSError, ValueError, SyntaxError)):
            raise DocumentError("corrupt_document", f"Page {page_number} is damaged and cannot be read.") from exc
        raise


def _result(number, text, source, confidence, width, height, words, dpi, reason, rotation=0, skew=0.0) -> dict:
    return {
        "number": number,
        "text": text,
        "source": source,
        "confidence": confidence,
        "width": round(float(width), 2),
        "height": round(float(height), 2),
        "rotation": rotation,
        "skew": skew,
        "dpi": dpi,
        "reason": reason,
        "words": words,
    }


def _ocr(image, scale: float, dpi: int, options: PageOptions, limits: Limits):
    """OCR a greyscale image whose pixels are `scale` times page units; boxes come back in page units."""
    rec = engine.recognize(image, options.language, dpi, limits.page_timeout_s)
    words = [
        {"text": w["text"], "bbox": [round(v / scale, 2) for v in w["bbox"]], "confidence": w["confidence"]}
        for w in rec.words
    ]
    return rec.text.strip("\n"), words, rec.confidence


def _render_scale(width_pt: float, height_pt: float, dpi: float, limits: Limits, page_number: int) -> float:
    """Scale (pixels per point) for rendering at `dpi`, reduced to stay under the pixel cap."""
    scale = dpi / 72.0
    pixels = width_pt * scale * height_pt * scale
    if pixels > limits.max_page_pixels:
        scale = (limits.max_page_pixels / (width_pt * height_pt)) ** 0.5 * 0.999
        if scale * 72.0 < limits.min_dpi:
            raise DocumentError(
                "page_too_large",
                f"Page {page_number} measures {width_pt / 72:.0f}x{height_pt / 72:.0f} inches: rendering it legibly "
                f"would exceed the limit of {limits.max_page_pixels:,} pixels per page.",
            )
    return scale


def _process_pdf_page(path: Path, page_number: int, options: PageOptions, limits: Limits) -> dict:
    pdf = pdf_cache.get(path)
    count = len(pdf)
    if not 1 <= page_number <= count:
        raise DocumentError("no_pages", f"The document has {count} page(s); page {page_number} does not exist.")
    page = pdf[page_number - 1]
    textpage = None
    try:
        width, height = page.get_size()
        if options.mode != "ocr":
            textpage = page.get_textpage()
            layer = read_text_layer(page, textpage)
            usable, reason = judge(layer)
            if options.mode == "text":
                source = "text-layer" if layer.chars else "none"
                return _result(page_number, layer.text, source, None, width, height, layer.words, None, reason)
            if usable:
                return _result(page_number, layer.text, "text-layer", None, width, height, layer.words, None, reason)
        else:
            reason = "mode=ocr"
        scale = _render_scale(width, height, options.dpi, limits, page_number)
        bitmap = page.render(scale=scale, grayscale=True, may_draw_forms=True)
        image = bitmap.to_pil()
        bitmap.close()
        dpi = round(scale * 72)
        text, words, confidence = _ocr(image, scale, dpi, options, limits)
        del image
        return _result(page_number, text, "ocr", confidence, width, height, words, dpi, reason)
    finally:
        if textpage is not None:
            textpage.close()
        page.close()


def _process_image_page(path: Path, page_number: int, options: PageOptions, limits: Limits) -> dict:
    image, image_dpi = load_image_page(path, page_number, limits)
    width, height = image.size
    if options.mode == "text":
        return _result(page_number, "", "none", None, width, height, [], None, "image has no text layer")
    dpi = round(image_dpi) if image_dpi else options.dpi
    text, words, confidence = _ocr(image, 1.0, dpi, options, limits)
    return _result(page_number, text, "ocr", confidence, width, height, words, dpi, "image")


def document_text(pages: list[dict]) -> str:
    """The whole document's text: each page's text ends with a newline and pages are separated by a
    form feed (as pdftotext does), so `text.split("\\f")` gives the pages back."""
    return "\f".join((p.get("text") or "").rstrip("\n") + "\n" for p in sorted(pages, key=lambda p: p["number"]))

"""process_page: one page in, one JSON-able result out. Only that page's image is ever in memory.

Per page: take the text layer when it is real text (mode auto), else render (PDF) or decode (image)
the page in greyscale, turn it upright (OSD), straighten it, bring its text to the size Tesseract
reads best, and recognise it once. Word boxes are mapped back to the page as displayed.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import engine, preprocess
from .errors import DEFAULT_LIMITS, DEFAULT_OPTIONS, DocumentError, Limits, PageOptions
from .pdfpage import check_page_images, page_geometry, uncovered_ink
from .sources import PDF_MEDIA_TYPE, load_image_page, pdf_cache, sniff_media_type
from .textlayer import judge, read_text_layer

MODES = ("auto", "ocr", "text")
MAX_DPI = 600  # a render finer than this only costs time and memory (text is brought to ~300 DPI size anyway)


def validate_options(options: PageOptions) -> None:
    """Raise DocumentError for an unknown mode or language, before any work is done."""
    if options.mode not in MODES:
        raise DocumentError("invalid_mode", f"Unknown mode {options.mode!r}; use one of {', '.join(MODES)}.")
    engine.validate_language(options.language)


def process_page(
    path: Path, page_number: int, options: PageOptions = DEFAULT_OPTIONS, limits: Limits = DEFAULT_LIMITS
) -> dict:
    """Text, words and page facts of page `page_number` (1-based) of the document at `path`."""
    path = Path(path)
    validate_options(options)
    media_type = sniff_media_type(path)
    started = time.monotonic()
    try:
        if media_type == PDF_MEDIA_TYPE:
            return _process_pdf_page(path, page_number, options, limits, started)
        return _process_image_page(path, page_number, options, limits, started)
    except (DocumentError, MemoryError):
        raise
    except Exception as exc:  # pdfium/Pillow on damaged input
        import pypdfium2 as pdfium

        if isinstance(exc, (pdfium.PdfiumError, OSError, ValueError, SyntaxError)):
            raise DocumentError("corrupt_document", f"Page {page_number} is damaged and cannot be read.") from exc
        raise


def _result(
    number, text, source, confidence, width, height, words, dpi, reason, rotation=0, skew=0.0, units="pt"
) -> dict:
    return {
        "number": number,
        "text": text,
        "source": source,  # ocr | text-layer | none
        "confidence": confidence,  # mean word confidence 0-100 (OCR only)
        "width": round(float(width), 2),  # page size: points for PDF pages, pixels for images
        "height": round(float(height), 2),
        "units": units,  # "pt" (PDF pages) or "px" (images): the unit of width, height and word boxes
        "rotation": rotation,  # degrees the page was turned clockwise to read it upright
        "skew": skew,  # degrees the text lines rose to the right before straightening
        "dpi": dpi,  # effective resolution of the image Tesseract read (None without OCR)
        "reason": reason,  # why this source was chosen
        "words": words,  # {"text", "bbox": [x0, y0, x1, y1] top-left origin, page units, "confidence"}
    }


# Tesseract's mean confidence on an upright page is ~95 (clean) and on an upside-down one ~35-40
# (measured on generated pages and the phototest scan); below this, ask OSD which way is up.
UPRIGHT_MIN_CONFIDENCE = 70.0


def _ocr_image(
    image,
    scale: float,
    base_dpi: float,
    offset: tuple[float, float],
    options: PageOptions,
    limits: Limits,
    started: float,
):
    """Orient, straighten, resize and OCR a page image whose pixels are `scale` times page units (its
    top-left at `offset` on the page) and whose resolution is `base_dpi`. Returns text, words in page
    units, confidence, rotation, skew and the effective DPI Tesseract read.

    Most pages are upright, so a page whose lines clearly run across is read as it is first and OSD
    runs only when that read is poor (an upside-down page reads at ~35% confidence); only pages
    that really were upside down are read a second time. Other pages go to OSD first."""
    probe = preprocess.analyse(image, both_axes=options.orientation)
    across = probe.line_height is not None and not probe.sideways
    rotation = 0
    if options.orientation and not across:
        rotation, _ = preprocess.detect_rotation(image, round(base_dpi), probe.line_height)
    read = _read_oriented(image, rotation, probe, base_dpi, options, limits, started)
    if options.orientation and across and (read[2] or 0.0) < UPRIGHT_MIN_CONFIDENCE:
        rotation, _ = preprocess.detect_rotation(image, round(base_dpi), probe.line_height)
        if rotation:
            read = _read_oriented(image, rotation, probe, base_dpi, options, limits, started)
    text, words, confidence, skew, dpi, transform = read
    ox, oy = offset
    page_words = []
    for word in words:
        x0, y0, x1, y1 = transform.box_to_rendered(word["bbox"])
        page_words.append(
            {
                "text": word["text"],
                "bbox": [
                    round(ox + x0 / scale, 2),
                    round(oy + y0 / scale, 2),
                    round(ox + x1 / scale, 2),
                    round(oy + y1 / scale, 2),
                ],
                "confidence": word["confidence"],
                "line": word["line"],
            }
        )
    return text, page_words, confidence, rotation, round(skew, 2), dpi


def _read_oriented(image, rotation: int, probe, base_dpi: float, options: PageOptions, limits: Limits,
                   started: float):
    """Turn the image by `rotation`, straighten and resize it, and recognise it once. Returns text,
    words in image pixels, confidence, skew, effective DPI and the transform applied."""
    if rotation:
        upright = preprocess.Transform(image.size, rotation, 1.0, 0.0).apply(image)
        layout = preprocess.analyse(upright)
        del upright
    elif probe.sideways:  # OSD unsure which way: Tesseract reads vertical lines itself; only size them
        layout = preprocess.Layout(0.0, probe.line_height, sideways=True)
    else:
        layout = probe
    skew = layout.skew if options.deskew and abs(layout.skew) >= preprocess.MIN_SKEW else 0.0
    factor = preprocess.rescale_factor(layout.line_height) if options.adaptive_dpi else 1.0
    factor = min(factor, (limits.max_page_pixels / (image.width * image.height)) ** 0.5, MAX_DPI / base_dpi)
    transform = preprocess.Transform(image.size, rotation, factor, skew)
    prepared = transform.apply(image)
    dpi = round(base_dpi * factor)
    remaining = limits.page_timeout_s - (time.monotonic() - started)
    if remaining <= 0:
        raise DocumentError(
            "ocr_timeout", f"Preparing the page took longer than the {limits.page_timeout_s:g} s limit."
        )
    rec = engine.recognize(prepared, options.language, dpi, remaining, limits.page_timeout_s)
    del prepared
    return rec.text.strip("\n"), rec.words, rec.confidence, skew, dpi, transform


def _render_plan(page, width: float, height: float, options: PageOptions, limits: Limits, page_number: int):
    """(scale, crop box) for rendering: the page's dominant scan at its native resolution and only the
    part of the page with content (a small scan on a poster), within the pixel cap."""
    scale = options.dpi / 72.0
    box = [0.0, 0.0, width, height]
    images, content = page_geometry(page)
    if options.adaptive_dpi:
        page_area = width * height
        if content and (content[2] - content[0]) * (content[3] - content[1]) < 0.5 * page_area:
            box = [
                max(0.0, content[0] - 9),
                max(0.0, content[1] - 9),
                min(width, content[2] + 9),
                min(height, content[3] + 9),
            ]
        if images:
            main = max(images, key=lambda i: i.area)
            box_area = (box[2] - box[0]) * (box[3] - box[1])
            if main.area >= 0.5 * box_area:  # a scan: keep its pixels, the text-size step rescales later
                scale = min(max(main.px_per_pt, 72 / 72.0), MAX_DPI / 72.0)
    area = (box[2] - box[0]) * (box[3] - box[1])
    if area * scale * scale > limits.max_page_pixels:
        scale = (limits.max_page_pixels / area) ** 0.5 * 0.999
        if scale * 72.0 < limits.min_dpi:
            raise DocumentError(
                "page_too_large",
                f"Page {page_number} measures {width / 72:.0f}x{height / 72:.0f} inches: rendering it legibly "
                f"would exceed the limit of {limits.max_page_pixels:,} pixels per page.",
            )
    return scale, box


def _process_pdf_page(path: Path, page_number: int, options: PageOptions, limits: Limits, started: float) -> dict:
    pdf = pdf_cache.get(path)
    count = len(pdf)
    if not 1 <= page_number <= count:
        raise DocumentError("no_pages", f"The document has {count} page(s); page {page_number} does not exist.")
    page = pdf[page_number - 1]
    textpage = None
    try:
        width, height = page.get_size()
        if options.mode == "ocr":
            reason = "mode=ocr"
        else:
            textpage = page.get_textpage()
            layer = read_text_layer(page, textpage)
            if options.mode == "text":
                source = "text-layer" if layer.chars else "none"
                return _result(page_number, layer.text, source, None, width, height, layer.words, None, "mode=text")
            coverage = None
            if layer.chars:
                check_page_images(page, limits, page_number)  # before uncovered_ink renders the page
                images, _ = page_geometry(page)
                coverage = uncovered_ink(page, images, layer.words)
            usable, reason = judge(layer, coverage)
            if usable:
                return _result(page_number, layer.text, "text-layer", None, width, height, layer.words, None, reason)
        check_page_images(page, limits, page_number)  # pdfium decodes an image whole whatever the scale
        scale, box = _render_plan(page, width, height, options, limits, page_number)
        crop = (box[0], height - box[3], width - box[2], box[1])  # amounts cut off left, bottom, right, top
        bitmap = page.render(scale=scale, crop=crop, grayscale=True, may_draw_forms=True)
        image = bitmap.to_pil()
        bitmap.close()
        text, words, confidence, rotation, skew, dpi = _ocr_image(
            image, scale, scale * 72, (box[0], box[1]), options, limits, started
        )
        return _result(page_number, text, "ocr", confidence, width, height, words, dpi, reason, rotation, skew)
    finally:
        if textpage is not None:
            textpage.close()
        page.close()


def _process_image_page(path: Path, page_number: int, options: PageOptions, limits: Limits, started: float) -> dict:
    image, image_dpi = load_image_page(path, page_number, limits)
    width, height = image.size
    if options.mode == "text":
        return _result(page_number, "", "none", None, width, height, [], None, "image has no text layer", units="px")
    # pixels are an image's page units; its recorded DPI (if any) is only a hint for Tesseract
    base_dpi = image_dpi or options.dpi
    text, words, confidence, rotation, skew, dpi = _ocr_image(
        image, 1.0, base_dpi, (0.0, 0.0), options, limits, started
    )
    return _result(page_number, text, "ocr", confidence, width, height, words, dpi, "image", rotation, skew, "px")


def document_text(pages: list[dict]) -> str:
    """The whole document's text: each page's text ends with a newline and pages are separated by a
    form feed (as pdftotext does), so `text.split("\\f")` gives the pages back."""
    return "\f".join((p.get("text") or "").rstrip("\n") + "\n" for p in sorted(pages, key=lambda p: p["number"]))

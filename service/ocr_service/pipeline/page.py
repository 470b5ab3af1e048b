"""process_page: one page in, one JSON-able result out. Only that page's image is ever in memory.

Per page: take the text layer when it is real text (mode auto), else render (PDF) or decode (image)
the page in greyscale, turn it upright (OSD), straighten it, bring its text to the size Tesseract
reads best, and recognise it once. Word boxes are mapped back to the page as displayed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from . import bands as banding
from . import engine, language, preprocess, tables
from .errors import DEFAULT_LIMITS, DEFAULT_OPTIONS, DocumentError, Limits, PageOptions
from .pdfpage import check_page_images, page_geometry, uncovered_ink
from .quality import LEVELS, page_quality
from .sources import PDF_MEDIA_TYPE, load_image_page, pdf_cache, sniff_media_type
from .textlayer import judge, read_text_layer, sample_words, similarity, verify_fonts

MODES = ("auto", "ocr", "text")
MAX_DPI = 600  # a render finer than this only costs time and memory (text is brought to ~300 DPI size anyway)


def validate_options(options: PageOptions) -> None:
    """Raise DocumentError for an unknown mode or language, before any work is done."""
    if options.mode not in MODES:
        raise DocumentError("invalid_mode", f"Unknown mode {options.mode!r}; use one of {', '.join(MODES)}.")
    if options.min_quality not in LEVELS:
        raise DocumentError(
            "invalid_min_quality", f"Unknown min_quality {options.min_quality!r}; use one of {', '.join(LEVELS)}."
        )
    if options.language == language.AUTO:
        if not language.detectable_languages():
            raise DocumentError("unknown_language", "language=auto needs installed languages it can detect; none are.")
        return
    engine.validate_language(options.language)


def process_page(
    path: Path, page_number: int, options: PageOptions = DEFAULT_OPTIONS, limits: Limits = DEFAULT_LIMITS,
    split: banding.SplitRequest | None = None,
) -> dict:
    """Text, words and page facts of page `page_number` (1-based) of the document at `path`.

    With `split`, a page that can be read in bands is prepared but not read: its result has no text
    nor words yet and a `pending` entry (the prepared image's file and its band rows) for
    `bands.read_band` and `bands.join`."""
    path = Path(path)
    validate_options(options)
    media_type = sniff_media_type(path)
    started = time.monotonic()
    try:
        if media_type == PDF_MEDIA_TYPE:
            return _process_pdf_page(path, page_number, options, limits, started, split)
        return _process_image_page(path, page_number, options, limits, started, split)
    except (DocumentError, MemoryError):
        raise
    except Exception as exc:  # pdfium/Pillow on damaged input
        import pypdfium2 as pdfium

        if isinstance(exc, (pdfium.PdfiumError, OSError, ValueError, SyntaxError)):
            raise DocumentError("corrupt_document", f"Page {page_number} is damaged and cannot be read.") from exc
        raise


def _result(
    number, text, source, confidence, width, height, words, dpi, reason, rotation=0, skew=0.0, units="pt",
    lang=None, lang_confidence=None, page_tables=None, lines_seen=0, pending=None,
) -> dict:
    result = {
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
        "language": lang,  # the OCR language(s) the page was read with; detected with language=auto
        "language_confidence": lang_confidence,  # 0-1 when detected, else None
        "quality": page_quality(source, words, lines_seen),  # {"verdict": good|poor, "reason", ...}
        "tables": page_tables or [],  # ruled tables: {"bbox", "rows": [[cell text]], "cells": [[bbox]]}
    }
    if pending is not None:  # prepared for a read in bands (see process_page)
        result["pending"] = pending
    return result


# Tesseract's mean confidence on an upright page is ~95 (clean) and on an upside-down one ~35-40
# (measured on generated pages and the phototest scan); below this, ask OSD which way is up.
UPRIGHT_MIN_CONFIDENCE = 70.0


@dataclass
class _Read:
    text: str
    words: list[dict]  # in the OCR'd image's pixels until _ocr_image maps them to the page
    confidence: float | None
    skew: float
    dpi: int
    transform: preprocess.Transform
    language: str
    language_confidence: float | None = None
    tables: list[dict] = field(default_factory=list)  # bbox/cells in the OCR'd image's pixels likewise
    lines_seen: int = 0  # rows of ink shaped like text lines the layout analysis found
    pending: dict | None = None  # set instead of text and words when the page is to be read in bands


def _ocr_image(
    image,
    scale: float,
    base_dpi: float,
    offset: tuple[float, float],
    options: PageOptions,
    limits: Limits,
    started: float,
    split: banding.SplitRequest | None = None,
) -> tuple[_Read, int]:
    """Orient, straighten, resize and OCR a page image whose pixels are `scale` times page units (its
    top-left at `offset` on the page) and whose resolution is `base_dpi`. Returns the read, with its
    words and tables in page units, and the rotation applied.

    Most pages are upright, so a page whose lines clearly run across is read as it is first and OSD
    runs only when that read is poor (an upside-down page reads at ~35% confidence); only pages
    that really were upside down are read a second time. Other pages go to OSD first."""
    probe = preprocess.analyse(image, both_axes=options.orientation)
    across = probe.line_height is not None and not probe.sideways
    rotation = 0
    if options.orientation and not across:
        rotation, _ = preprocess.detect_rotation(image, round(base_dpi), probe.line_height)
    read = _read_oriented(image, rotation, probe, base_dpi, options, limits, started,
                          split if across and not rotation else None)
    if read.pending is not None:  # read in bands elsewhere; the orientation check follows the join
        read.pending.update(scale=scale, offset=offset, lines_seen=probe.lines)
        read.skew = round(read.skew, 2)
        return read, rotation
    if options.orientation and across and (read.confidence or 0.0) < UPRIGHT_MIN_CONFIDENCE:
        rotation, _ = preprocess.detect_rotation(image, round(base_dpi), probe.line_height)
        if rotation:
            read = _read_oriented(image, rotation, probe, base_dpi, options, limits, started)

    def to_page(box):
        return read.transform.box_to_page(box, scale, offset)

    for word in read.words:
        word["bbox"] = to_page(word["bbox"])
    for table in read.tables:
        table["bbox"] = to_page(table["bbox"])
        table["cells"] = [[to_page(box) for box in row] for row in table["cells"]]
    read.skew = round(read.skew, 2)
    read.lines_seen = probe.lines if probe.line_height is not None else 0
    return read, rotation


def join_bands(result: dict, parts: list[dict], options: PageOptions) -> dict | None:
    """The page result of a page read in bands (see process_page): None when it must be read whole
    after all, because a band found ruled tables or because the page reads so poorly it may be upside
    down (the whole-page read then asks OSD, as for any page)."""
    page = banding.join({k: v for k, v in result.items() if k != "pending"}, result["pending"], parts)
    if page is None or (options.orientation and (page["confidence"] or 0.0) < UPRIGHT_MIN_CONFIDENCE):
        return None
    return page


def _recognize(image, lang: str, dpi: int, limits: Limits, started: float, block: bool = False):
    remaining = limits.page_timeout_s - (time.monotonic() - started)
    if remaining <= 0:
        raise DocumentError(
            "ocr_timeout", f"Preparing the page took longer than the {limits.page_timeout_s:g} s limit."
        )
    return engine.recognize(image, lang, dpi, remaining, limits.page_timeout_s, block=block)


def _read_oriented(image, rotation: int, probe, base_dpi: float, options: PageOptions, limits: Limits,
                   started: float, split: banding.SplitRequest | None = None) -> _Read:
    """Turn the image by `rotation`, straighten and resize it, find its ruled tables, pick its language
    (language=auto) and recognise it: the page without its tables once (twice when the language
    detected is not the one of the first read), then each table cell as its own block."""
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
    if split is not None and options.language != language.AUTO:
        # Looking for ruled tables (on a page with rules) is left to the first band's process, so its
        # cost runs beside the reads.
        ruled = options.tables and tables.might_have_tables(prepared)
        head_start = banding.TABLES_COST * prepared.width * prepared.height if ruled else 0.0
        rows = banding.cut_rows(prepared, split.bands, layout.line_height * factor, head_start)
        if len(rows) > 2:
            pending = {"image": banding.save_image(prepared, split), "rows": rows, "language": options.language,
                       "dpi": dpi, "tables": ruled, "transform": transform}
            return _Read("", [], None, skew, dpi, transform, options.language, pending=pending)
    found = tables.detect_tables(prepared) if options.tables else []
    body = tables.blank_tables(prepared, found) if found else prepared
    lang, lang_confidence = options.language, None
    if lang == language.AUTO:
        osd = engine.detect_orientation_script(body, dpi)
        script = osd[2] if osd and osd[3] > 0 else None
        first = language.first_language(script)
        rec = _recognize(body, first, dpi, limits, started)
        detection = language.detect(rec.text, script, first)
        lang, lang_confidence = detection.language, detection.confidence
        if lang != first:
            rec = _recognize(body, lang, dpi, limits, started)
    else:
        rec = _recognize(body, lang, dpi, limits, started)
    del body
    text, words = rec.text.strip("\n"), rec.words
    page_tables = []
    if found:
        page_tables = _read_tables(prepared, found, lang, dpi, limits, started, words)
        text = _text_with_tables(words, page_tables)
    del prepared
    scored = [w["confidence"] for w in words]
    confidence = round(sum(scored) / len(scored), 2) if scored else None
    return _Read(text, words, confidence, skew, dpi, transform, lang, lang_confidence, page_tables)


def _read_tables(prepared, found, lang, dpi, limits, started, words) -> list[dict]:
    """Each cell of each table read as its own block; its words join `words` (marked with their table
    and cell) on a line per table row."""
    line = max((w["line"] for w in words), default=-1) + 1
    results = []
    for index, table in enumerate(found):
        rows = [["" for _ in range(len(table.cols) - 1)] for _ in range(len(table.rows) - 1)]
        boxes = [[None for _ in range(len(table.cols) - 1)] for _ in range(len(table.rows) - 1)]
        for r, c, box in table.cells():
            boxes[r][c] = list(box)
            crop, (ox, oy) = tables.cell_image(prepared, box)
            if crop is None:
                continue
            rec = _recognize(crop, lang, dpi, limits, started, block=True)
            rows[r][c] = " ".join(rec.text.split())
            for word in rec.words:
                x0, y0, x1, y1 = word["bbox"]
                words.append({**word, "bbox": [x0 + ox, y0 + oy, x1 + ox, y1 + oy], "line": line + r,
                              "table": index, "cell": [r, c]})
        line += len(rows)
        results.append({"bbox": list(table.bbox), "rows": rows, "cells": boxes})
    return results


def _text_with_tables(words: list[dict], page_tables: list[dict]) -> str:
    """The page's text in reading order: its lines outside tables and each table row (cells joined by
    tabs) where it stands on the page."""
    lines: dict[int, list[dict]] = {}
    for word in words:
        if "table" not in word:
            lines.setdefault(word["line"], []).append(word)
    blocks = [(min(w["bbox"][1] for w in ws), " ".join(w["text"] for w in ws)) for ws in lines.values()]
    for table in page_tables:
        for row, boxes in zip(table["rows"], table["cells"], strict=True):
            blocks.append((boxes[0][1], "\t".join(row)))
    return "\n".join(text for _, text in sorted(blocks, key=lambda b: b[0]))


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


def _process_pdf_page(path: Path, page_number: int, options: PageOptions, limits: Limits, started: float,
                      split: banding.SplitRequest | None = None) -> dict:
    pdf = pdf_cache.get(path)
    count = len(pdf)
    if not 1 <= page_number <= count:
        raise DocumentError("no_pages", f"The document has {count} page(s); page {page_number} does not exist.")
    page = pdf[page_number - 1]
    textpage = None
    try:
        width, height = page.get_size()
        kept: list[dict] = []  # text-layer words of good fonts on a page whose other fonts are OCR'd
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
            verdicts = verify_fonts(layer, lambda indices: _glyph_similarity(page, layer, indices, options, limits))
            bad = {key for key, verdict in verdicts.items() if not verdict.good}
            if not bad:
                usable, reason = judge(layer, coverage)
                if usable:
                    lang, lang_confidence = _text_language(layer.text, options)
                    return _result(page_number, layer.text, "text-layer", None, width, height, layer.words, None,
                                   reason, lang=lang, lang_confidence=lang_confidence)
            else:
                reasons = sorted({verdicts[key].reason for key in bad})
                reason = "; ".join(reasons)
                bad_words = {i for key in bad for i in layer.fonts[key].words}
                kept = [dict(w, source="text-layer") for i, w in enumerate(layer.words) if i not in bad_words]
                if kept:
                    reason = f"{reason} (OCR for those fonts, the text layer kept for the others)"
        check_page_images(page, limits, page_number)  # pdfium decodes an image whole whatever the scale
        scale, box = _render_plan(page, width, height, options, limits, page_number)
        crop = (box[0], height - box[3], width - box[2], box[1])  # amounts cut off left, bottom, right, top
        bitmap = page.render(scale=scale, crop=crop, grayscale=True, may_draw_forms=True)
        image = bitmap.to_pil()
        bitmap.close()
        if kept:  # read only what the kept words do not already say
            from PIL import ImageDraw

            draw = ImageDraw.Draw(image)
            for word in kept:
                x0, y0, x1, y1 = word["bbox"]
                draw.rectangle([(x0 - box[0] - 1) * scale, (y0 - box[1] - 1) * scale,
                                (x1 - box[0] + 1) * scale, (y1 - box[1] + 1) * scale], fill=255)
        read, rotation = _ocr_image(image, scale, scale * 72, (box[0], box[1]), options, limits, started,
                                    None if kept else split)
        if kept:
            words = _merge_lines(kept, [dict(w, source="ocr") for w in read.words])
            text = "\n".join(" ".join(w["text"] for w in line) for line in _grouped(words))
            return _result(page_number, text, "mixed", read.confidence, width, height, words, read.dpi, reason,
                           rotation, read.skew, lang=read.language, lang_confidence=read.language_confidence,
                           page_tables=read.tables, lines_seen=read.lines_seen)
        return _result(page_number, read.text, "ocr", read.confidence, width, height, read.words, read.dpi, reason,
                       rotation, read.skew, lang=read.language, lang_confidence=read.language_confidence,
                       page_tables=read.tables, lines_seen=read.lines_seen, pending=read.pending)
    finally:
        if textpage is not None:
            textpage.close()
        page.close()


def _text_language(text: str, options: PageOptions) -> tuple[str | None, float | None]:
    """The language of a text layer: as given, or detected from the text itself with language=auto."""
    if options.language != language.AUTO:
        return options.language, None
    detection = language.detect(text, None, None)
    return detection.language, detection.confidence


def _glyph_similarity(page, layer, indices: list[int], options: PageOptions, limits: Limits) -> float | None:
    """OCR a few lines of one font's glyphs (only their word boxes, the rest of the page blanked) and
    compare with what its text layer decodes them to."""
    import numpy as np
    from PIL import Image

    words = sample_words(layer, indices)
    if not words:
        return None
    width, height = page.get_size()
    x0 = max(0.0, min(w["bbox"][0] for w in words) - 4)
    y0 = max(0.0, min(w["bbox"][1] for w in words) - 4)
    x1 = min(width, max(w["bbox"][2] for w in words) + 4)
    y1 = min(height, max(w["bbox"][3] for w in words) + 4)
    if x1 <= x0 or y1 <= y0:
        return None
    heights = sorted(w["bbox"][3] - w["bbox"][1] for w in words)
    # about 40 px per line of text, the size Tesseract reads best, and never above 300 DPI
    scale = min(300 / 72, max(1.0, 40.0 / max(heights[len(heights) // 2], 1.0)))
    bitmap = page.render(scale=scale, crop=(x0, height - y1, width - x1, y0), grayscale=True)
    pixels = np.asarray(bitmap.to_pil())
    bitmap.close()
    keep = np.zeros(pixels.shape, dtype=bool)
    for word in words:
        a, b, c, d = word["bbox"]
        keep[max(0, int((b - y0 - 1) * scale)) : int((d - y0 + 1) * scale) + 1,
             max(0, int((a - x0 - 1) * scale)) : int((c - x0 + 1) * scale) + 1] = True
    image = Image.fromarray(np.where(keep, pixels, 255).astype(np.uint8), "L")
    lang = options.language if options.language != language.AUTO else language.first_language(None)
    rec = engine.recognize(image, lang, round(scale * 72), limits.page_timeout_s, block=True)
    lines: dict[int, list[str]] = {}
    for word in words:
        lines.setdefault(word["line"], []).append(word["text"])
    expected = "\n".join(" ".join(line) for line in lines.values())
    return similarity(expected, rec.text)


def _grouped(words: list[dict]) -> list[list[dict]]:
    lines: dict[int, list[dict]] = {}
    for word in words:
        lines.setdefault(word["line"], []).append(word)
    return [lines[k] for k in sorted(lines)]


def _merge_lines(first: list[dict], second: list[dict]) -> list[dict]:
    """Words of two sources in reading order: a word joins the line whose vertical middle band it
    overlaps, lines run top to bottom and words left to right; `line` is renumbered."""
    lines: list[list[dict]] = []
    for word in sorted(first + second, key=lambda w: (w["bbox"][1] + w["bbox"][3]) / 2):
        middle = (word["bbox"][1] + word["bbox"][3]) / 2
        for line in lines:
            top = sum(w["bbox"][1] for w in line) / len(line)
            bottom = sum(w["bbox"][3] for w in line) / len(line)
            if top <= middle <= bottom:
                line.append(word)
                break
        else:
            lines.append([word])
    merged = []
    for number, line in enumerate(lines):
        for word in sorted(line, key=lambda w: w["bbox"][0]):
            merged.append(dict(word, line=number))
    return merged


def _process_image_page(path: Path, page_number: int, options: PageOptions, limits: Limits, started: float,
                        split: banding.SplitRequest | None = None) -> dict:
    image, image_dpi = load_image_page(path, page_number, limits)
    width, height = image.size
    if options.mode == "text":
        return _result(page_number, "", "none", None, width, height, [], None, "image has no text layer", units="px")
    # pixels are an image's page units; its recorded DPI (if any) is only a hint for Tesseract
    base_dpi = image_dpi or options.dpi
    read, rotation = _ocr_image(image, 1.0, base_dpi, (0.0, 0.0), options, limits, started, split)
    return _result(page_number, read.text, "ocr", read.confidence, width, height, read.words, read.dpi, "image",
                   rotation, read.skew, "px", lang=read.language, lang_confidence=read.language_confidence,
                   page_tables=read.tables, lines_seen=read.lines_seen, pending=read.pending)


def document_text(pages: list[dict]) -> str:
    """The whole document's text: each page's text ends with a newline and pages are separated by a
    form feed (as pdftotext does), so `text.split("\\f")` gives the pages back."""
    return "\f".join((p.get("text") or "").rstrip("\n") + "\n" for p in sorted(pages, key=lambda p: p["number"]))

"""Rich outputs built from stored page results (no OCR here): hOCR and a searchable PDF.

The searchable PDF parses the uploaded original: the service runs `write_output` in a sandboxed child
(see jobs/sandbox.py), never in the API process, and the output goes to a file, not to memory."""

from __future__ import annotations

import ctypes
import html
import json
import math
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .errors import DEFAULT_LIMITS, Limits
from .pdfjoin import StreamingJoin
from .sources import PDF_MEDIA_TYPE, check_image_frame, open_image, sniff_media_type

# pdfium is not thread-safe: callers in one process (tests, scripts) take turns.
_PDFIUM_LOCK = threading.Lock()
# Image frames are turned into PDF pages this many at a time, each batch saved (compressed) to disk
# before the next is decoded: a many-frame TIFF never has more than a batch of bitmaps in memory.
FRAMES_PER_BATCH = 8
# A PDF of more than IN_PLACE_MAX_PAGES gets its text layer PAGES_PER_BATCH pages at a time (see
# _write_pdf_in_batches); shorter ones are changed in place and keep their document-level parts.
IN_PLACE_MAX_PAGES = 100
PAGES_PER_BATCH = 25
_HOCR_RES = 300  # PDF pages are in points; hOCR wants pixels, so boxes are given at 300 DPI


def _units_per_pixel(page: dict) -> float:
    return 72.0 / _HOCR_RES if page.get("units", "pt") == "pt" else 1.0


def _lines(words: list[dict]) -> list[list[dict]]:
    lines: dict[int, list[dict]] = {}
    for index, word in enumerate(words):
        lines.setdefault(word.get("line", index), []).append(word)
    return [lines[k] for k in sorted(lines)]


def _bbox(values, factor: float) -> str:
    return " ".join(str(round(v / factor)) for v in values)


@dataclass(frozen=True)
class PageLines:
    """A file of page results as JSON lines, in page order, that another process is still writing: it
    ends with an empty line. Read as it grows, so an output is built while the pages are still coming."""

    path: Path
    poll_s: float = 0.005


Pages = Iterable[dict] | Path | PageLines


def read_pages(pages: Pages) -> Iterator[dict]:
    """Page results in page order, from a list or, a page at a time, from a file of JSON lines (complete,
    or still being written: PageLines)."""
    if isinstance(pages, PageLines):
        yield from _follow(pages)
    elif isinstance(pages, (str, Path)):
        with open(pages, encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)
    else:
        yield from sorted(pages, key=lambda p: p["number"])


def _follow(pages: PageLines) -> Iterator[dict]:
    with open(pages.path, encoding="utf-8") as lines:
        partial = ""
        while True:
            line = lines.readline()
            if not line.endswith("\n"):  # nothing more yet, or half a line
                partial += line
                time.sleep(pages.poll_s)
                continue
            line, partial = partial + line, ""
            if not line.strip():
                return  # the writer's end mark
            yield json.loads(line)


def render_hocr(document_id: str, pages: Pages) -> str:
    """hOCR 1.2 (XHTML) of the stored pages: ocr_page > ocr_line > ocrx_word with boxes and x_wconf."""
    return "\n".join(_hocr_lines(document_id, pages))


def write_hocr(document_id: str, pages: Pages, out_path: Path) -> None:
    """render_hocr into a file, a page at a time."""
    with open(out_path, "w", encoding="utf-8") as out:
        for index, line in enumerate(_hocr_lines(document_id, pages)):
            out.write(("\n" if index else "") + line)


def _hocr_lines(document_id: str, pages: Pages) -> Iterator[str]:
    yield from [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
        '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">',
        "<head>",
        f"<title>{html.escape(document_id)}</title>",
        '<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>',
        '<meta name="ocr-system" content="ocr-service (tesseract)"/>',
        '<meta name="ocr-capabilities" content="ocr_page ocr_line ocr_table ocrx_cell ocrx_word ocrp_wconf"/>',
        "</head>",
        "<body>",
    ]
    for page in read_pages(pages):
        out: list[str] = []
        n = page["number"]
        factor = _units_per_pixel(page)
        # an image's boxes are in its own pixels, whose resolution the page result does not keep
        scan_res = f"; scan_res {_HOCR_RES} {_HOCR_RES}" if factor != 1.0 else ""
        page_box = _bbox([0, 0, page.get("width", 0), page.get("height", 0)], factor)
        out.append(
            f"<div class='ocr_page' id='page_{n}' title='image \"{html.escape(document_id, quote=True)}\"; "
            f"bbox {page_box}; ppageno {n - 1}{scan_res}'>"
        )
        angle = f"; textangle {page.get('rotation', 0)}" if page.get("rotation") else ""
        words = page.get("words") or []
        for ti, table in enumerate(page.get("tables") or [], start=1):
            out.extend(_hocr_table(n, ti, table, [w for w in words if w.get("table") == ti - 1], factor))
        for li, line in enumerate(_lines([w for w in words if "table" not in w]), start=1):
            x0 = min(w["bbox"][0] for w in line)
            y0 = min(w["bbox"][1] for w in line)
            x1 = max(w["bbox"][2] for w in line)
            y1 = max(w["bbox"][3] for w in line)
            out.append(
                f'<span class="ocr_line" id="line_{n}_{li}" title="bbox {_bbox([x0, y0, x1, y1], factor)}{angle}">'
            )
            for wi, word in enumerate(line, start=1):
                conf = word.get("confidence")
                wconf = f"; x_wconf {round(conf)}" if conf is not None else ""
                box = _bbox(word["bbox"], factor)
                out.append(
                    f'<span class="ocrx_word" id="word_{n}_{li}_{wi}" title="bbox {box}{wconf}">'
                    f"{html.escape(word['text'])}</span>"
                )
            out.append("</span>")
        out.append("</div>")
        yield from out
    yield from ["</body>", "</html>", ""]


def _hocr_table(n: int, ti: int, table: dict, words: list[dict], factor: float) -> list[str]:
    """A ruled table as an hOCR `ocr_table`: an XHTML table whose cells (`ocrx_cell`, with their
    boxes) hold the cell's words."""
    out = [f'<table class="ocr_table" id="table_{n}_{ti}" title="bbox {_bbox(table["bbox"], factor)}">']
    for r, (row, boxes) in enumerate(zip(table["rows"], table["cells"], strict=True)):
        out.append("<tr>")
        for c, (text, box) in enumerate(zip(row, boxes, strict=True)):
            cell_words = [w for w in words if w.get("cell") == [r, c]]
            out.append(f'<td class="ocrx_cell" id="cell_{n}_{ti}_{r + 1}_{c + 1}" title="bbox {_bbox(box, factor)}">')
            if not cell_words and text:
                out.append(html.escape(text))
            for wi, word in enumerate(cell_words, start=1):
                conf = word.get("confidence")
                wconf = f"; x_wconf {round(conf)}" if conf is not None else ""
                out.append(
                    f'<span class="ocrx_word" id="word_{n}_t{ti}_{r + 1}_{c + 1}_{wi}" '
                    f'title="bbox {_bbox(word["bbox"], factor)}{wconf}">{html.escape(word["text"])}</span>'
                )
            out.append("</td>")
        out.append("</tr>")
    out.append("</table>")
    return out


# ---------------------------------------------------------------- searchable PDF


def _widestring(text: str):
    import pypdfium2.raw as pdfium_c

    encoded = (text + "\x00").encode("utf-16-le")
    return ctypes.cast(ctypes.c_char_p(encoded), pdfium_c.FPDF_WIDESTRING)


class _Fonts:
    """Helvetica (a standard font, nothing embedded) when the text fits WinAnsi; else DejaVu Sans
    embedded once per document, so other scripts stay searchable too."""

    DEJAVU = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)

    def __init__(self, pdf):
        self.pdf = pdf
        self._helvetica = None
        self._unicode = None
        self._keep = []

    def for_text(self, text: str):
        import pypdfium2.raw as pdfium_c

        try:
            text.encode("cp1252")
            fits = True
        except UnicodeEncodeError:
            fits = False
        if not fits:
            if self._unicode is None:
                for candidate in self.DEJAVU:
                    if Path(candidate).exists():
                        data = Path(candidate).read_bytes()
                        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
                        self._keep.append(buffer)
                        self._unicode = pdfium_c.FPDFText_LoadFont(
                            self.pdf, buffer, len(data), pdfium_c.FPDF_FONT_TRUETYPE, True
                        )
                        break
            if self._unicode:
                return self._unicode
        if self._helvetica is None:
            self._helvetica = pdfium_c.FPDFText_LoadStandardFont(self.pdf, b"Helvetica")
        return self._helvetica


def _display_to_user(page) -> tuple[float, float, float, float, float, float]:
    """Affine (a, b, c, d, e, f) from the displayed page (points, origin bottom-left, y up) to the
    page's user space, undoing /Rotate and the crop box offset."""
    width, height = page.get_size()
    left, bottom, right, top = page.get_cropbox()
    rotation = page.get_rotation() % 360
    if rotation == 90:  # x = left + H - Y, y = bottom + X
        return 0.0, 1.0, -1.0, 0.0, left + height, bottom
    if rotation == 180:  # x = right - X, y = top - Y
        return -1.0, 0.0, 0.0, -1.0, right, top
    if rotation == 270:  # x = left + Y, y = top - X
        return 0.0, -1.0, 1.0, 0.0, left, top
    return 1.0, 0.0, 0.0, 1.0, left, bottom


def _compose(outer, inner):
    """outer after inner, both (a, b, c, d, e, f) with point' = (a x + c y + e, b x + d y + f)."""
    a1, b1, c1, d1, e1, f1 = outer
    a2, b2, c2, d2, e2, f2 = inner
    return (
        a1 * a2 + c1 * b2,
        b1 * a2 + d1 * b2,
        a1 * c2 + c1 * d2,
        b1 * c2 + d1 * d2,
        a1 * e2 + c1 * f2 + e1,
        b1 * e2 + d1 * f2 + f1,
    )


def _word_matrix(bbox, page_height: float, rotation: int, natural_width: float, size: float):
    """Text matrix (displayed page, y up) that lays a word of `natural_width` at font `size` over bbox,
    reading in the page's text direction (turned counter-clockwise by `rotation` from upright)."""
    x0, y0, x1, y1 = bbox
    bottom, top = page_height - y1, page_height - y0  # y up
    along = (x1 - x0) if rotation in (0, 180) else (y1 - y0)
    across = (y1 - y0) if rotation in (0, 180) else (x1 - x0)
    descent = 0.2 * across
    # start of the baseline: the upright word's bottom-left corner, lifted by the descent
    start = {
        0: (x0, bottom + descent),
        90: (x1 - descent, bottom),
        180: (x1, top - descent),
        270: (x0 + descent, top),
    }[rotation]
    theta = math.radians(rotation)
    cos, sin = round(math.cos(theta)), round(math.sin(theta))
    stretch = along / natural_width if natural_width > 0 else 1.0
    return (stretch * cos, stretch * sin, -sin, cos, start[0], start[1])


def _whole_lines(words: list[dict]) -> list[dict]:
    """One pseudo-word per line: its words joined by spaces over the line's box."""
    merged = []
    for line in _lines(words):
        merged.append(
            {
                "text": " ".join(w["text"] for w in line),
                "bbox": [
                    min(w["bbox"][0] for w in line),
                    min(w["bbox"][1] for w in line),
                    max(w["bbox"][2] for w in line),
                    max(w["bbox"][3] for w in line),
                ],
                "line": line[0].get("line"),
            }
        )
    return merged


def _add_words(pdf, page, fonts: _Fonts, words: list[dict], rotation: int, units_to_points: float) -> None:
    import pypdfium2.raw as pdfium_c

    if rotation == 180:
        # pdfium (and other extractors) order separate objects of an upside-down line by x, which
        # reverses its words; one object per line keeps reading order.
        words = _whole_lines(words)
    _, height = page.get_size()
    to_user = _display_to_user(page)
    for index, word in enumerate(words):
        text = word["text"]
        nxt = words[index + 1] if index + 1 < len(words) else None
        same_line = nxt is not None and nxt.get("line", -1) == word.get("line", -2)
        bbox = [v * units_to_points for v in word["bbox"]]
        across = (bbox[3] - bbox[1]) if rotation in (0, 180) else (bbox[2] - bbox[0])
        if across <= 0 or not text.strip():
            continue
        size = max(1.0, across * 0.9)
        font = fonts.for_text(text)
        obj = pdfium_c.FPDFPageObj_CreateTextObj(pdf, font, ctypes.c_float(size))
        if not obj:
            continue
        pdfium_c.FPDFText_SetText(obj, _widestring(text))
        left, bottom, right, top = (ctypes.c_float() for _ in range(4))
        pdfium_c.FPDFPageObj_GetBounds(obj, left, bottom, right, top)
        natural = right.value - left.value
        if same_line:  # a trailing space keeps words apart in extracted text, outside the stretched word
            pdfium_c.FPDFText_SetText(obj, _widestring(text + " "))
        pdfium_c.FPDFTextObj_SetTextRenderMode(obj, pdfium_c.FPDF_TEXTRENDERMODE_INVISIBLE)
        matrix = _compose(to_user, _word_matrix(bbox, height, rotation, natural, size))
        pdfium_c.FPDFPageObj_Transform(obj, *matrix)
        pdfium_c.FPDFPage_InsertObject(page, obj)


def render_searchable_pdf(original_path: Path, pages: list[dict], limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The original document with an invisible text layer over the OCR'd words of each page, so text
    selection and search work. PDF pages keep their size and content; an image becomes one PDF page
    per frame at its recorded resolution (300 DPI if none). Pages that already had a text layer are
    left as they are."""
    with tempfile.TemporaryDirectory(prefix="searchable-") as folder:
        out = Path(folder) / "out.pdf"
        with _PDFIUM_LOCK:
            write_searchable_pdf(Path(original_path), pages, out, limits)
        return out.read_bytes()


def write_output(original_path: Path, document_id: str, pages: Pages, format: str, out_path: Path,
                 limits: Limits = DEFAULT_LIMITS) -> None:
    """Write `format` of the document to `out_path`: "pdf" (searchable), "hocr", or "png" (a picture of
    the one page in `pages`). `pages` may be a file of JSON lines, read a page at a time."""
    if format == "pdf":
        write_searchable_pdf(Path(original_path), pages, Path(out_path), limits)
    elif format == "png":
        from .preview import render_page_png

        first = next(read_pages(pages))
        Path(out_path).write_bytes(render_page_png(Path(original_path), first["number"], limits))
    elif format == "hocr":
        write_hocr(document_id, pages, Path(out_path))
    else:
        raise ValueError(f"unknown output format {format!r}")


def write_searchable_pdf(original_path: Path, pages: Pages, out_path: Path,
                         limits: Limits = DEFAULT_LIMITS) -> None:
    import pypdfium2 as pdfium

    if sniff_media_type(original_path) != PDF_MEDIA_TYPE:
        _write_image_document(original_path, _InOrder(read_pages(pages)), out_path, limits)
        return
    pdf = pdfium.PdfDocument(str(original_path))
    if len(pdf) > IN_PLACE_MAX_PAGES:
        _write_pdf_in_batches(pdf, _InOrder(read_pages(pages)), out_path)
        return
    fonts = _Fonts(pdf)
    for result in read_pages(pages):  # one page's words in memory at a time
        if 1 <= result["number"] <= len(pdf):
            _layer_page(pdf, fonts, result["number"] - 1, result)
    _save(pdf, out_path)


def _layer_page(pdf, fonts: _Fonts, index: int, result: dict | None) -> None:
    """Lay the OCR'd words of `result` invisibly over page `index` of pdf."""
    if result is None or result.get("source") not in ("ocr", "mixed") or not result.get("words"):
        return
    # a mixed page keeps its own text for the fonts that had real text: only OCR'd words are added
    words = [w for w in result["words"] if w.get("source", "ocr") == "ocr"]
    page = pdf[index]
    _add_words(pdf, page, fonts, words, result.get("rotation", 0) or 0, 1.0)
    page.gen_content()
    page.close()


def _write_pdf_in_batches(pdf, results: _InOrder, out_path: Path) -> None:
    """A long PDF's text layer, built a batch of pages at a time in a document of its own, each batch saved
    to disk and at once appended to the output (pdfjoin), so the output's first pages can be sent while
    the later ones are built. pdfium's content generation walks the whole document on every page, so in
    place it costs time quadratic in the pages (minutes for a 2,000-page book). The document-level parts
    of the original (outline, metadata, forms, page labels, named destinations) are not carried over,
    nor links from page to page (pdfium's page import drops them); shorter documents, done in place,
    keep them."""
    import pypdfium2 as pdfium

    total = len(pdf)
    with tempfile.TemporaryDirectory(prefix="batches-", dir=out_path.parent) as folder, \
            open(out_path, "wb") as out:
        join = StreamingJoin(out)
        name = Path(folder) / "batch.pdf"
        for start in range(0, total, PAGES_PER_BATCH):
            batch = pdfium.PdfDocument.new()
            batch.import_pages(pdf, list(range(start, min(total, start + PAGES_PER_BATCH))))
            fonts = _Fonts(batch)
            for index in range(len(batch)):
                _layer_page(batch, fonts, index, results.get(start + index + 1))
            _save(batch, name)
            join.append(name)  # copies the saved objects; no content is generated again
        pdf.close()
        join.close()


class _InOrder:
    """Page results looked up by increasing page number from an iterator in page order."""

    def __init__(self, pages: Iterator[dict]):
        self._pages = pages
        self._next = next(pages, None)

    def get(self, number: int) -> dict | None:
        while self._next is not None and self._next["number"] < number:
            self._next = next(self._pages, None)
        if self._next is not None and self._next["number"] == number:
            return self._next
        return None


def _save(pdf, out_path: Path) -> None:
    try:
        with open(out_path, "wb") as out:
            pdf.save(out)
    finally:
        pdf.close()


def _write_image_document(path: Path, by_number: _InOrder, out_path: Path, limits: Limits) -> None:
    """One PDF page per frame, built a batch of frames at a time: each batch is saved to disk (pdfium
    compresses the bitmaps then), its bitmaps freed before the next batch is decoded, and its pages
    appended to the output at once (pdfjoin), so the first pages can be sent while later frames are read."""
    import pypdfium2 as pdfium

    with open_image(path) as image, tempfile.TemporaryDirectory(prefix="frames-", dir=out_path.parent) as folder:
        frames = getattr(image, "n_frames", 1)
        name = Path(folder) / "batch.pdf"
        with open(out_path, "wb") as out:
            join = StreamingJoin(out)
            for start in range(0, frames, FRAMES_PER_BATCH):
                batch = pdfium.PdfDocument.new()
                fonts = _Fonts(batch)
                for index in range(start, min(frames, start + FRAMES_PER_BATCH)):
                    _add_frame(batch, fonts, image, index, by_number.get(index + 1), limits)
                _save(batch, name)
                join.append(name)  # still compressed: the streams are copied, not decoded
            join.close()


def _add_frame(pdf, fonts: _Fonts, image, index: int, result: dict | None, limits: Limits) -> None:
    import pypdfium2 as pdfium
    from PIL import Image, ImageOps

    image.seek(index)
    check_image_frame(image, limits, index + 1)  # before decoding it
    dpi = image.info.get("dpi") or (300, 300)
    try:
        dpi_x = float(dpi[0]) if float(dpi[0]) > 1 else 300.0
    except (TypeError, ValueError, IndexError):
        dpi_x = 300.0
    frame = ImageOps.exif_transpose(image) if image.format in ("JPEG", "MPO") else image.copy()
    if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
        rgba = frame.convert("RGBA")  # only frames that are transparent are composited
        frame = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
        del rgba
    elif frame.mode in ("1", "L", "I", "I;16", "F"):
        frame = frame.convert("L")
    elif frame.mode != "RGB":
        frame = frame.convert("RGB")
    points = 72.0 / dpi_x
    width, height = frame.width * points, frame.height * points
    page = pdf.new_page(width, height)
    obj = pdfium.PdfImage.new(pdf)
    bitmap = pdfium.PdfBitmap.from_pil(frame)
    del frame
    obj.set_bitmap(bitmap, pages=[page])
    obj.set_matrix(pdfium.PdfMatrix().scale(width, height))
    page.insert_obj(obj)
    if result and result.get("source") == "ocr" and result.get("words"):
        _add_words(pdf, page, fonts, result["words"], result.get("rotation", 0) or 0, points)
    page.gen_content()
    bitmap.close()
    page.close()

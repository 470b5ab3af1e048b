"""A PDF page's own text layer: reading it (text and word boxes) and judging whether it is real text."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field


@dataclass
class TextLayer:
    text: str
    words: list[dict] = field(default_factory=list)  # bbox in displayed-page points, top-left origin
    chars: int = 0  # non-whitespace characters
    bad_chars: int = 0  # replacement, private-use, control characters: signs of a font without a Unicode map
    covered_area: float = 0.0  # area of the text's word boxes, in square points


def to_display(box, cropbox, rotation: int):
    """(left, bottom, right, top) in PDF user space -> [x0, y0, x1, y1] on the page as displayed
    (its /Rotate applied, origin top-left, points)."""
    left, bottom, right, top = box
    cl, cb, cr, ct = cropbox
    if rotation == 90:
        xs, ys = (bottom - cb, top - cb), (left - cl, right - cl)
    elif rotation == 180:
        xs, ys = (cr - right, cr - left), (bottom - cb, top - cb)
    elif rotation == 270:
        xs, ys = (ct - top, ct - bottom), (cr - right, cr - left)
    else:
        xs, ys = (left - cl, right - cl), (ct - top, ct - bottom)
    return [min(xs), min(ys), max(xs), max(ys)]


def _is_bad(ch: str) -> bool:
    if ch == "\ufffd":
        return True
    category = unicodedata.category(ch)
    return category in ("Co", "Cn", "Cs") or (category == "Cc" and ch not in "\t\n\r\f")


def normalise(text: str) -> str:
    """pdfium's line breaks are CRLF; keep plain newlines and no trailing blanks."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def read_text_layer(page, textpage) -> TextLayer:
    import pypdfium2.raw as pdfium_c

    count = textpage.count_chars()
    if count <= 0:
        return TextLayer("")
    raw = textpage.get_text_range(0, count)
    text = normalise(raw)
    rotation = page.get_rotation() % 360
    cropbox = page.get_cropbox()
    words: list[dict] = []
    current: list[str] = []
    box = None
    chars = bad = 0

    def flush():
        nonlocal current, box
        if current and box is not None:
            words.append({"text": "".join(current), "bbox": [round(v, 2) for v in to_display(box, cropbox, rotation)],
                          "confidence": None})
        current, box = [], None

    for index in range(count):
        code = pdfium_c.FPDFText_GetUnicode(textpage, index)
        ch = chr(code) if 0 < code < 0x110000 else "\ufffd"
        if ch.isspace():
            flush()
            continue
        chars += 1
        if _is_bad(ch):
            bad += 1
        left, bottom, right, top = textpage.get_charbox(index)
        if right <= left and top <= bottom:  # generated character without geometry
            flush()
            continue
        current.append(ch)
        box = (left, bottom, right, top) if box is None else (
            min(box[0], left), min(box[1], bottom), max(box[2], right), max(box[3], top))
    flush()
    area = sum((w["bbox"][2] - w["bbox"][0]) * (w["bbox"][3] - w["bbox"][1]) for w in words)
    return TextLayer(text=text, words=words, chars=chars, bad_chars=bad, covered_area=area)


def judge(layer: TextLayer) -> tuple[bool, str]:
    """Is this text layer real text worth taking instead of OCR? Returns (usable, reason)."""
    if layer.chars == 0:
        return False, "no text layer"
    if layer.bad_chars / layer.chars > 0.05:
        return False, "text layer has unmapped glyphs"
    return True, "text layer"

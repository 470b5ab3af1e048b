"""A PDF page's own text layer: reading it (text and word boxes) and judging whether it is real text."""

from __future__ import annotations

import re
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
    chars = bad = line = 0

    def flush():
        nonlocal current, box
        if current and box is not None:
            words.append(
                {
                    "text": "".join(current),
                    "bbox": [round(v, 2) for v in to_display(box, cropbox, rotation)],
                    "confidence": None,
                    "line": line,
                }
            )
        current, box = [], None

    for index in range(count):
        code = pdfium_c.FPDFText_GetUnicode(textpage, index)
        ch = chr(code) if 0 < code < 0x110000 else "\ufffd"
        if ch.isspace():
            flush()
            if ch in "\r\n" and words and words[-1]["line"] == line:
                line += 1
            continue
        chars += 1
        if _is_bad(ch):
            bad += 1
        left, bottom, right, top = textpage.get_charbox(index)
        if right <= left and top <= bottom:  # generated character without geometry
            flush()
            continue
        current.append(ch)
        box = (
            (left, bottom, right, top)
            if box is None
            else (min(box[0], left), min(box[1], bottom), max(box[2], right), max(box[3], top))
        )
    flush()
    area = sum((w["bbox"][2] - w["bbox"][0]) * (w["bbox"][3] - w["bbox"][1]) for w in words)
    return TextLayer(text=text, words=words, chars=chars, bad_chars=bad, covered_area=area)


# Short function words of the common Latin-script languages: real prose always has some.
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have he her his i in is it its not of on or our she that the their "
    "they this to was we were which will with you your "
    "der die das und ist nicht mit den dem ein eine zu von auf für "
    "le la les et est un une des du en que qui pour dans pas sur au "
    "el los las y es un una del por con para se lo "
    "il di che è per non con una gli "
    "o os as e de do da em um uma não "
    "het een en van is op te dat niet".split()
)
_VOWELS = set("aeiouyàáâãäåæèéêëìíîïòóôõöøœùúûüýÿ")
_TOKEN = re.compile(r"[^\W\d_]+")


def plausibility(text: str) -> tuple[int, float, float]:
    """(tokens, share of word-shaped tokens, share of function words) for Latin-script text."""
    tokens = [t for t in _TOKEN.findall(text) if len(t) >= 2]
    latin = [t for t in tokens if all(ord(c) < 0x250 for c in t)]
    if not latin or len(latin) < 0.8 * len(tokens):
        return len(latin), 1.0, 1.0  # other scripts: no opinion

    def shaped(token: str) -> bool:
        lower = token.lower()
        if not any(c in _VOWELS for c in lower):
            return False
        if re.search(r"[^aeiouyàáâãäåæèéêëìíîïòóôõöøœùúûüýÿ]{5}", lower):
            return False
        return token.islower() or token.isupper() or (token[0].isupper() and token[1:].islower())

    shaped_share = sum(map(shaped, latin)) / len(latin)
    stop_share = sum(t.lower() in _STOPWORDS for t in latin) / len(latin)
    return len(latin), shaped_share, stop_share


def judge(layer: TextLayer, uncovered_ink: float | None = None) -> tuple[bool, str]:
    """Is this text layer real text worth taking instead of OCR? Returns (usable, reason).

    uncovered_ink: share of the dark pixels inside the page's images that no text-layer word covers
    (None when images do not dominate the page)."""
    if layer.chars == 0:
        return False, "no text layer"
    if layer.bad_chars / layer.chars > 0.05:
        return False, "text layer has unmapped glyphs"
    tokens, shaped, stop = plausibility(layer.text)
    if tokens >= 12 and (shaped < 0.6 or (stop < 0.02 and shaped < 0.8)):
        return False, "text layer is not readable text"
    if uncovered_ink is not None and uncovered_ink > 0.5:
        return False, "text layer covers only part of the page"
    return True, "text layer"

"""A PDF page's own text layer: reading it (text and word boxes) and judging whether it is real text."""

from __future__ import annotations

import ctypes
import functools
import re
import unicodedata
from dataclasses import dataclass, field


@dataclass
class FontRun:
    """All the text a page shows in one font: fonts, not pages, are what map codes to Unicode well or
    badly, so the verdict is per font and a page that mixes fonts keeps its good ones."""

    chars: int = 0
    map_errors: int = 0  # characters pdfium could only decode as their raw code (no Unicode map)
    bad_chars: int = 0
    text: list[str] = field(default_factory=list)
    words: list[int] = field(default_factory=list)  # indices into TextLayer.words
    embedded: bool = True  # False: the viewer draws the glyphs from the characters themselves


@dataclass
class TextLayer:
    text: str
    words: list[dict] = field(default_factory=list)  # bbox in displayed-page points, top-left origin
    chars: int = 0  # non-whitespace characters
    bad_chars: int = 0  # replacement, private-use, control characters: signs of a font without a Unicode map
    covered_area: float = 0.0  # area of the text's word boxes, in square points
    fonts: dict = field(default_factory=dict)  # font key -> FontRun


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


@functools.cache
def _addresses(name: str, arguments: int):
    """The same pdfium function taking and returning handles as plain addresses: the font handle is
    the key of a run, and casting a pointer per character costs more than the call."""
    import pypdfium2.raw as pdfium_c

    address = ctypes.cast(getattr(pdfium_c, name), ctypes.c_void_p).value
    return ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, *[ctypes.c_int] * (arguments - 1))(address)


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
    fonts: dict[int, FontRun] = {}
    font_key = current_font = None

    def flush():
        nonlocal current, box
        if current and box is not None:
            run = fonts.setdefault(current_font, FontRun())
            run.words.append(len(words))
            words.append(
                {
                    "text": "".join(current),
                    "bbox": [round(v, 2) for v in to_display(box, cropbox, rotation)],
                    "confidence": None,
                    "line": line,
                }
            )
        current, box = [], None

    # Per character, so the pdfium calls are bound once: the raw handle instead of the wrapper's property,
    # one set of out-parameters for every box (this loop is most of a born-digital page's cost).
    handle = textpage.raw
    get_unicode = pdfium_c.FPDFText_GetUnicode
    get_object, get_font = _addresses("FPDFText_GetTextObject", 2), _addresses("FPDFTextObj_GetFont", 1)
    has_map_error, get_box = pdfium_c.FPDFText_HasUnicodeMapError, pdfium_c.FPDFText_GetCharBox
    lc, rc, bc, tc = ctypes.c_double(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
    for index in range(count):
        code = get_unicode(handle, index)
        ch = chr(code) if 0 < code < 0x110000 else "\ufffd"
        if ch.isspace():
            flush()
            if current_font in fonts and fonts[current_font].text[-1:] != [" "]:
                fonts[current_font].text.append(" ")
            if ch in "\r\n" and words and words[-1]["line"] == line:
                line += 1
            continue
        chars += 1
        obj = get_object(handle, index)
        # the font handle is one per font dictionary in the document: the key of its run
        font_key = get_font(obj) if obj else None
        if font_key != current_font:
            flush()
            current_font = font_key
        run = fonts.get(font_key)
        if run is None:
            # a character without a font (generated by pdfium) is verified like an embedded font's
            embedded = not font_key or pdfium_c.FPDFFont_GetIsEmbedded(ctypes.cast(font_key, pdfium_c.FPDF_FONT)) != 0
            run = fonts[font_key] = FontRun(embedded=embedded)
        run.chars += 1
        run.text.append(ch)
        if has_map_error(handle, index) == 1:
            run.map_errors += 1
        if not 0x20 <= code < 0x7F and _is_bad(ch):  # printable ASCII is never bad
            bad += 1
            run.bad_chars += 1
        if not get_box(handle, index, lc, rc, bc, tc):  # lrbt, in this order
            lc.value = rc.value = bc.value = tc.value = 0.0
        left, bottom, right, top = lc.value, bc.value, rc.value, tc.value
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
    return TextLayer(text=text, words=words, chars=chars, bad_chars=bad, covered_area=area, fonts=fonts)


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


# ---------------------------------------------------------------- per-font verification
#
# Three checks, cheapest first, each deciding only what it can decide reliably:
# 1. pdfium's own word that it found no Unicode map (its code-as-character fallback) or characters no
#    real text holds: the font has no usable mapping.
# 2. What the decoded text looks like. A subset font whose codes were reassigned (33, 34, ... in order
#    of first use) decodes to ASCII punctuation and digits ('"7+%-' for "Phone"), which prose never is;
#    a long run of letters is judged by word shapes and function words.
#    A font the PDF does not embed passes here: the viewer draws it from the decoded characters.
# 3. Only where 1 and 2 cannot tell (short runs, wrong ToUnicode tables that still give letters,
#    ActualText): a cheap OCR of a sample of the run's own glyph boxes, compared with the decoded text.

MAP_ERROR_SHARE = 0.1  # share of a font's characters without a Unicode map that condemns the font
SYMBOL_SHARE = 0.35  # share of punctuation/symbols over which decoded text is not text (prose: < 0.1)
PLAUSIBLE_LETTERS = 40  # letters a run needs before word shapes and function words can judge it
SAMPLE_SIMILARITY = 0.7  # OCR of the glyphs vs the decoded text: real text 0.9-1.0, lies far below
MAX_SAMPLES = 6  # glyph samples OCR'd per page; past that the fonts left take the sampled ones' verdict


@dataclass
class FontVerdict:
    good: bool
    reason: str
    check: str  # "mapping" | "symbols" | "plausibility" | "ocr-sample": which check decided


def _symbol_share(text: str) -> float:
    visible = [c for c in text if not c.isspace()]
    if not visible:
        return 0.0
    return sum(not c.isalnum() for c in visible) / len(visible)


def verify_fonts(layer: TextLayer, sample_similarity) -> dict:
    """A verdict per font of the page. `sample_similarity(word_indices)` OCRs those words' glyph boxes
    and returns how closely the OCR matches the decoded text (0-1); it is called only when needed."""
    verdicts = {}
    sampled: list[bool] = []
    for key, run in layer.fonts.items():
        if not run.words:
            continue
        text = "".join(run.text)
        if run.chars and (run.map_errors + run.bad_chars) / run.chars > MAP_ERROR_SHARE:
            verdicts[key] = FontVerdict(False, "text layer has unmapped glyphs", "mapping")
            continue
        visible = sum(not c.isspace() for c in text)
        if visible >= 4 and _symbol_share(text) > SYMBOL_SHARE:
            verdicts[key] = FontVerdict(False, "text layer is not readable text (its font decodes to symbols)",
                                        "symbols")
            continue
        if not run.embedded:
            # A font the PDF does not embed (Helvetica, Times...) is drawn by the viewer from the very
            # characters its encoding gives: what is shown is what is decoded.
            verdicts[key] = FontVerdict(True, "text layer", "mapping")
            continue
        letters = sum(c.isalpha() for c in text)
        if letters >= PLAUSIBLE_LETTERS:
            tokens, shaped, stop = plausibility(text)
            if tokens >= 8 and (shaped < 0.6 or (stop < 0.02 and shaped < 0.8)):
                verdicts[key] = FontVerdict(False, "text layer is not readable text", "plausibility")
                continue
            if shaped >= 0.8 and stop >= 0.05:
                verdicts[key] = FontVerdict(True, "text layer", "plausibility")
                continue
        if len(sampled) >= MAX_SAMPLES:  # a page of many small fonts: OCR'ing each would cost more than the page
            good = all(sampled)
            verdicts[key] = FontVerdict(good, "text layer" if good else "text layer does not match the page's glyphs",
                                        "ocr-sample")
            continue
        similarity = sample_similarity(run.words)
        good = similarity is None or similarity >= SAMPLE_SIMILARITY
        sampled.append(good)
        verdicts[key] = FontVerdict(good, "text layer" if good else "text layer does not match the page's glyphs",
                                    "ocr-sample")
    return verdicts


def sample_words(layer: TextLayer, indices: list[int], min_chars: int = 40, max_lines: int = 3) -> list[dict]:
    """The words of a few whole lines of one font (the first lines holding its text), enough to compare."""
    by_line: dict[int, list[dict]] = {}
    for index in indices:
        word = layer.words[index]
        by_line.setdefault(word["line"], []).append(word)
    picked, chars = [], 0
    for line in sorted(by_line)[:max_lines]:
        picked.extend(sorted(by_line[line], key=lambda w: w["bbox"][0]))
        chars += sum(len(w["text"]) for w in by_line[line])
        if chars >= min_chars:
            break
    return picked


def similarity(expected: str, actual: str) -> float:
    """How alike two texts are, ignoring case and whitespace (difflib's ratio, 0-1)."""
    from difflib import SequenceMatcher

    a = "".join(expected.lower().split())
    b = "".join(actual.lower().split())
    if not a:
        return 1.0 if not b else 0.0
    return SequenceMatcher(None, a, b, autojunk=False).ratio()

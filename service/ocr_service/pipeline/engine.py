"""Tesseract engines, one per language per worker process, created lazily and reused.

Loading traineddata costs ~0.2-0.5 s; recognising a page costs ~1 s. So each process keeps its
engines (tesserocr's PyTessBaseAPI) for its whole life. OpenMP is throttled before the library
loads: on 2 cores Tesseract's own threads fight the process pool and make it ~3x slower.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from .errors import DocumentError  # noqa: E402

_TESSDATA_CANDIDATES = (
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
)
_MAX_ENGINES = 4  # distinct language combinations kept loaded per process (~40-100 MB each)

_lock = threading.RLock()
_engines: OrderedDict[str, object] = OrderedDict()
_osd_engine = None
engines_created = 0  # how many recognition engines this process has loaded (tests check reuse)


def tessdata_dir() -> str:
    """TESSDATA_PREFIX if set, else the first Debian/Ubuntu/local tessdata folder that exists."""
    env = os.environ.get("TESSDATA_PREFIX")
    if env:
        return env
    for candidate in _TESSDATA_CANDIDATES:
        if Path(candidate, "eng.traineddata").exists() or Path(candidate).is_dir():
            return candidate
    return _TESSDATA_CANDIDATES[0]


def available_languages() -> list[str]:
    """Installed recognition languages (traineddata files), without the `osd` orientation model."""
    folder = Path(tessdata_dir())
    names = {p.name[: -len(".traineddata")] for p in folder.glob("*.traineddata")} if folder.is_dir() else set()
    names.discard("osd")
    return sorted(names)


def _examples(available: list[str]) -> str:
    """Valid values built from installed languages only: an example the service would refuse misleads."""
    examples = [available[0], "+".join(available[:2])] if len(available) > 1 else available[:1]
    return f" (e.g. {' or '.join(repr(example) for example in examples)})" if examples else ""


def validate_language(language: str) -> None:
    """`language` is '+'-joined traineddata names, each installed; else DocumentError unknown_language."""
    available = available_languages()
    parts = language.split("+") if isinstance(language, str) else []
    unknown = [p for p in parts if p not in available]
    if not parts or unknown or any(not p for p in parts):
        shown = ", ".join(repr(p) for p in unknown) or repr(language)
        raise DocumentError(
            "unknown_language",
            f"Unknown OCR language {shown}. Use one or more of the installed languages joined by '+'"
            f"{_examples(available)}: {', '.join(available) or 'none installed'}.",
        )


def _tesserocr():
    import tesserocr  # imported late so OMP_THREAD_LIMIT above is in place first

    return tesserocr


def get_engine(language: str):
    """The process's engine for `language`, loading it on first use (LRU of a few languages)."""
    global engines_created
    with _lock:
        engine = _engines.get(language)
        if engine is not None:
            _engines.move_to_end(language)
            return engine
        validate_language(language)
        tesserocr = _tesserocr()
        engine = tesserocr.PyTessBaseAPI(path=tessdata_dir(), lang=language, psm=tesserocr.PSM.AUTO)
        engines_created += 1
        _engines[language] = engine
        while len(_engines) > _MAX_ENGINES:
            _, old = _engines.popitem(last=False)
            old.End()
        return engine


def get_osd_engine():
    """One engine loaded with `osd` for orientation detection (DetectOrientationScript)."""
    global _osd_engine
    with _lock:
        if _osd_engine is None:
            tesserocr = _tesserocr()
            _osd_engine = tesserocr.PyTessBaseAPI(path=tessdata_dir(), lang="osd", psm=tesserocr.PSM.OSD_ONLY)
        return _osd_engine


def preload(language: str = "eng") -> None:
    """Load the usual engines now, while the process starts, not on a document's first page."""
    if language in available_languages():
        get_engine(language)
    if (Path(tessdata_dir()) / "osd.traineddata").exists():
        get_osd_engine()


@dataclass
class Recognition:
    text: str
    words: list[dict]  # {"text", "bbox": [x0, y0, x1, y1] in image pixels, "confidence", "line"}
    confidence: float | None  # mean word confidence 0-100, None when no words
    seconds: float


def _set_grey_image(api, image, dpi: int) -> None:
    """Hand a greyscale PIL image to Tesseract as raw bytes (no PNG/BMP round trip)."""
    if image.mode != "L":
        image = image.convert("L")
    api.SetImageBytes(image.tobytes(), image.width, image.height, 1, image.width)
    api.SetSourceResolution(int(dpi))


def recognize(
    image, language: str, dpi: int, timeout_s: float, limit_s: float | None = None, block: bool = False
) -> Recognition:
    """One recognition pass: text, words with boxes and confidences all come from it. `block` reads
    the image as one block of text (a table cell, a sample of glyphs) instead of analysing its layout."""
    tesserocr = _tesserocr()
    api = get_engine(language)
    with _lock:  # an engine is not thread-safe; processes each have their own
        if block:
            api.SetPageSegMode(tesserocr.PSM.SINGLE_BLOCK)
        _set_grey_image(api, image, dpi)
        started = time.monotonic()
        try:
            ok = api.Recognize(timeout=max(1, int(timeout_s * 1000)))
        finally:
            if block:
                api.SetPageSegMode(tesserocr.PSM.AUTO)
        elapsed = time.monotonic() - started
        if not ok:
            api.Clear()
            if elapsed >= timeout_s * 0.95:
                raise DocumentError(
                    "ocr_timeout",
                    f"OCR of a page took longer than the {limit_s or timeout_s:g} s limit; split the document or "
                    "send pages with less content.",
                )
            return Recognition("", [], None, elapsed)
        words: list[dict] = []
        iterator = api.GetIterator()
        level = tesserocr.RIL.WORD
        line = -1
        if iterator is not None:
            for word in tesserocr.iterate_level(iterator, level):
                if line < 0 or word.IsAtBeginningOf(tesserocr.RIL.TEXTLINE):
                    line += 1
                try:  # tesserocr raises rather than return an empty word
                    text = word.GetUTF8Text(level)
                    box = word.BoundingBox(level)
                except RuntimeError:
                    continue
                if not text or not text.strip():
                    continue
                if box is None:
                    continue
                words.append(
                    {
                        "text": text,
                        "bbox": list(box),
                        "confidence": round(float(word.Confidence(level)), 2),
                        "line": line,
                    }
                )
        try:
            text = api.GetUTF8Text() or ""
        except RuntimeError:  # "No text returned" on a page without any
            text = ""
        api.Clear()
    confidence = round(sum(w["confidence"] for w in words) / len(words), 2) if words else None
    return Recognition(text, words, confidence, elapsed)


def detect_orientation(image, dpi: int) -> tuple[int, float] | None:
    """Clockwise rotation (0/90/180/270) of the page's text per Tesseract OSD and its confidence."""
    found = detect_orientation_script(image, dpi)
    return None if found is None else (found[0], found[1])


def detect_orientation_script(image, dpi: int) -> tuple[int, float, str, float] | None:
    """OSD's (rotation, its confidence, script name such as 'Latin' or 'Cyrillic', script confidence)."""
    api = get_osd_engine()
    with _lock:
        _set_grey_image(api, image, dpi)
        try:
            result = api.DetectOrientationScript()
        except RuntimeError:
            result = None
        api.Clear()
    if not result:
        return None
    return (int(result["orient_deg"]) % 360, float(result["orient_conf"]), str(result.get("script_name") or ""),
            float(result.get("script_conf") or 0.0))

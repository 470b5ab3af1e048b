"""language=auto: which installed OCR language a page is written in.

Tesseract's OSD names the script (Latin, Cyrillic, ...); a first read in a language of that script
gives text that lingua (whose models ship inside its wheel: nothing is downloaded) identifies among
the installed languages lingua knows. The page is then read again only when the language differs.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

from . import engine

AUTO = "auto"
# Tesseract's traineddata names are ISO 639-3 codes, except these
_TESSERACT_TO_ISO = {"chi_sim": "zho", "chi_tra": "zho", "aze_cyrl": None, "uzb_cyrl": None, "srp_latn": None}
# Scripts as OSD names them, with the languages lingua knows in each (ISO 639-3); Latin is the default
_SCRIPTS = {
    "Cyrillic": {"rus", "ukr", "bul", "bel", "mkd", "srp", "kaz", "mon"},
    "Greek": {"ell"},
    "Arabic": {"ara", "fas", "urd"},
    "Hebrew": {"heb"},
    "Han": {"zho"},
    "HanS": {"zho"},
    "HanT": {"zho"},
    "Japanese": {"jpn"},
    "Katakana": {"jpn"},
    "Hiragana": {"jpn"},
    "Hangul": {"kor"},
    "Korean": {"kor"},
    "Thai": {"tha"},
    "Devanagari": {"hin", "mar"},
    "Bengali": {"ben"},
    "Armenian": {"hye"},
    "Georgian": {"kat"},
    "Gujarati": {"guj"},
    "Gurmukhi": {"pan"},
    "Tamil": {"tam"},
    "Telugu": {"tel"},
}
_NON_LATIN = set().union(*_SCRIPTS.values())
MIN_LETTERS = 20  # fewer letters than this say too little to name a language: keep the first read


@dataclass(frozen=True)
class Detection:
    language: str  # the traineddata name(s) the page should be read with
    confidence: float | None  # lingua's confidence 0-1 for that language (None: not detected)


def _iso(tesseract_name: str) -> str | None:
    return _TESSERACT_TO_ISO.get(tesseract_name, tesseract_name)


@lru_cache(maxsize=1)
def _lingua_codes() -> frozenset[str]:
    from lingua import Language

    return frozenset(lang.iso_code_639_3.name.lower() for lang in Language.all())


def detectable_languages() -> list[str]:
    """Installed OCR languages that language=auto can tell apart (lingua knows them)."""
    known = _lingua_codes()
    return [name for name in engine.available_languages() if _iso(name) in known]


_detectors: dict[tuple[str, ...], object] = {}
_lock = threading.Lock()


def _detector(isos: tuple[str, ...]):
    from lingua import IsoCode639_3, Language, LanguageDetectorBuilder

    with _lock:
        detector = _detectors.get(isos)
        if detector is None:
            languages = [Language.from_iso_code_639_3(getattr(IsoCode639_3, iso.upper())) for iso in isos]
            detector = LanguageDetectorBuilder.from_languages(*languages).build()
            _detectors[isos] = detector
        return detector


def candidates(script: str | None) -> list[str]:
    """Detectable installed languages written in `script` (all Latin-script ones when unknown)."""
    names = detectable_languages()
    if script in _SCRIPTS:
        chosen = [n for n in names if _iso(n) in _SCRIPTS[script]]
    else:
        chosen = [n for n in names if _iso(n) not in _NON_LATIN]
    return chosen


def first_language(script: str | None) -> str:
    """The language of the first read of a page in `script`: English for Latin script when installed."""
    options = candidates(script)
    installed = engine.available_languages()
    if "eng" in options:
        return "eng"
    if options:
        return options[0]
    return "eng" if "eng" in installed else installed[0]


def detect(text: str, script: str | None, fallback: str) -> Detection:
    """The candidate language `text` is written in, with lingua's confidence; `fallback` with no
    confidence when the text is too short or no candidate fits."""
    options = candidates(script)
    if sum(c.isalpha() for c in text) < MIN_LETTERS or not options:
        return Detection(fallback, None)
    if len(options) == 1:
        return Detection(options[0], 1.0)
    by_iso: dict[str, str] = {}
    for name in options:
        by_iso.setdefault(_iso(name), name)
    values = _detector(tuple(sorted(by_iso))).compute_language_confidence_values(text)
    if not values:
        return Detection(fallback, None)
    best = values[0]
    return Detection(by_iso[best.language.iso_code_639_3.name.lower()], round(float(best.value), 3))

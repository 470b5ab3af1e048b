"""The OCR pipeline: validate a document, then per page take its text layer or render and OCR it.

The API and the worker processes use only the names exported here; see docs/pipeline.md.
"""

from .engine import available_languages, validate_language
from .errors import DocumentError, DocumentInfo, Limits, PageOptions
from .language import detectable_languages
from .page import document_text, process_page, validate_options
from .quality import document_quality
from .sources import inspect_document


def language_detection() -> dict:
    """What language=auto can do here: the installed languages it tells apart, and how."""
    return {
        "detectable": detectable_languages(),
        "method": "script by Tesseract OSD, then language by lingua on a first read; each page on its own",
    }


__all__ = [
    "DocumentError",
    "DocumentInfo",
    "Limits",
    "PageOptions",
    "available_languages",
    "detectable_languages",
    "document_quality",
    "document_text",
    "language_detection",
    "inspect_document",
    "process_page",
    "validate_language",
    "validate_options",
]

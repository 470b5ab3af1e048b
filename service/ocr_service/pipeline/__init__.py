"""The OCR pipeline: validate a document, then per page take its text layer or render and OCR it.

The API and the worker processes use only the names exported here; see docs/pipeline.md.
"""

from .engine import available_languages, validate_language
from .errors import DocumentError, DocumentInfo, Limits, PageOptions
from .page import document_text, process_page, validate_options
from .sources import inspect_document

__all__ = [
    "DocumentError",
    "DocumentInfo",
    "Limits",
    "PageOptions",
    "available_languages",
    "document_text",
    "inspect_document",
    "process_page",
    "validate_language",
    "validate_options",
]

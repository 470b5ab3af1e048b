"""Request and response bodies, as the OpenAPI document at /docs shows them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from ..domain import DocumentStatus

# Letters, digits, `.`, `_`, `-`, at least one of them not a dot: `.` and `..` are path segments that
# clients normalise away, so a document with such an id could never be fetched by its URL. The length
# (1-128) is a separate max_length: a lookahead would not run on pydantic's regex engine.
DOCUMENT_ID_PATTERN = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$"
DOCUMENT_ID_MAX_LENGTH = 128


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `encrypted_document`.")
    message: str = Field(description="What went wrong and what to do about it.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class SubmitResponse(BaseModel):
    document_id: str
    status: DocumentStatus
    content_sha256: str = Field(description="SHA-256 of the document's bytes: send it as `sha256` instead of "
                                            "the file to submit the same document again.")
    status_url: str = Field(description="Poll this for progress.")
    result_url: str = Field(description="Fetch the result here once completed.")


class StatusResponse(BaseModel):
    document_id: str
    status: DocumentStatus
    pages_total: int = Field(description="Pages in the document.")
    pages_done: int = Field(description="Pages processed so far.")
    created_at: str = Field(description="ISO 8601, UTC.")
    updated_at: str = Field(description="ISO 8601, UTC; changes with every page processed.")
    error: ErrorDetail | None = Field(None, description="Why the document failed, when it did.")


class Word(BaseModel):
    text: str
    bbox: list[float] = Field(description="[x0, y0, x1, y1] in page units (PDF points), origin top-left.")
    confidence: float | None = None


class PageResult(BaseModel):
    model_config = {"extra": "allow"}

    number: int = Field(description="1-based page number.")
    text: str
    source: Literal["ocr", "text-layer", "none"] = Field(
        description="`ocr`: recognised by Tesseract; `text-layer`: the PDF's own text; "
                    "`none`: mode=text and the page has no text layer.")
    confidence: float | None = Field(None, description="Mean word confidence (0-100) of OCR'd pages.")
    words: list[Word] | None = Field(None, description="Present with `?words=true`.")


class ResultResponse(BaseModel):
    document_id: str
    status: Literal["completed"]
    text: str = Field(description="The whole document's text, pages separated by a form feed.")
    pages: list[PageResult]
    pages_total: int
    created_at: str
    updated_at: str


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    mode: Literal["embedded", "production"] = Field(description="The backend the service runs on.")
    checks: dict[str, Literal["ok", "unavailable"]] = Field(
        description="Each dependency (`store`, `cache`, `queue`): `ok` or `unavailable`.")

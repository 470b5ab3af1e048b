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


class WebhookState(BaseModel):
    status: Literal["pending", "delivered", "failed"] = Field(
        description="`pending` until the event is accepted (2xx) or given up (`failed`, after `WEBHOOK_MAX_AGE_S`).")
    attempts: int = Field(description="POSTs made so far.")
    last_error: str | None = Field(None, description="Why the last attempt failed (e.g. `HTTP 500`).")


class DefaultCallback(BaseModel):
    callback_url: str | None = Field(
        max_length=2048, description="Where the events of uploads without a `callback_url` go; null: nowhere.")


class WebhookSecretResponse(BaseModel):
    secret: str = Field(description="`whsec_` + base64: pass it to a Standard Webhooks library's verifier.")


class StatusResponse(BaseModel):
    document_id: str
    status: DocumentStatus
    pages_total: int = Field(description="Pages in the document.")
    pages_done: int = Field(description="Pages processed so far.")
    created_at: str = Field(description="ISO 8601, UTC.")
    updated_at: str = Field(description="ISO 8601, UTC; changes with every page processed.")
    expires_at: str | None = Field(
        None, description="ISO 8601, UTC: when the document and its bytes are deleted (`RETENTION_S` after it "
                          "finished); null while it runs or when documents are kept.")
    error: ErrorDetail | None = Field(None, description="Why the document failed, when it did.")
    webhook: WebhookState | None = Field(
        None, description="The delivery of the event to `callback_url`; null without one.")


class DocumentList(BaseModel):
    documents: list[StatusResponse] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class Word(BaseModel):
    text: str
    bbox: list[float] = Field(description="[x0, y0, x1, y1] in page units (PDF points), origin top-left.")
    confidence: float | None = None


class PageQuality(BaseModel):
    verdict: Literal["good", "poor"]
    reason: str = Field(description="Why, in words.")
    mean_confidence: float | None = Field(None, description="Mean word confidence (0-100).")
    low_confidence_share: float | None = Field(None, description="Share of words read with confidence < 60.")


class Table(BaseModel):
    bbox: list[float] = Field(description="[x0, y0, x1, y1] in page units, origin top-left.")
    rows: list[list[str]] = Field(description="Each row's cells' text, left to right.")


class DocumentQuality(BaseModel):
    verdict: Literal["good", "poor"] = Field(description="The worst page's verdict.")
    worst_page: int | None = Field(description="The page read worst (a poor one first, then the lowest mean "
                                                "confidence); None without OCR'd pages.")
    poor_pages: list[int] = Field(description="Every page whose verdict is `poor`.")


class PageResult(BaseModel):
    model_config = {"extra": "allow"}

    number: int = Field(description="1-based page number.")
    text: str
    source: Literal["ocr", "text-layer", "mixed", "none"] = Field(
        description="`ocr`: recognised by Tesseract; `text-layer`: the PDF's own text; `mixed`: the text "
                    "layer of the fonts that decode to real text, OCR for the others; "
                    "`none`: mode=text and the page has no text layer.")
    confidence: float | None = Field(None, description="Mean word confidence (0-100) of OCR'd pages.")
    language: str | None = Field(None, description="The OCR language(s) the page was read in (detected with "
                                                   "`language=auto`).")
    language_confidence: float | None = Field(None, description="0-1, how sure the detection was (auto only).")
    quality: PageQuality | None = Field(None, description="Whether the page was read well enough to trust.")
    tables: list[Table] = Field(default_factory=list, description="Ruled tables found on the page (OCR only).")
    words: list[Word] | None = Field(None, description="Present with `?words=true`.")


class ResultResponse(BaseModel):
    document_id: str
    status: Literal[DocumentStatus.COMPLETED, DocumentStatus.CANCELLED, DocumentStatus.FAILED] = Field(
        description="`cancelled`: the pages read before it stopped; `failed` only for a document that "
                    "min_quality=fail stopped (`error.code` `low_quality`), whose pages stay readable.")
    text: str = Field(description="The whole document's text, pages separated by a form feed.")
    quality: DocumentQuality | None = Field(None, description="The document's verdict: its worst page's.")
    pages: list[PageResult]
    pages_total: int
    pages_done: int
    created_at: str
    updated_at: str
    expires_at: str | None = None
    error: ErrorDetail | None = None
    webhook: WebhookState | None = None


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    mode: Literal["embedded", "production"] = Field(description="The backend the service runs on.")
    checks: dict[str, Literal["ok", "unavailable"]] = Field(
        description="Each dependency (`store`, `cache`, `queue`): `ok` or `unavailable`.")

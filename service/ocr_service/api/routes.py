"""The HTTP contract: POST /extract, GET /check-status/{id}, GET /result/{id}, GET /health."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Callable
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, File, Form, Header, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..orchestrator import Orchestrator, Status, Upload
from ..pipeline import available_languages, document_text
from ..store.base import COMPLETED, FAILED
from .errors import ApiError
from .models import DOCUMENT_ID_PATTERN, ErrorResponse, HealthResponse, ResultResponse, StatusResponse, SubmitResponse

router = APIRouter()
T = TypeVar("T")
CHUNK = 1024 * 1024
QUICK_RESULT_PAGES = 20  # results up to this many pages may be answered on the event loop


def _errors(*codes: int) -> dict:
    return {code: {"model": ErrorResponse} for code in codes}


def _orchestrator(request: Request) -> Orchestrator:
    return request.app.state.runtime.orchestrator


async def _read(request: Request, read: Callable[[], T]) -> T:
    """Run a store read on the event loop when the store's reads are local and quick (no thread hop,
    which is what a status call waits longest for while OCR keeps the cores busy); else in a thread."""
    if request.app.state.runtime.quick_reads:
        return read()
    return await run_in_threadpool(read)


def _receive(request: Request, file: UploadFile) -> Upload:
    """Hash the upload as received (Starlette has spooled it); refuse it once it passes the limit."""
    limit = request.app.state.runtime.settings.max_upload_bytes
    digest, size = hashlib.sha256(), 0
    while chunk := file.file.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"The upload is larger than the limit of {limit} bytes.")
        digest.update(chunk)
    return Upload(source=file.file, size_bytes=size, sha256=digest.hexdigest(), filename=file.filename,
                  staging_dir=request.app.state.staging_dir)


def _submit_response(request: Request, status: Status) -> SubmitResponse:
    document_id, base = status.record.document_id, str(request.base_url).rstrip("/")
    return SubmitResponse(
        document_id=document_id, status=status.status, content_sha256=status.record.content_sha256,
        # Built by hand: Starlette's url_for walks every route, twice per upload.
        status_url=f"{base}/check-status/{document_id}", result_url=f"{base}/result/{document_id}",
    )


@router.post(
    "/extract", status_code=202, response_model=SubmitResponse,
    responses={**_errors(400, 404, 409, 413, 415, 422, 503),
               202: {"description": "Accepted: the document and its record are stored durably."},
               200: {"model": ResultResponse,
                     "description": "With `Prefer: wait=N`: completed within N seconds; the result, as from "
                                    "GET /result (a `Preference-Applied` header says so)."}},
    summary="Upload a document (PDF, PNG, JPEG, TIFF) for text extraction",
)
async def extract(
    request: Request,
    file: Annotated[UploadFile | None, File(
        description="The document. Its type is detected from its bytes.")] = None,
    sha256: Annotated[str | None, Form(
        pattern=r"^[0-9A-Fa-f]{64}$",
        description="Instead of `file`: the SHA-256 of a document uploaded before with the same `language` "
                    "and `mode`. The new document shares that upload's result without the bytes being sent "
                    "again; 404 `unknown_content` when the service does not have them.")] = None,
    document_id: Annotated[str | None, Form(
        pattern=DOCUMENT_ID_PATTERN,
        description="Your id for the document (`[A-Za-z0-9._-]{1,128}`); generated when absent. "
                    "Re-sending the same id with the same bytes and options returns the existing job; "
                    "with different bytes it is a 409.")] = None,
    language: Annotated[str, Form(
        pattern=r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$",
        description="Tesseract language codes joined by `+`, e.g. `eng+fra`. See GET /languages.")] = "eng",
    mode: Annotated[Literal["auto", "ocr", "text"], Form(
        description="`auto`: use a page's text layer when it is real text, else OCR; `ocr`: always OCR; "
                    "`text`: never OCR.")] = "auto",
    pages: Annotated[str | None, Form(
        max_length=1000,
        description="Only these pages, e.g. `1-3,7` (1-based, as OCRmyPDF's `--pages`): only they are processed "
                    "and returned, numbered as in the document, and `pages_total` counts them; the searchable "
                    "PDF is the whole original with text on those pages. A range that is malformed, starts at 0, "
                    "runs backwards or goes beyond the last page is a 422 `invalid_pages` naming it.")] = None,
    prefer: Annotated[str | None, Header(
        description="`wait=N` (RFC 7240): answer `200` with the result, as `GET /result` would, if the document "
                    "is completed within N seconds (at most `MAX_WAIT_S`); otherwise the usual `202`.")] = None,
):
    orchestrator = _orchestrator(request)
    if file is not None and sha256 is not None:
        raise ApiError(422, "file_and_sha256", "Send either the file or its sha256, not both.")
    if file is None and sha256 is None:
        raise ApiError(422, "missing_file", "No file was sent: upload the document as multipart/form-data "
                                            "field `file` (or name one uploaded before by its `sha256`).")

    def accept() -> tuple[Status, bool]:
        if sha256 is not None:
            return orchestrator.submit_known(sha256.lower(), document_id, language, mode, pages)
        upload = _receive(request, file)
        try:
            return orchestrator.submit(upload, document_id, language, mode, pages)
        finally:
            upload.discard()

    status, created = await run_in_threadpool(accept)  # inspection and durable writes: never on the loop
    wait_s = _preferred_wait(prefer, request.app.state.runtime.settings.max_wait_s)
    if wait_s:
        status = await _wait_until_finished(request, status, wait_s)
    body = _submit_response(request, status)
    headers = {"Location": body.status_url, "X-Created": str(created).lower()}
    if wait_s and status.status == COMPLETED:
        response = await _result(request, status, "json", words=False)
        response.headers.update({**headers, "Preference-Applied": f"wait={wait_s:g}"})
        return response
    return JSONResponse(body.model_dump(), status_code=202, headers=headers)


def _preferred_wait(prefer: str | None, limit_s: float) -> float:
    """Seconds from a `Prefer: wait=N` header, capped; 0 when absent or not understood (RFC 7240:
    a preference a server does not understand is ignored, not refused)."""
    match = re.search(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", prefer or "", re.IGNORECASE)
    return min(float(match.group(1)), limit_s) if match else 0.0


async def _wait_until_finished(request: Request, status: Status, wait_s: float) -> Status:
    """Poll the store (every instance sees the workers' progress there) until the document is finished
    or the time is up; the interval grows from 20 ms so that quick documents come back quickly."""
    orchestrator, document_id = _orchestrator(request), status.record.document_id
    deadline, interval = time.monotonic() + wait_s, 0.02
    while status.status not in (COMPLETED, FAILED) and time.monotonic() < deadline:
        await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(interval * 1.5, 0.5)
        status = await _read(request, lambda: orchestrator.status(document_id))
    return status


@router.get("/check-status/{document_id}", response_model=StatusResponse, responses=_errors(404, 503),
            name="check_status", summary="A document's status and progress")
async def check_status(request: Request, document_id: str):
    return await _read(request, lambda: _orchestrator(request).status(document_id).to_json())


@router.get(
    "/result/{document_id}", name="get_result", response_model=ResultResponse,
    responses={**_errors(404, 409, 503),
               202: {"model": StatusResponse, "description": "Not finished yet: the status body."},
               409: {"model": StatusResponse, "description": "The document failed: the status body with its error."},
               200: {"content": {"application/json": {}, "text/plain": {}, "text/html": {}, "application/pdf": {}},
                     "description": "The result in the format asked for."}},
    summary="A completed document's text, per page, or as plain text, hOCR or a searchable PDF",
)
async def get_result(
    request: Request,
    document_id: str,
    format: Annotated[Literal["json", "text", "hocr", "pdf"], Query(
        description="`json` (default), `text` (text/plain), `hocr` (hOCR HTML), `pdf` (the original with "
                    "an invisible text layer: searchable and selectable).")] = "json",
    words: Annotated[bool, Query(
        description="JSON only: include each page's words with boxes and confidences.")] = False,
):
    orchestrator = _orchestrator(request)
    status = await _read(request, lambda: orchestrator.status(document_id))
    if status.status == FAILED:
        return JSONResponse(status.to_json(), status_code=409)
    if status.status != COMPLETED:
        return JSONResponse(status.to_json(), status_code=202, headers={"Retry-After": "2"})
    return await _result(request, status, format, words)


async def _result(request: Request, status: Status, format: str, words: bool) -> Response:
    """A completed document's result in the format asked for."""
    orchestrator, document_id = _orchestrator(request), status.record.document_id

    def answer() -> Response:
        pages = orchestrator.pages(status, words=words or format in ("hocr", "pdf"))
        if format == "text":
            return PlainTextResponse(document_text(pages))
        if format == "hocr":
            from ..pipeline.outputs import render_hocr

            return Response(render_hocr(document_id, pages), media_type="text/html; charset=utf-8")
        if format == "pdf":
            from ..pipeline.outputs import render_searchable_pdf

            with orchestrator.original(status) as original:
                pdf = render_searchable_pdf(original, pages)
            return Response(pdf, media_type="application/pdf",
                            headers={"Content-Disposition": f'attachment; filename="{document_id}.pdf"'})
        # The stored pages are already in the documented shape; JSONResponse skips a second validation.
        return JSONResponse({**status.to_json(), "text": document_text(pages), "pages": pages})

    # Rendering, and decoding a long document's pages, take a while: a thread, never the event loop.
    if format in ("hocr", "pdf") or status.pages_total > QUICK_RESULT_PAGES:
        return await run_in_threadpool(answer)
    return await _read(request, answer)


@router.get("/languages", summary="Installed OCR languages")
def languages() -> dict[str, list[str]]:
    return {"languages": available_languages()}


@router.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}},
            summary="200 when the service and its dependencies answer; 503 naming the one that does not")
def health(request: Request):
    runtime = request.app.state.runtime
    checks = runtime.health()
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "mode": runtime.mode, "checks": checks}
    return JSONResponse(body, status_code=200 if healthy else 503)

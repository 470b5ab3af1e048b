"""The HTTP contract: POST /extract, GET /check-status/{id}, GET /result/{id}, GET /languages, and the
health checks. Routes translate HTTP to the orchestrator's calls and back; nothing else."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..config import Settings
from ..domain import DocumentStatus, StatusView, Upload
from ..pipeline import available_languages
from .deps import OrchestratorDep, SettingsDep, UploadRoute, require_api_key
from .errors import ApiError
from .models import (
    DOCUMENT_ID_MAX_LENGTH,
    DOCUMENT_ID_PATTERN,
    ErrorResponse,
    HealthResponse,
    ResultResponse,
    StatusResponse,
    SubmitResponse,
)

# Every document route needs the API key (once one is configured); the health checks need none.
# Invalid parameters are 422 in the error shape (not FastAPI's default `detail` list).
router = APIRouter(dependencies=[Depends(require_api_key)],
                   responses={401: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
# The upload route parses its body with UploadRequest (small files stay in memory).
upload_router = APIRouter(dependencies=[Depends(require_api_key)],
                          responses={401: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
                          route_class=UploadRoute)
health_router = APIRouter(tags=["health"])
CHUNK = 1024 * 1024


def _errors(*codes: int) -> dict:
    return {code: {"model": ErrorResponse} for code in codes}


def _receive(file: UploadFile, settings: Settings, request: Request) -> Upload:
    """Hash the upload as received (Starlette has parsed it); refuse it once it passes the limit."""
    limit = settings.max_upload_bytes
    digest, size = hashlib.sha256(), 0
    while chunk := file.file.read(CHUNK):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"The upload is larger than the limit of {limit} bytes.")
        digest.update(chunk)
    return Upload(source=file.file, size_bytes=size, sha256=digest.hexdigest(), filename=file.filename,
                  staging_dir=request.app.state.staging_dir)


def _submit_response(request: Request, status: StatusView) -> SubmitResponse:
    document_id, base = status.document_id, str(request.base_url).rstrip("/")
    return SubmitResponse(
        document_id=document_id, status=status.status, content_sha256=status.record.content_sha256,
        # Built by hand: Starlette's url_for walks every route, twice per upload.
        status_url=f"{base}/check-status/{document_id}", result_url=f"{base}/result/{document_id}",
    )


@upload_router.post(
    "/extract", status_code=202, response_model=SubmitResponse,
    responses={**_errors(400, 404, 408, 409, 413, 415, 422, 503, 507),
               202: {"description": "Accepted: the document and its record are stored durably."},
               200: {"model": ResultResponse,
                     "description": "With `Prefer: wait=N`: completed within N seconds; the result, as from "
                                    "GET /result (a `Preference-Applied` header says so)."}},
    summary="Upload a document (PDF, PNG, JPEG, TIFF) for text extraction",
)
async def extract(
    request: Request,
    orchestrator: OrchestratorDep,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File(
        description="The document. Its type is detected from its bytes.")] = None,
    sha256: Annotated[str | None, Form(
        pattern=r"^[0-9A-Fa-f]{64}$",
        description="Instead of `file`: the SHA-256 of a document uploaded before with the same `language` "
                    "and `mode`. The new document shares that upload's result without the bytes being sent "
                    "again; 404 `unknown_content` when the service does not have them.")] = None,
    document_id: Annotated[str | None, Form(
        pattern=DOCUMENT_ID_PATTERN, max_length=DOCUMENT_ID_MAX_LENGTH,
        description="Your id for the document (`[A-Za-z0-9._-]{1,128}`, not only dots); generated when absent. "
                    "Re-sending the same id with the same bytes and options returns the existing job; "
                    "with different bytes it is a 409.")] = None,
    language: Annotated[str, Form(
        pattern=r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$",
        description="Tesseract language codes joined by `+`, e.g. `eng+fra`. See GET /languages.")] = "eng",
    mode: Annotated[Literal["auto", "ocr", "text"], Form(
        description="`auto`: use a page's text layer when it is real text, else OCR; `ocr`: always OCR; "
                    "`text`: never OCR.")] = "auto",
    prefer: Annotated[str | None, Header(
        description="`wait=N` (RFC 7240): answer `200` with the result, as `GET /result` would, if the document "
                    "is completed within N seconds (at most `MAX_WAIT_S`); otherwise the usual `202`.")] = None,
):
    if file is not None and sha256 is not None:
        raise ApiError(422, "file_and_sha256", "Send either the file or its sha256, not both.")
    if sha256 is not None:
        status, created = await orchestrator.accept_known(sha256.lower(), document_id, language, mode)
    elif file is not None:
        upload = _receive(file, settings, request)
        try:
            status, created = await orchestrator.accept(upload, document_id, language, mode)
        finally:
            upload.discard()
    else:
        raise ApiError(422, "missing_file", "No file was sent: upload the document as multipart/form-data "
                                            "field `file` (or name one uploaded before by its `sha256`).")
    wait_s = _preferred_wait(prefer, settings.max_wait_s)
    if wait_s:
        status = await orchestrator.wait(status, wait_s)
    body = _submit_response(request, status)
    headers = {"Location": body.status_url, "X-Created": str(created).lower()}
    if wait_s and status.status == DocumentStatus.COMPLETED:
        headers["Preference-Applied"] = f"wait={wait_s:g}"
        # The stored pages are already in the documented shape; JSONResponse skips a second validation.
        return JSONResponse(await orchestrator.result_json(status, words=False), headers=headers)
    return JSONResponse(body.model_dump(mode="json"), status_code=202, headers=headers)


def _preferred_wait(prefer: str | None, limit_s: float) -> float:
    """Seconds from a `Prefer: wait=N` header, capped; 0 when absent or not understood (RFC 7240:
    a preference a server does not understand is ignored, not refused)."""
    match = re.search(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", prefer or "", re.IGNORECASE)
    return min(float(match.group(1)), limit_s) if match else 0.0


@router.get("/check-status/{document_id}", response_model=StatusResponse, responses=_errors(404, 503),
            name="check_status", summary="A document's status and progress")
async def check_status(orchestrator: OrchestratorDep, document_id: str):
    status = await orchestrator.get_status(document_id)
    return JSONResponse(status.to_json())  # already in StatusResponse's shape


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
    orchestrator: OrchestratorDep,
    document_id: str,
    format: Annotated[Literal["json", "text", "hocr", "pdf"], Query(
        description="`json` (default), `text` (text/plain), `hocr` (hOCR HTML), `pdf` (the original with "
                    "an invisible text layer: searchable and selectable).")] = "json",
    words: Annotated[bool, Query(
        description="JSON only: include each page's words with boxes and confidences.")] = False,
):
    status = await orchestrator.get_status(document_id)
    if status.status == DocumentStatus.FAILED:
        return JSONResponse(status.to_json(), status_code=409)
    if status.status != DocumentStatus.COMPLETED:
        return JSONResponse(status.to_json(), status_code=202, headers={"Retry-After": "2"})
    if format == "text":
        return PlainTextResponse(await orchestrator.result_text(status))
    if format == "hocr":
        return Response(await orchestrator.result_hocr(status), media_type="text/html; charset=utf-8")
    if format == "pdf":
        return Response(await orchestrator.result_pdf(status), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{document_id}.pdf"'})
    return JSONResponse(await orchestrator.result_json(status, words))


@router.get("/languages", summary="Installed OCR languages")
def languages() -> dict[str, list[str]]:
    return {"languages": available_languages()}


async def _readiness(orchestrator, settings) -> JSONResponse:
    checks = await orchestrator.health()
    healthy = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "mode": str(settings.backend), "checks": checks}
    return JSONResponse(body, status_code=200 if healthy else 503)


@health_router.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}},
                   summary="200 when the service and its dependencies answer; 503 naming the one that does not")
async def health(orchestrator: OrchestratorDep, settings: SettingsDep):
    return await _readiness(orchestrator, settings)


@health_router.get("/health/ready", response_model=HealthResponse, responses={503: {"model": HealthResponse}},
                   summary="Readiness: 200 when the dependencies answer, 503 naming the one that does not")
async def ready(orchestrator: OrchestratorDep, settings: SettingsDep):
    return await _readiness(orchestrator, settings)


@health_router.get("/health/live", summary="Liveness: 200 while the process serves requests")
async def live() -> dict[str, str]:
    return {"status": "ok"}

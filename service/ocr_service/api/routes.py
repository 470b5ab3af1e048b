"""The HTTP contract: POST /extract, GET /check-status/{id}, GET /result/{id}, the tenant's documents
(list, cancel, delete), GET /languages, and the health checks. Routes translate HTTP to the
orchestrator's calls and back; nothing else. Every document route acts for the caller's tenant."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Header, Path, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from ..config import Settings
from ..domain import DocumentStatus, StatusView, Upload, WebhookTarget
from ..orchestrator import Orchestrator
from ..pipeline import available_languages, language_detection
from .deps import OrchestratorDep, SettingsDep, TenantDep, UploadRoute, get_tenant
from .errors import ApiError
from .models import (
    DOCUMENT_ID_MAX_LENGTH,
    DOCUMENT_ID_PATTERN,
    DefaultCallback,
    DocumentList,
    ErrorResponse,
    HealthResponse,
    ResultResponse,
    StatusResponse,
    SubmitResponse,
    WebhookSecretResponse,
)

# Every document route needs the API key once one exists (ApiKeyGate checks it before routing; the
# TenantDep parameter declares it); the health checks need none.
# Invalid parameters are 422 in the error shape (not FastAPI's default `detail` list).
router = APIRouter(dependencies=[Depends(get_tenant)],
                   responses={401: {"model": ErrorResponse}, 422: {"model": ErrorResponse}})
# The upload route parses its body with UploadRequest (small files stay in memory).
upload_router = APIRouter(dependencies=[Depends(get_tenant)],
                          responses={401: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
                          route_class=UploadRoute)
health_router = APIRouter(tags=["health"])
LOW_QUALITY = "low_quality"
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
    tenant: TenantDep,
    file: Annotated[UploadFile | None, File(
        description="The document. Its type is detected from its bytes.")] = None,
    sha256: Annotated[str | None, Form(
        pattern=r"^[0-9A-Fa-f]{64}$",
        description="Instead of `file`: the SHA-256 of a document your tenant uploaded before with the same "
                    "`language` and `mode`. The new document shares that upload's result without the bytes being "
                    "sent again; 404 `unknown_content` when your tenant has none (another tenant's uploads never "
                    "count).")] = None,
    document_id: Annotated[str | None, Form(
        pattern=DOCUMENT_ID_PATTERN, max_length=DOCUMENT_ID_MAX_LENGTH,
        description="Your id for the document (`[A-Za-z0-9._-]{1,128}`, not only dots), unique within your "
                    "tenant; generated when absent. Re-sending the same id with the same bytes and options "
                    "returns the existing job; with different bytes it is a 409.")] = None,
    language: Annotated[str, Form(
        pattern=r"^[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*$",
        description="Tesseract language codes joined by `+`, e.g. `eng+fra`, or `auto`: each page's language "
                    "is detected (script by Tesseract's OSD, language by lingua) among those GET /languages "
                    "lists as detectable, and the page read in it.")] = "eng",
    mode: Annotated[Literal["auto", "ocr", "text"], Form(
        description="`auto`: use a page's text layer when it is real text, else OCR; `ocr`: always OCR; "
                    "`text`: never OCR.")] = "auto",
    min_quality: Annotated[Literal["none", "flag", "fail"], Form(
        description="What a page read poorly (its `quality.verdict` is `poor`) does: `none` (default) and "
                    "`flag` complete the document with each page's verdict and the document's worst page in "
                    "the result; `fail` ends the document `failed` with code `low_quality` naming the poor "
                    "pages, its results still readable at GET /result.")] = "none",
    pages: Annotated[str | None, Form(
        max_length=1000,
        description="Only these pages, e.g. `1-3,7` (1-based, as OCRmyPDF's `--pages`): only they are processed "
                    "and returned, numbered as in the document, and `pages_total` counts them; the searchable "
                    "PDF is the whole original with text on those pages. A range that is malformed, starts at 0, "
                    "runs backwards or goes beyond the last page is a 422 `invalid_pages` naming it.")] = None,
    callback_url: Annotated[str | None, Form(
        max_length=2048,
        description="An http(s) URL that receives a signed JSON event (Standard Webhooks) when the document "
                    "ends: completed, failed or cancelled. Its host must resolve to a public address (or one "
                    "in `WEBHOOK_ALLOWED_NETWORKS`); otherwise 422. Verify events with GET /webhooks/secret.")] = None,
    client_tag: Annotated[str | None, Form(
        max_length=256, description="A short string of yours, echoed back in the webhook event.")] = None,
    prefer: Annotated[str | None, Header(
        description="`wait=N` (RFC 7240): answer `200` with the result, as `GET /result` would, if the document "
                    "is completed within N seconds (at most `MAX_WAIT_S`); otherwise the usual `202`.")] = None,
):
    if file is not None and sha256 is not None:
        raise ApiError(422, "file_and_sha256", "Send either the file or its sha256, not both.")
    webhook = await _webhook_target(request, orchestrator, settings, tenant, callback_url, client_tag)
    if sha256 is not None:
        status, created = await orchestrator.accept_known(tenant, sha256.lower(), document_id, language, mode,
                                                          min_quality, pages, webhook)
    elif file is not None:
        upload = _receive(file, settings, request)
        try:
            status, created = await orchestrator.accept(tenant, upload, document_id, language, mode, min_quality,
                                                        pages, webhook)
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
        return await _json_result(orchestrator, status, words=False, headers=headers)
    return JSONResponse(body.model_dump(mode="json"), status_code=202, headers=headers)


async def _json_result(orchestrator: Orchestrator, status: StatusView, words: bool,
                       headers: dict[str, str] | None = None) -> Response:
    """The result as JSON: assembled in memory when short; streamed from the store page by page when long."""
    if orchestrator.streams_result(status):
        chunks = await orchestrator.result_stream(status, "json", words)
        return StreamingResponse(chunks, media_type="application/json", headers=headers)
    # The stored pages are already in the documented shape; JSONResponse skips a second validation.
    return JSONResponse(await orchestrator.result_json(status, words), headers=headers)


async def _webhook_target(request: Request, orchestrator: Orchestrator, settings: Settings, tenant: str,
                          callback_url: str | None, client_tag: str | None) -> WebhookTarget | None:
    """The upload's webhook (its own URL, else the tenant's default), checked against the SSRF guard."""
    callback_url = callback_url or await orchestrator.default_callback(tenant)
    if not callback_url:
        return None
    await orchestrator.check_callback(callback_url, settings.webhook_allowed_networks)
    base = settings.public_url or str(request.base_url)
    return WebhookTarget(url=callback_url, client_tag=client_tag, public_base_url=base.rstrip("/"))


@router.get("/webhooks/secret", response_model=WebhookSecretResponse, responses=_errors(503),
            tags=["webhooks"], summary="Your tenant's webhook signing secret, to verify the events you receive")
async def webhook_secret(orchestrator: OrchestratorDep, settings: SettingsDep, tenant: TenantDep):
    default = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    return JSONResponse({"secret": await orchestrator.webhook_secret(tenant, default)},
                        headers={"Cache-Control": "no-store"})


@router.get("/webhooks/default-callback", response_model=DefaultCallback, responses=_errors(503),
            tags=["webhooks"], summary="Your tenant's default callback URL")
async def get_default_callback(orchestrator: OrchestratorDep, tenant: TenantDep):
    return JSONResponse({"callback_url": await orchestrator.default_callback(tenant)})


@router.put("/webhooks/default-callback", response_model=DefaultCallback, responses=_errors(400, 422, 503),
            tags=["webhooks"], summary="Set (or, with null, clear) your tenant's default callback URL",
            description="Uploads that send no `callback_url` have their events POSTed here. The URL passes the "
                        "same SSRF guard as `callback_url` (a 422 naming it otherwise).")
async def put_default_callback(orchestrator: OrchestratorDep, settings: SettingsDep, tenant: TenantDep,
                               body: DefaultCallback):
    if body.callback_url:
        await orchestrator.check_callback(body.callback_url, settings.webhook_allowed_networks)
    await orchestrator.set_default_callback(tenant, body.callback_url or None)
    return JSONResponse({"callback_url": body.callback_url or None})


def _preferred_wait(prefer: str | None, limit_s: float) -> float:
    """Seconds from a `Prefer: wait=N` header, capped; 0 when absent or not understood (RFC 7240:
    a preference a server does not understand is ignored, not refused)."""
    match = re.search(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", prefer or "", re.IGNORECASE)
    return min(float(match.group(1)), limit_s) if match else 0.0


@router.get("/check-status/{document_id}", response_model=StatusResponse, responses=_errors(404, 503),
            name="check_status", summary="A document's status and progress")
async def check_status(orchestrator: OrchestratorDep, tenant: TenantDep, document_id: str):
    status = await orchestrator.get_status(tenant, document_id)
    return JSONResponse(status.to_json())  # already in StatusResponse's shape


@router.get(
    "/result/{document_id}", name="get_result", response_model=ResultResponse,
    responses={**_errors(404, 409, 503),
               202: {"model": StatusResponse, "description": "Not finished yet: the status body."},
               409: {"model": StatusResponse, "description": "The document failed: the status body with its error."},
               200: {"content": {"application/json": {}, "text/plain": {}, "text/html": {}, "application/pdf": {}},
                     "description": "The result in the format asked for."}},
    summary="A completed (or cancelled) document's text, per page, or as plain text, hOCR or a searchable PDF",
    description="A cancelled document answers with the pages read before it stopped.",
)
async def get_result(
    orchestrator: OrchestratorDep,
    tenant: TenantDep,
    document_id: str,
    format: Annotated[Literal["json", "text", "hocr", "pdf"], Query(
        description="`json` (default), `text` (text/plain), `hocr` (hOCR HTML), `pdf` (the original with "
                    "an invisible text layer: searchable and selectable).")] = "json",
    words: Annotated[bool, Query(
        description="JSON only: include each page's words with boxes and confidences.")] = False,
):
    status = await orchestrator.get_status(tenant, document_id)
    readable = {DocumentStatus.COMPLETED, DocumentStatus.CANCELLED}
    if (status.error or {}).get("code") == LOW_QUALITY:
        readable.add(DocumentStatus.FAILED)  # read, only not well enough: still readable
    if status.status == DocumentStatus.FAILED and status.status not in readable:
        return JSONResponse(status.to_json(), status_code=409)
    if status.status not in readable:
        return JSONResponse(status.to_json(), status_code=202, headers={"Retry-After": "2"})
    if format == "text":
        if orchestrator.streams_result(status):
            return StreamingResponse(await orchestrator.result_stream(status, "text"),
                                     media_type="text/plain; charset=utf-8")
        return PlainTextResponse(await orchestrator.result_text(status))
    if format in ("hocr", "pdf") and orchestrator.streams_result(status):  # sent while the child builds it
        headers = {"Content-Disposition": f'attachment; filename="{document_id}.pdf"'} if format == "pdf" else None
        return StreamingResponse(await orchestrator.output_stream(status, format), headers=headers,
                                 media_type="text/html; charset=utf-8" if format == "hocr" else "application/pdf")
    if format in ("hocr", "pdf"):  # built from the original in a sandboxed child, streamed from its file
        output = await orchestrator.render_output(status, format)
        cleanup = BackgroundTask(output.unlink, missing_ok=True)
        if format == "hocr":
            return FileResponse(output, media_type="text/html; charset=utf-8", background=cleanup)
        return FileResponse(output, media_type="application/pdf", filename=f"{document_id}.pdf", background=cleanup)
    return await _json_result(orchestrator, status, words)


@router.get(
    "/result/{document_id}/pages/{page_number}/image", name="get_page_image",
    response_class=Response,
    responses={**_errors(404, 409, 422, 503),
               202: {"model": StatusResponse, "description": "Not finished yet: the status body."},
               200: {"content": {"image/png": {}},
                     "description": "The page as displayed, at most 144 DPI and 2000 pixels on its longer side. "
                                    "Word boxes from `GET /result/{id}?words=true` scale onto it by the page's "
                                    "`width` and `height`."}},
    summary="A picture of one page of a completed document (PNG), to show beside its text",
)
async def get_page_image(orchestrator: OrchestratorDep, tenant: TenantDep, document_id: str,
                         page_number: Annotated[int, Path(ge=1)]):
    status = await orchestrator.get_status(tenant, document_id)
    if status.status == DocumentStatus.FAILED:
        return JSONResponse(status.to_json(), status_code=409)
    if status.status not in (DocumentStatus.COMPLETED, DocumentStatus.CANCELLED):
        return JSONResponse(status.to_json(), status_code=202, headers={"Retry-After": "2"})
    output = await orchestrator.render_page_image(status, page_number)  # in a sandboxed child
    return FileResponse(output, media_type="image/png", background=BackgroundTask(output.unlink, missing_ok=True),
                        headers={"Cache-Control": "private, max-age=3600"})


@router.get("/documents", response_model=DocumentList, responses=_errors(422, 503),
            summary="Your tenant's documents, newest first, a page at a time")
async def list_documents(
    orchestrator: OrchestratorDep,
    tenant: TenantDep,
    status: Annotated[DocumentStatus | None, Query(description="Only documents in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Documents per page.")] = 50,
    cursor: Annotated[str | None, Query(
        max_length=1024, description="`next_cursor` of the previous page; absent for the first.")] = None,
):
    views, next_cursor = await orchestrator.list_documents(tenant, status, limit, cursor)
    return JSONResponse({"documents": [view.to_json() for view in views], "next_cursor": next_cursor})


DocumentIdPath = Annotated[str, Path(description="The document's id (within your tenant).")]


@router.post(
    "/documents/{document_id}/cancel", response_model=StatusResponse, responses=_errors(404, 409, 503),
    summary="Stop a document: a queued one never starts, a processing one stops after the page in flight",
    description="The pages read so far stay readable through GET /result. Works from any instance: the "
                "worker holding the document stops at its next page. A completed or failed document is a 409.",
)
async def cancel_document(orchestrator: OrchestratorDep, tenant: TenantDep, document_id: DocumentIdPath):
    status = await orchestrator.cancel(tenant, document_id)
    if status.status != DocumentStatus.CANCELLED:
        raise ApiError(409, "already_finished", f"Document {document_id} is {status.status} already; "
                                                "only queued or processing documents can be cancelled.")
    return JSONResponse(status.to_json())


@router.delete(
    "/documents/{document_id}", status_code=204, responses=_errors(503),
    summary="Delete a document: its record, pages, uploaded bytes and cached results",
    description="A document still processing is cancelled first. Idempotent: deleting a document that is "
                "gone (or never was) answers 204 too; afterwards every call about it answers 404.",
)
async def delete_document(orchestrator: OrchestratorDep, tenant: TenantDep, document_id: DocumentIdPath):
    await orchestrator.delete(tenant, document_id)
    return Response(status_code=204)


@router.get("/languages", summary="Installed OCR languages, and those `language=auto` can detect")
def languages() -> dict:
    return {"languages": available_languages(), "auto": language_detection()}


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

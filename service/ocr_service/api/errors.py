"""Every error leaves the API as `{"error": {"code", "message"}}` with a 4xx/503, never a bare 500."""

from __future__ import annotations

import errno
import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain import Conflict, DocumentError, DocumentNotFound, InvalidCursor, StoreUnavailable, UnknownContent

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5
# A full disk or an exhausted quota: the service's own storage, never the caller's fault. Answered 507
# (WebDAV's Insufficient Storage: the request could not be stored) with Retry-After, as space usually
# comes back (uploads finish, retention runs, an operator grows the volume).
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(error: BaseException | None) -> bool:
    """ENOSPC/EDQUOT, or SQLite's "database or disk is full", anywhere in the exception's chain."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(error, sqlite3.Error) and getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return True
        error = error.__cause__ or error.__context__
    return False


DISK_FULL_MESSAGE = f"The service has no room to store the upload right now; retry in {RETRY_AFTER_S} s."


def insufficient_storage() -> JSONResponse:
    return error_response(507, "insufficient_storage", DISK_FULL_MESSAGE, {"Retry-After": str(RETRY_AFTER_S)})


class ApiError(Exception):
    def __init__(self, status_code: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status_code, self.code, self.message, self.headers = status_code, code, message, headers


def error_response(status_code: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status_code, headers=headers)


def _validation_message(error: RequestValidationError) -> tuple[str, str]:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path"))
        if item.get("type") == "missing" and where == "file":
            return "missing_file", "No file was sent: upload the document as multipart/form-data field `file`."
        problems.append(f"{where or 'request'}: {item.get('msg')}")
    return "invalid_request", "; ".join(problems) or "The request is not valid."


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError):
        return error_response(error.status_code, error.code, error.message, error.headers)

    @app.exception_handler(DocumentError)
    async def document_error(_: Request, error: DocumentError):
        return error_response(error.http_status, error.code, error.message)

    @app.exception_handler(Conflict)
    async def conflict(_: Request, error: Conflict):
        return error_response(409, "document_id_conflict", str(error))

    @app.exception_handler(UnknownContent)
    async def unknown_content(_: Request, error: UnknownContent):
        return error_response(404, "unknown_content", str(error))

    @app.exception_handler(DocumentNotFound)
    async def not_found(_: Request, error: DocumentNotFound):
        return error_response(404, "not_found", f"No document with id {error.document_id}.")

    @app.exception_handler(InvalidCursor)
    async def invalid_cursor(_: Request, error: InvalidCursor):
        return error_response(422, "invalid_cursor", str(error))

    @app.exception_handler(StoreUnavailable)
    async def unavailable(_: Request, error: StoreUnavailable):
        log.warning("dependency down: %s", error)
        return error_response(503, "unavailable", f"{error.dependency} is unavailable; retry shortly.",
                              {"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError):
        code, message = _validation_message(error)
        return error_response(422, code, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException):
        code = {400: "malformed_request", 404: "not_found", 405: "method_not_allowed", 408: "request_timeout",
                413: "too_large", 507: "insufficient_storage"}.get(error.status_code, "http_error")
        message = str(error.detail)
        if error.status_code == 400 and request.url.path == "/extract":
            message = f"{message.rstrip('.')}: send the document as multipart/form-data with a `file` field."
        elif error.status_code == 404 and message == "Not Found":
            message = f"There is no {request.url.path}; see /docs for the endpoints."
        elif error.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}; see /docs for the endpoints."
        return error_response(error.status_code, code, message, getattr(error, "headers", None))

    async def storage_error(request: Request, error: Exception):
        if is_disk_full(error):
            log.warning("disk full on %s %s: %s", request.method, request.url.path, type(error).__name__)
            return insufficient_storage()
        return await unexpected(request, error)

    # Handled here rather than by the catch-all, which re-raises after answering (a traceback per upload).
    app.add_exception_handler(OSError, storage_error)
    app.add_exception_handler(sqlite3.Error, storage_error)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception):
        # A bug of ours: the caller gets the JSON shape and nothing of the error's text (the log has it).
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=error)
        return error_response(500, "internal_error", "The service hit an unexpected error; it has been logged.")

"""What routes depend on: the orchestrator, the settings, the API-key check, and the upload request
that keeps small uploads in memory."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import Settings
from ..domain import StoreUnavailable, Unauthorized
from ..orchestrator import Orchestrator
from .errors import DISK_FULL_MESSAGE, RETRY_AFTER_S, is_disk_full

API_KEY_HEADER = "X-API-Key"
api_key_scheme = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, scheme_name="ApiKey",
    description="The API key, once one is configured. Health checks need none.")


def get_orchestrator(request: Request) -> Orchestrator:
    return request.app.state.orchestrator


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


OrchestratorDep = Annotated[Orchestrator, Depends(get_orchestrator)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


HEALTH_PATHS = ("/health", "/health/live", "/health/ready")


def get_tenant(request: Request, _key: Annotated[str | None, Security(api_key_scheme)]) -> str:
    """The caller's tenant, established by ApiKeyGate (the parameter declares the scheme in OpenAPI)."""
    return request.state.tenant


TenantDep = Annotated[str, Depends(get_tenant)]


class ApiKeyGate:
    """ASGI middleware: every path but the health checks and the open paths needs a valid key. It runs
    before routing, so to a caller without a key an unknown path or method answers 401 like any other:
    nothing tells which routes exist. The tenant goes into the request's state."""

    def __init__(self, app: ASGIApp, open_paths: list[str]):
        self.app = app
        self.open_paths = tuple(HEALTH_PATHS) + tuple(path.rstrip("/") for path in open_paths)

    def _open(self, path: str) -> bool:
        return any(path == open_path or path.startswith(open_path + "/") for open_path in self.open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._open(scope["path"]):
            return await self.app(scope, receive, send)
        presented = [value for name, value in scope["headers"] if name == b"x-api-key"]
        orchestrator: Orchestrator = scope["app"].state.orchestrator
        try:
            tenant = await orchestrator.authenticate(presented)
        except Unauthorized:
            return await _answer(send, 401, "unauthorized", f"Send a valid API key in the {API_KEY_HEADER} header.",
                                 [(b"www-authenticate", API_KEY_HEADER.encode())])
        except StoreUnavailable as error:
            return await _answer(send, 503, "unavailable", f"{error.dependency} is unavailable; retry shortly.",
                                 [(b"retry-after", str(RETRY_AFTER_S).encode())])
        scope.setdefault("state", {})["tenant"] = tenant
        await self.app(scope, receive, send)


async def _answer(send: Send, status: int, code: str, message: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


class UploadRequest(Request):
    """Parses multipart bodies keeping files up to UPLOAD_MEMORY_BYTES in memory. Starlette spools
    past 1 MiB and then hands every chunk to a thread; a typical scan is larger than that."""

    async def form(self, *, max_files: int | float = 1000, max_fields: int | float = 1000,
                   max_part_size: int = 1024 * 1024) -> FormData:
        if self._form is None and self.headers.get("content-type", "").startswith("multipart/form-data"):
            parser = MultiPartParser(self.headers, self.stream(), max_files=max_files, max_fields=max_fields,
                                     max_part_size=max_part_size)
            parser.spool_max_size = self.app.state.settings.upload_memory_bytes  # this parser only
            try:
                self._form = await parser.parse()
            except MultiPartException as error:
                raise HTTPException(400, error.message) from None
            except OSError as error:  # spooling to disk: FastAPI would call any other error a malformed body
                if is_disk_full(error):
                    raise HTTPException(507, DISK_FULL_MESSAGE, {"Retry-After": str(RETRY_AFTER_S)}) from None
                raise
        return await super().form(max_files=max_files, max_fields=max_fields, max_part_size=max_part_size)


class UploadRoute(APIRoute):
    """A route whose handler sees an UploadRequest."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def with_upload_request(request: Request):
            return await handler(UploadRequest(request.scope, request.receive))

        return with_upload_request

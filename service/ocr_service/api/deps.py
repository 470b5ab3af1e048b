"""What routes depend on: the orchestrator, the settings, the API-key check, and the upload request
that keeps small uploads in memory."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from ..config import Settings
from ..orchestrator import Orchestrator
from .errors import DISK_FULL_MESSAGE, RETRY_AFTER_S, ApiError, is_disk_full

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


async def require_api_key(settings: SettingsDep, key: Annotated[str | None, Security(api_key_scheme)]) -> None:
    """401 unless the request carries the configured key (compared in constant time, as bytes, so a
    key with characters outside ASCII is refused like any other wrong key)."""
    if settings.api_key is None:
        return
    expected = settings.api_key.get_secret_value().encode()
    if key is None or not secrets.compare_digest(key.encode("latin-1"), expected):  # the header's own bytes
        raise ApiError(401, "unauthorized", f"Send a valid API key in the {API_KEY_HEADER} header.",
                       {"WWW-Authenticate": API_KEY_HEADER})


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

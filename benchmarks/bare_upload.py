"""The floor of a re-upload: a bare Starlette app whose one endpoint receives a multipart upload, parses it
as the service does (in memory up to UPLOAD_MEMORY_BYTES) and hashes the file with SHA-256, then
answers its hash. Nothing else: no key check, no store, no middleware. Served by uvicorn with the
service's own settings (api/server.py `uvicorn_config`).

    python -m benchmarks.bare_upload PORT
"""

from __future__ import annotations

import hashlib
import sys

from starlette.applications import Starlette
from starlette.formparsers import MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

CHUNK = 1024 * 1024


def create_app(upload_memory_bytes: int) -> Starlette:
    async def upload(request: Request) -> JSONResponse:
        parser = MultiPartParser(request.headers, request.stream(), max_part_size=1024 * 1024)
        parser.spool_max_size = upload_memory_bytes  # as the service's UploadRequest
        form = await parser.parse()
        file = form["file"]
        digest = hashlib.sha256()
        while chunk := file.file.read(CHUNK):
            digest.update(chunk)
        await form.close()
        return JSONResponse({"sha256": digest.hexdigest()})

    return Starlette(routes=[Route("/upload", upload, methods=["POST"])])


def main(port: int) -> None:
    import uvicorn

    from ocr_service.api.server import uvicorn_config
    from ocr_service.config import Settings

    settings = Settings(host="127.0.0.1", port=port, log_level="warning")
    uvicorn.Server(uvicorn_config(create_app(settings.upload_memory_bytes), settings)).run()


if __name__ == "__main__":
    main(int(sys.argv[1]))

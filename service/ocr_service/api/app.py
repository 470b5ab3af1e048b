"""The FastAPI application factory."""

from __future__ import annotations

import contextlib
import logging
import secrets
import tempfile
from pathlib import Path

from fastapi import FastAPI, Request
from starlette.formparsers import MultiPartParser

from .. import __version__
from ..config import Settings
from ..runtime import Runtime, build_runtime
from .errors import error_response, install_error_handlers
from .limits import UploadSizeLimit
from .pages import install_pages, is_open_path
from .routes import router

DESCRIPTION = """Upload a PDF or an image, poll its status, fetch its text.

1. `POST /extract` with the file → `202` and a `document_id`.
2. `GET /check-status/{document_id}` until `status` is `completed` (or `failed`).
3. `GET /result/{document_id}` → text per page (`?format=text|hocr|pdf` for other forms).

Every error is `{"error": {"code", "message"}}`.
"""


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app. The runtime (stores, queue, workers) starts with the app and stops with it."""
    settings = settings or (runtime.settings if runtime else Settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        own_runtime = runtime is None
        app.state.runtime = runtime or build_runtime(settings)
        with tempfile.TemporaryDirectory(prefix="ocr-staging-") as staging:
            app.state.staging_dir = Path(staging)
            try:
                yield
            finally:
                if own_runtime:
                    app.state.runtime.close()

    app = FastAPI(title="OCR service", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # install_pages serves both without a CDN
    # Starlette spools an upload to disk past 1 MiB and then hands every chunk to a thread; a typical
    # scan is larger than that. Its parser takes the threshold from this class attribute only.
    MultiPartParser.spool_max_size = settings.upload_memory_bytes
    app.add_middleware(UploadSizeLimit, max_bytes=settings.max_upload_bytes)
    install_error_handlers(app)
    app.include_router(router)
    install_pages(app)

    if settings.api_key is not None:
        expected = settings.api_key.get_secret_value()

        @app.middleware("http")
        async def require_api_key(request: Request, call_next):
            open_paths = ("/health", "/openapi.json")
            path = request.url.path
            if path not in open_paths and not is_open_path(path) and not secrets.compare_digest(
                    request.headers.get("x-api-key", ""), expected):
                return error_response(401, "unauthorized", "Send the API key in the X-API-Key header.")
            return await call_next(request)

    logging.getLogger("ocr_service").setLevel(settings.log_level.upper())
    return app

"""The FastAPI application factory."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from pathlib import Path

from fastapi import FastAPI

from .. import __version__
from ..config import Settings
from ..runtime import Runtime, build_runtime
from .errors import RETRY_AFTER_S, install_error_handlers
from .limits import AdmissionLimit, BodyTimeout, ForwardedHeaders, UploadSizeLimit
from .routes import health_router, router, upload_router

DESCRIPTION = """Upload a PDF or an image, poll its status, fetch its text.

1. `POST /extract` with the file → `202` and a `document_id`.
2. `GET /check-status/{document_id}` until `status` is `completed` (or `failed`).
3. `GET /result/{document_id}` → text per page (`?format=text|hocr|pdf` for other forms).

Once an API key is configured, every call but the health checks sends it in the `X-API-Key` header
(the **Authorize** button here does that for "Try it out").
Every error is `{"error": {"code", "message"}}`.
"""


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """Build the app. The runtime (stores, queue, workers) starts with the app and stops with it."""
    settings = settings or (runtime.settings if runtime else Settings())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        active = runtime or build_runtime(settings)
        app.state.orchestrator = active.orchestrator
        with tempfile.TemporaryDirectory(prefix="ocr-staging-") as staging:
            app.state.staging_dir = Path(staging)
            try:
                yield
            finally:
                if runtime is None:
                    active.close()

    app = FastAPI(title="OCR service", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    # Outermost last: forwarded headers first (every answer's URLs), then the admission bounds, so a
    # refused upload costs neither a body read nor a size check.
    app.add_middleware(BodyTimeout, timeout_s=settings.body_timeout_s)
    app.add_middleware(UploadSizeLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(AdmissionLimit, max_uploads=settings.max_concurrent_uploads,
                       max_waiting=settings.max_waiting_requests, retry_after_s=RETRY_AFTER_S,
                       body_timeout_s=settings.body_timeout_s)
    app.add_middleware(ForwardedHeaders, trusted=settings.forwarded_allow_ips)
    install_error_handlers(app)
    for part in (upload_router, router, health_router):
        app.include_router(part)
    logging.getLogger("ocr_service").setLevel(settings.log_level.upper())
    return app

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
from .deps import ApiKeyGate
from .docs import docs_router, mount_static
from .errors import RETRY_AFTER_S, install_error_handlers
from .limits import AdmissionLimit, BodyTimeout, ForwardedHeaders, UploadSizeLimit
from .routes import health_router, router, upload_router
from .telemetry import RequestTelemetry, metrics_router

DESCRIPTION = """Upload a PDF or an image, poll its status, fetch its text.

1. `POST /extract` with the file → `202` and a `document_id`.
2. `GET /check-status/{document_id}` until `status` is `completed` (or `failed`).
3. `GET /result/{document_id}` → text per page (`?format=text|hocr|pdf` for other forms).

**Tenants and keys.** Each API key belongs to a tenant (`ocr-service keys create --tenant NAME`; the
`API_KEY` setting is the key of the `default` tenant). Once any key exists, every call but the health
checks sends one in the `X-API-Key` header (the **Authorize** button here does that for "Try it out").
Everything is scoped to the key's tenant: another tenant's document, hash or cached result answers
exactly as one that does not exist, and identical uploads share a computation only within a tenant.

**Lifecycle.** `GET /documents` lists your documents; `POST /documents/{id}/cancel` stops one;
`DELETE /documents/{id}` removes it with its bytes. A finished document is deleted `RETENTION_S`
after it finished (7 days unless configured; `expires_at` in its status says when).

Every error is `{"error": {"code", "message"}}`.
"""


def create_app(settings: Settings | None = None, runtime: Runtime | None = None,
               close_runtime: bool = False) -> FastAPI:
    """Build the app. The runtime (stores, queue, workers) starts with the app and stops with it; a
    runtime given is closed with the app when close_runtime says so."""
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
                if runtime is None or close_runtime:
                    active.close()

    # The docs routes are the app's own (docs.py), so the API-key gate treats them like any other path.
    app = FastAPI(title="OCR service", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    # Outermost last: telemetry, forwarded headers (every answer's URLs), the API key, then the admission
    # bounds, so a refused upload costs neither a body read nor a size check.
    app.add_middleware(BodyTimeout, timeout_s=settings.body_timeout_s)
    app.add_middleware(UploadSizeLimit, max_bytes=settings.max_upload_bytes)
    app.add_middleware(AdmissionLimit, max_uploads=settings.max_concurrent_uploads,
                       max_waiting=settings.max_waiting_requests, retry_after_s=RETRY_AFTER_S,
                       body_timeout_s=settings.body_timeout_s)
    app.add_middleware(ApiKeyGate, open_paths=settings.open_paths)  # no key, no further (nor counted)
    app.add_middleware(ForwardedHeaders, trusted=settings.forwarded_allow_ips)
    app.add_middleware(RequestTelemetry)  # outermost: refused requests are logged and timed too
    install_error_handlers(app)
    for part in (upload_router, router, health_router, docs_router, metrics_router):
        app.include_router(part)
    mount_static(app)
    logging.getLogger("ocr_service").setLevel(settings.log_level.upper())
    return app

"""The pages people open in a browser: the web page at /ui and the API docs at /docs and /redoc.

Everything they load comes from this service, so they work on machines without internet access:
the web page is plain files in `ui/`, and Swagger UI and ReDoc come from the assets that the
`fastapi-offline` package ships. A Content-Security-Policy on the docs pages keeps the browser from
reaching anywhere else (ReDoc's sidebar would otherwise fetch its logo from a CDN).
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

UI_DIR = Path(__file__).parent / "ui"
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS = "/docs-assets"
OPEN_PATHS = ("/docs", "/redoc", "/ui")  # hold no data: anyone may load them (the page asks for the key)
OPEN_PREFIXES = ("/ui/", DOCS_ASSETS + "/")
# Swagger UI starts from an inline script and both inject styles; ReDoc searches in a blob: worker.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'self'")


def is_open_path(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def install_pages(app: FastAPI) -> None:
    """Mount /ui and the offline /docs and /redoc. The app must be built with docs_url=None and
    redoc_url=None, so that FastAPI's own CDN-backed pages are not registered."""
    app.mount("/ui", StaticFiles(directory=UI_DIR, html=True), name="ui")
    app.mount(DOCS_ASSETS, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")

    def _secure(page: HTMLResponse) -> HTMLResponse:
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _secure(get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None}))  # the online validator badge would call out

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _secure(get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png", with_google_fonts=False))

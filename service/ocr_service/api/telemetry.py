"""Per request: a request id, one log line, one latency sample, and GET /metrics."""

from __future__ import annotations

import time

import structlog
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..domain import StoreUnavailable
from ..logs import get_logger, request_id_from
from ..metrics import HTTP_REQUEST_SECONDS, exposition
from .deps import OrchestratorDep, get_tenant
from .models import ErrorResponse

REQUEST_ID_HEADER = "X-Request-ID"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
log = get_logger("ocr_service.access")
metrics_router = APIRouter(tags=["operations"], dependencies=[Depends(get_tenant)],
                           responses={401: {"model": ErrorResponse}})


def route_of(scope: Scope) -> str:
    """The route template that served the request ("/result/{document_id}"), never the raw path: ids
    would make every request a series of its own. "unmatched" for paths no route serves (or refused
    before routing)."""
    route = scope.get("route")
    if isinstance(route, Mount):
        return route.path + "/{path}"
    return getattr(route, "path", None) or "unmatched"


class RequestTelemetry:
    """ASGI middleware, outermost: binds the request id (from X-Request-ID when it is short and safe, else
    generated) for every log line written while the request is served, returns it in the answer's
    X-Request-ID header, and writes one line and one latency sample per request."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        header = next((value for name, value in scope["headers"] if name == b"x-request-id"), b"")
        request_id = request_id_from(header.decode("latin-1"))
        status = 500  # what the client sees if the app fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (REQUEST_ID_HEADER.lower().encode(), request_id.encode())]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                seconds = time.perf_counter() - started
                route = route_of(scope)
                method = scope["method"] if scope["method"] in METHODS else "other"  # a client's invention
                HTTP_REQUEST_SECONDS.labels(route=route, method=method, status=str(status)).observe(seconds)
                log.info("request", method=method, route=route, status=status,
                         duration_ms=round(seconds * 1000, 1), tenant=scope.get("state", {}).get("tenant"))


@metrics_router.get(
    "/metrics", response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition format."}},
    summary="Prometheus metrics of this instance's processes, and the queue's depth and oldest document's age",
    description="Documents by final status (`ocr_documents_finished_total`), pages (`ocr_pages_total`), seconds "
                "per page (`ocr_page_seconds`), queue depth and the oldest queued document's age (all tenants), "
                "request latency by route, method and status, webhook deliveries by outcome. Needs the API key.",
)
async def metrics(orchestrator: OrchestratorDep) -> Response:
    try:
        stats = await orchestrator.queue_stats()
    except StoreUnavailable:
        stats = None  # the queue gauges are left out rather than reported as an empty queue
    body, content_type = exposition(stats)
    return Response(body, media_type=content_type)

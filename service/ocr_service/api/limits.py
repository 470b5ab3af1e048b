"""ASGI middleware against hostile or unlucky clients: oversized uploads refused while they stream in,
uploads and waits bounded, stalled bodies timed out, and forwarded headers trusted only from proxies."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Multipart framing (boundaries, part headers, the small form fields) on top of the file itself.
MULTIPART_OVERHEAD = 64 * 1024


class UploadSizeLimit:
    """ASGI middleware: a declared Content-Length over the limit is answered 413 at once; a body
    that grows past it while streaming (chunked, or a lying header) stops the upload with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int, paths: tuple[str, ...] = ("/extract",)):
        self.app, self.max_bytes, self.paths = app, max_bytes, paths

    def _message(self) -> str:
        return f"The upload is larger than the limit of {self.max_bytes // (1024 * 1024)} MiB ({self.max_bytes} bytes)."

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            return await self.app(scope, receive, send)
        allowed = self.max_bytes + MULTIPART_OVERHEAD
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > allowed:
            body = json.dumps({"error": {"code": "too_large", "message": self._message()}}).encode()
            await send({"type": "http.response.start", "status": 413,
                        "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return

        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > allowed:
                    # Raised inside the form parser; FastAPI lets HTTPException through as is.
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, counting_receive, send)


# A refused request's body is read and dropped up to this much: closing a connection with unread bytes
# makes the kernel send a reset, and a client still sending sees that instead of the answer.
DRAIN_BYTES = 1024 * 1024


async def _drain(receive: Receive, pause_s: float) -> bool:
    """Read and drop a small request body; False when it is larger than that or pauses longer than
    `pause_s` (then the connection closes)."""
    received = 0
    while True:
        try:
            message = await asyncio.wait_for(receive(), pause_s)
        except TimeoutError:
            return False
        if message["type"] != "http.request":
            return False
        received += len(message.get("body", b""))
        if not message.get("more_body", False):
            return True
        if received > DRAIN_BYTES:
            return False


async def _refuse(receive: Receive, send: Send, status: int, code: str, message: str, retry_after_s: int,
                  pause_s: float) -> None:
    """Answer without waiting for anything but a small body; a large one is not read (the connection closes)."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"retry-after", str(retry_after_s).encode()),
               (b"content-length", str(len(body)).encode())]
    if not await _drain(receive, pause_s):
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# The same reading of RFC 7240's `wait` preference as the upload route's.
PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*\"?(\d+(?:\.\d+)?)\"?", re.IGNORECASE)


def _asks_to_wait(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"prefer" and (match := PREFER_WAIT.search(value.decode("latin-1"))):
            return float(match.group(1)) > 0
    return False


class AdmissionLimit:
    """ASGI middleware bounding the uploads in flight, and among them those that wait for their result
    (`Prefer: wait`, each holding its connection up to MAX_WAIT_S). Past a bound the answer is 503 with
    Retry-After at once, without waiting for a slot nor reading a large body: a stalled socket helps no
    one, and every other call (status, results, health) is never counted, so it stays answered under any
    upload load."""

    def __init__(self, app: ASGIApp, max_uploads: int, max_waiting: int, retry_after_s: int = 5,
                 body_timeout_s: float = 30, paths: tuple[str, ...] = ("/extract",)):
        self.app, self.max_uploads, self.max_waiting, self.paths = app, max_uploads, max_waiting, paths
        self.retry_after_s, self.body_timeout_s = retry_after_s, body_timeout_s
        self.uploads = self.waiting = 0  # one event loop: plain counters need no lock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            return await self.app(scope, receive, send)
        waits = _asks_to_wait(scope)
        if self.uploads >= self.max_uploads:
            return await self._refuse(receive, send, f"The service is receiving {self.max_uploads} uploads already; "
                                                     f"retry in {self.retry_after_s} s.")
        if waits and self.waiting >= self.max_waiting:
            return await self._refuse(receive, send, f"{self.max_waiting} uploads are waiting for their results "
                                                     f"already; retry in {self.retry_after_s} s, or upload without "
                                                     "`Prefer: wait` and poll the status.")
        self.uploads += 1
        self.waiting += waits
        try:
            await self.app(scope, receive, send)
        finally:
            self.uploads -= 1
            self.waiting -= waits

    async def _refuse(self, receive: Receive, send: Send, message: str) -> None:
        await _refuse(receive, send, 503, "busy", message, self.retry_after_s, self.body_timeout_s)


class BodyTimeout:
    """ASGI middleware: a request body that pauses longer than `timeout_s` between two parts ends the
    request with 408 (uvicorn has no body timeout; a client trickling an upload would hold its
    connection, its memory and its upload slot for as long as it likes)."""

    def __init__(self, app: ASGIApp, timeout_s: float):
        self.app, self.timeout_s = app, timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:  # after the body, receive() waits for a disconnect: no limit on that
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                body_done = True
                # Raised inside the body parser; FastAPI lets HTTPException through as is.
                raise HTTPException(408, f"The request body stalled for more than {self.timeout_s:g} s; "
                                         "send it again without pauses.", {"Connection": "close"}) from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed_receive, send)


class TrustedProxies:
    """Which peers may speak for a client through X-Forwarded-* headers: IPs and CIDRs, or `*`."""

    def __init__(self, spec: str):
        items = [item.strip() for item in spec.split(",") if item.strip()]
        self.everyone = "*" in items
        self.networks = [ipaddress.ip_network(item, strict=False) for item in items if item != "*"]

    def __contains__(self, host: str | None) -> bool:
        if self.everyone:
            return True
        try:
            address = ipaddress.ip_address(host or "")
        except ValueError:
            return False
        return any(address in network for network in self.networks)


_HOST = re.compile(r"^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


class ForwardedHeaders:
    """ASGI middleware: from a trusted proxy (FORWARDED_ALLOW_IPS), the scheme, client address and host
    the client used, as X-Forwarded-Proto/-For/-Host carry them, so the URLs the API returns (status_url,
    result_url, Location) are the ones the client can follow. From any other peer the headers are
    ignored. Proto and For are uvicorn's own middleware; it does not read X-Forwarded-Host (the load
    balancer keeps the Host header; a proxy that rewrites it sends X-Forwarded-Host instead)."""

    def __init__(self, app: ASGIApp, trusted: str):
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        self.app, self.trusted = app, TrustedProxies(trusted)
        self.proxy_headers = ProxyHeadersMiddleware(app, trusted_hosts=trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        peer = scope.get("client")
        if peer and peer[0] in self.trusted:
            forwarded = [value for name, value in scope["headers"] if name == b"x-forwarded-host"]
            # The value of the proxy nearest to us, the one we trust; a malformed one is ignored.
            host = forwarded[-1].decode("latin-1").split(",")[-1].strip() if forwarded else ""
            if _HOST.match(host):
                headers = [(name, value) for name, value in scope["headers"] if name != b"host"]
                scope = {**scope, "headers": [(b"host", host.encode("latin-1")), *headers]}
            return await self.proxy_headers(scope, receive, send)
        await self.app(scope, receive, send)

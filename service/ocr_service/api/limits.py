"""Refuse oversized uploads while they stream in, before they are read whole."""

from __future__ import annotations

import json

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

"""How uvicorn serves the app behind a load balancer, and against slow clients."""

from __future__ import annotations

import asyncio

import h11
from fastapi import FastAPI
from uvicorn import Config
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..config import Settings

# Request line and headers together; h11's own default is 16 KiB. Past it: 400 and the connection closed.
MAX_HEADER_BYTES = 64 * 1024


class HeaderTimeoutProtocol(H11Protocol):
    """h11 with a deadline on request headers. uvicorn times out only idle keep-alive connections, so a
    client that connects and sends half a request line (slowloris) would hold its socket, and a slot of
    `limit_concurrency`, for good. Here the headers must be complete within `header_timeout_s` of the
    connection or of their first byte; a keep-alive connection idle between requests keeps uvicorn's own
    (longer) timeout."""

    header_timeout_s = 10.0  # set per server by a subclass (see uvicorn_config)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_deadline: asyncio.TimerHandle | None = None
        self._arm_header_deadline()

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_header_deadline()  # part of a request line or headers, not all of it yet
        else:
            self._disarm_header_deadline()

    def on_response_complete(self) -> None:
        self._disarm_header_deadline()  # idle between requests: the keep-alive timeout applies
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and (self.cycle is None or self.cycle.response_complete) \
                and not self.transport.is_closing():
            self.transport.close()


def uvicorn_config(app: FastAPI, settings: Settings) -> Config:
    protocol = type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": settings.header_timeout_s})
    return Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level, http=protocol,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        # X-Forwarded-* are read by the app's ForwardedHeaders (it also takes X-Forwarded-Host); uvicorn's
        # own reading would rewrite the client address before the app could check who sent them.
        proxy_headers=False,
        # Longer than the load balancer's idle timeout (60 s on an ALB): the balancer closes first, and
        # never sends a request down a connection the service is closing (sporadic 502s).
        timeout_keep_alive=settings.timeout_keep_alive_s,
        limit_concurrency=settings.limit_concurrency,
        timeout_graceful_shutdown=10,
        # Logging is the service's own (JSON lines, one per request written by the app).
        log_config=None, access_log=False,
    )

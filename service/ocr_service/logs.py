"""Log lines: one JSON object per line on stdout (LOG_FORMAT=json) or readable lines (console).

The service's own `logging` calls, uvicorn's and the libraries' all go through structlog's renderer, so
every line has the same shape. Context bound with `structlog.contextvars` (the request id, the tenant,
the document id) lands on every line written while it is bound, whichever logger writes it. Secrets the
settings hold (API key, MongoDB URI, Redis password) are blanked from every line as a last line of
defence; nothing logs them on purpose.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

import structlog
from structlog.contextvars import get_contextvars
from structlog.types import EventDict, Processor

# What an X-Request-ID from a client may look like; anything else is replaced by a generated id, so a
# client cannot forge log lines or blow up log fields with it.
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
REDACTED = "[redacted]"


def request_id_from(header: str | None) -> str:
    """The client's request id when it is short and safe, else a new one."""
    if header and REQUEST_ID_PATTERN.match(header):
        return header
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The request id bound for the request being served in this context, if any."""
    return get_contextvars().get("request_id")


def secrets_of(settings: Any) -> list[str]:
    """The secret values in the settings, and the parts of a URI that are secret on their own."""
    values: list[str] = []
    for name in ("api_key", "mongo_connection_string", "redis_password"):
        secret = getattr(settings, name, None)
        if secret is not None:
            values.append(secret.get_secret_value())
    uri = getattr(settings, "mongo_connection_string", None)
    if uri is not None:
        try:
            password = urlsplit(uri.get_secret_value()).password
        except ValueError:
            password = None
        if password:
            values += [password, unquote(password)]
    # Longest first, so a URI is blanked whole before its password is; very short values would blank noise.
    return sorted({value for value in values if len(value) >= 4}, key=len, reverse=True)


class Redact:
    """Blanks the given secret strings out of every string value of a log event."""

    def __init__(self, secrets: Iterable[str]):
        self.secrets = list(secrets)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.secrets:
                if secret in value:
                    value = value.replace(secret, REDACTED)
        return value

    def __call__(self, logger: Any, method: str, event: EventDict) -> EventDict:
        if self.secrets:
            for name, value in event.items():
                event[name] = self._clean(value)
        return event


def configure(level: str = "info", format: str = "json", secrets: Iterable[str] = ()) -> None:
    """Route every log record of this process (the service's, uvicorn's, the libraries') to stdout through
    structlog, as JSON lines or console lines."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor = (structlog.processors.JSONRenderer() if format == "json"
                           else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # A traceback becomes one string field (inside its JSON line), blanked of secrets like the rest.
            structlog.processors.format_exc_info,
            Redact(secrets),
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.error").setLevel(level.upper())  # "started", "shutting down"
    logging.getLogger("uvicorn.access").disabled = True  # the service writes its own line per request
    # httpx logs every request URL at info level: webhook URLs may carry their receivers' tokens
    logging.getLogger("httpx").setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)

"""The one Redis connection of a process, shared by the result cache and the job queue."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import redis


@dataclass(frozen=True)
class RedisConfig:
    host: str
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    tls_ca_file: Path | None = None


def connect(config: RedisConfig) -> redis.Redis:
    """A pooled client; it connects on first use, so the service starts while Redis is still down."""
    tls = {"ssl": True, "ssl_ca_certs": str(config.tls_ca_file) if config.tls_ca_file else None} if config.tls else {}
    return redis.Redis(host=config.host, port=config.port, db=config.db, username=config.username,
                       password=config.password, socket_timeout=5, socket_connect_timeout=3,
                       health_check_interval=30, **tls)

"""Production cache on Redis, shared by every instance. Losing it (a restart) costs only speed."""

from __future__ import annotations

import logging

import redis

from ..config import Settings
from .base import Cache

log = logging.getLogger(__name__)


def redis_client(settings: Settings) -> redis.Redis:
    password = settings.redis_password.get_secret_value() if settings.redis_password else None
    return redis.Redis(host=settings.redis_host, port=settings.redis_port, db=settings.redis_db,
                       password=password, ssl=settings.redis_tls, socket_timeout=5, socket_connect_timeout=3,
                       health_check_interval=30)


class RedisCache(Cache):
    prefix = "ocr:cache:"

    def __init__(self, settings: Settings):
        self.client = redis_client(settings)

    def get(self, key: str) -> bytes | None:
        try:
            return self.client.get(self.prefix + key)
        except redis.RedisError as error:  # a cache miss, not an outage
            log.warning("cache read failed: %s", error)
            return None

    def set(self, key: str, value: bytes, ttl_s: int) -> None:
        try:
            self.client.set(self.prefix + key, value, ex=ttl_s)
        except redis.RedisError as error:
            log.warning("cache write failed: %s", error)

    def ping(self) -> None:
        self.client.ping()

    def close(self) -> None:
        self.client.close()

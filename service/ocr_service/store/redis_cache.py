"""Production cache on Redis, shared by every instance. Losing it (a restart) costs only speed."""

from __future__ import annotations

import logging

import redis

from .base import Cache

log = logging.getLogger(__name__)


class RedisCache(Cache):
    prefix = "ocr:cache:"

    def __init__(self, client: redis.Redis):
        self.client = client

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

    def delete(self, *keys: str) -> None:
        try:
            if keys:
                self.client.delete(*(self.prefix + key for key in keys))
        except redis.RedisError as error:  # it expires with its TTL in any case
            log.warning("cache delete failed: %s", error)

    def ping(self) -> None:
        self.client.ping()

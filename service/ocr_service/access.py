"""Who may call: API keys, each of one tenant, stored as hashes; the API_KEY setting as the default
tenant's key; keyless calls only while no key exists at all (and, in production, only when
ALLOW_ANONYMOUS says so)."""

from __future__ import annotations

import hashlib
import re
import secrets
import time

from .domain import DEFAULT_TENANT, TENANT_PATTERN, ApiKey, Unauthorized
from .store.base import DocumentStore

KEY_PREFIX = "ocr_"
_NO_KEYS_CHECK_S = 1.0  # how long "no key exists" is believed before the store is asked again


def _digest(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()


class Access:
    def __init__(self, store: DocumentStore, api_key: str | None, keyless_allowed: bool):
        """keyless_allowed: whether calls without a key are served while no key exists."""
        self.store, self.keyless_allowed = store, keyless_allowed
        self._api_key = api_key.encode() if api_key else None
        self._keyless_until = 0.0

    def tenant_of(self, presented: list[bytes]) -> str:
        """The tenant of the key presented (the X-API-Key header's raw values). Raises Unauthorized for
        no key (once one exists), an unknown, revoked or malformed key, or more than one."""
        if not presented:
            if self._keyless():
                return DEFAULT_TENANT
            raise Unauthorized("missing")
        if len(presented) != 1:
            raise Unauthorized("ambiguous")
        key = presented[0]
        if self._api_key is not None and secrets.compare_digest(key, self._api_key):
            return DEFAULT_TENANT
        digest = _digest(key)
        found = self.store.find_key(digest)
        # The lookup is by a hash of the key, so its time says nothing about the key's characters.
        if found is None or found.revoked_at is not None or not secrets.compare_digest(found.key_sha256, digest):
            raise Unauthorized("invalid")
        return found.tenant

    def _keyless(self) -> bool:
        if not self.keyless_allowed or self._api_key is not None:
            return False
        now = time.monotonic()
        if now < self._keyless_until:
            return True
        if self.store.has_keys():
            return False
        self._keyless_until = now + _NO_KEYS_CHECK_S
        return True

    def has_any_key(self) -> bool:
        return self._api_key is not None or self.store.has_keys()

    # -- key management (the CLI) --------------------------------------------------------------------
    def create_key(self, tenant: str) -> tuple[ApiKey, str]:
        """A new key for the tenant: the stored record, and the key itself (shown once, never stored)."""
        if not re.match(TENANT_PATTERN, tenant):
            raise ValueError("a tenant name is 1-63 of a-z, 0-9, '_' and '-', starting with a letter or digit")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(key_id=secrets.token_hex(6), tenant=tenant, key_sha256=_digest(secret.encode()))
        self.store.add_key(record)
        return record, secret

"""Webhooks: when a document ends (completed, failed, cancelled) its callback URL receives a small JSON
event, signed as Standard Webhooks do, delivered at least once with exponential backoff.

The delivery state lives in the store, not in the queue: every worker process runs a `Dispatcher` that
claims due deliveries under a lease, so an event survives the worker that was sending it and a Redis
restart. Callback URLs are checked against the SSRF guard when they are accepted and again before each
attempt (a name may resolve elsewhere by then); redirects are never followed.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook

from ..domain import DEFAULT_TENANT, DocumentError, DocumentRecord, DocumentStatus, WebhookDelivery
from ..metrics import WEBHOOK_DELIVERIES
from ..store.base import DocumentStore

log = logging.getLogger(__name__)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_ERROR_CHARS = 200


# -- the SSRF guard ------------------------------------------------------------------------------------
def _refuse(message: str) -> DocumentError:
    return DocumentError("invalid_callback_url", f"callback_url: {message}")


def check_callback_url(url: str, allowed: Iterable[Network]) -> None:
    """Refuse (DocumentError, 422) a callback URL that is not http(s) or whose host resolves to an address
    that is not public (loopback, link-local, private, reserved…), unless `allowed` names it. Resolves the
    name (blocking: call it in a thread)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse("must be an http or https URL with a host.")
    if parts.username or parts.password:
        raise _refuse("must not carry credentials.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)}
    except (OSError, ValueError, UnicodeError):
        raise _refuse("its host name does not resolve.") from None
    allowed = list(allowed)
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        if not address.is_global and not any(address in network for network in allowed):
            raise _refuse("its host resolves to an address that is not public (loopback, link-local or private "
                          "ranges need WEBHOOK_ALLOWED_NETWORKS).")


# -- secrets -------------------------------------------------------------------------------------------
def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def secret_for(store: DocumentStore, tenant: str, default_secret: str | None) -> str:
    """The tenant's signing secret: the WEBHOOK_SECRET setting for the default tenant when set, else the one
    kept in the store (made on first need)."""
    if tenant == DEFAULT_TENANT and default_secret:
        return default_secret
    return store.webhook_secret(tenant, new_secret())


# -- events --------------------------------------------------------------------------------------------
def _event(record: DocumentRecord, source: DocumentRecord) -> WebhookDelivery:
    status = DocumentStatus.CANCELLED if record.status is DocumentStatus.CANCELLED else source.status
    base = (record.public_base_url or "").rstrip("/")
    payload = {
        "type": f"document.{status}",
        "document_id": record.document_id,
        "status": str(status),
        "pages_total": source.pages_total,
        "pages_done": source.pages_done,
        "client_tag": record.client_tag,
        "result_url": f"{base}/result/{record.document_id}",
        "error": source.error,
        "timestamp": datetime.now(UTC).isoformat(),
    }
    now = time.time()
    return WebhookDelivery(key=record.key, tenant=record.tenant, url=record.callback_url or "",
                           payload=json.dumps(payload), message_id=f"msg_{uuid.uuid4().hex}", created_at=now,
                           next_attempt_at=now)


def document_ended(store: DocumentStore, key: str) -> None:
    """Queue the "ended" event of the document `key` and of the documents that take their result from it,
    for those that have a callback URL. Never raises: a store outage here is logged (the document's own
    outcome is recorded already)."""
    try:
        record = store.get(key)
        if record is None:
            return
        for follower_key in store.followers(key) if record.result_of is None else []:
            follower = store.get(follower_key)
            if follower is not None and follower.callback_url and not follower.deleted:
                store.add_delivery(_event(follower, record))
        if record.callback_url and not record.deleted:
            source = store.get(record.result_of) if record.result_of else record
            store.add_delivery(_event(record, source or record))
    except Exception as error:
        log.warning("could not queue the webhook event of %s: %s", key, type(error).__name__)


def delivery_state(store: DocumentStore, record: DocumentRecord) -> dict | None:
    """The status answer's `webhook` member: None without a callback URL; pending until the event is sent."""
    if not record.callback_url:
        return None
    delivery = store.get_delivery(record.key)
    return delivery.state() if delivery else {"status": "pending", "attempts": 0}


# -- delivery ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WebhookConfig:
    allowed_networks: tuple[Network, ...] = ()
    default_secret: str | None = None
    max_age_s: float = 86400
    retry_first_s: float = 1
    retry_max_s: float = 3600
    timeout_s: float = 10
    poll_interval_s: float = 1
    batch: int = 20

    @property
    def lease_s(self) -> float:
        # Longer than one attempt can take (resolve + connect + answer), so a live sender keeps its claim.
        return self.timeout_s * 3 + 5


class Dispatcher:
    """A background thread in every worker process: claims due deliveries and POSTs them."""

    def __init__(self, store: DocumentStore, config: WebhookConfig):
        self.store, self.config = store, config
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = httpx.Client(timeout=config.timeout_s, follow_redirects=False, trust_env=False,
                                    headers={"user-agent": "ocr-service-webhooks"})

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="webhook-dispatcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.config.poll_interval_s):
            try:
                self.deliver_due()
            except Exception as error:  # the store is down: try again next round
                log.warning("webhook delivery: %s", type(error).__name__)

    def deliver_due(self) -> int:
        """Attempt every due delivery once; returns how many were attempted."""
        due = self.store.claim_deliveries(self.owner, self.config.lease_s, time.time(), self.config.batch)
        for delivery in due:
            if self._stop.is_set():
                break
            self._attempt(delivery)
        return len(due)

    def _attempt(self, delivery: WebhookDelivery) -> None:
        delivery.attempts += 1
        error = self._post(delivery)
        if error is None:
            delivery.status, delivery.last_error = "delivered", None
            log.info("webhook for %s delivered (attempt %d)", delivery.key, delivery.attempts)
        else:
            delay = min(self.config.retry_first_s * 2 ** (delivery.attempts - 1), self.config.retry_max_s)
            delivery.last_error = error[:MAX_ERROR_CHARS]
            delivery.next_attempt_at = time.time() + delay
            if delivery.next_attempt_at - delivery.created_at > self.config.max_age_s:
                delivery.status = "failed"
                log.warning("webhook for %s given up after %d attempts: %s", delivery.key, delivery.attempts, error)
            else:
                log.info("webhook for %s: attempt %d failed (%s); next in %.1f s", delivery.key,
                         delivery.attempts, error, delay)
        WEBHOOK_DELIVERIES.labels(outcome="delivered" if error is None else
                                  "given_up" if delivery.status == "failed" else "retrying").inc()
        if not self.store.save_delivery(delivery, self.owner):
            log.warning("webhook for %s: the lease ran out before the outcome was recorded", delivery.key)

    def _post(self, delivery: WebhookDelivery) -> str | None:
        """One attempt; the error as a short sentence (never the receiver's body), or None on a 2xx."""
        try:
            check_callback_url(delivery.url, self.config.allowed_networks)
        except DocumentError as refused:
            return refused.message
        try:
            secret = secret_for(self.store, delivery.tenant, self.config.default_secret)
            signer = Webhook(secret)
            now = datetime.now(UTC)
            headers = {"content-type": "application/json", "webhook-id": delivery.message_id,
                       "webhook-timestamp": str(int(now.timestamp())),
                       "webhook-signature": signer.sign(delivery.message_id, now, delivery.payload)}
            answer = self._client.post(delivery.url, content=delivery.payload.encode(), headers=headers)
        except httpx.HTTPError as error:
            return f"request failed: {type(error).__name__}"
        if 200 <= answer.status_code < 300:
            return None
        if 300 <= answer.status_code < 400:
            return f"HTTP {answer.status_code}: redirects are not followed"
        return f"HTTP {answer.status_code}"

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.config.timeout_s + 5)
        self._client.close()

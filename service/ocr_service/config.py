"""Settings from the environment (the seed's variable names), with safe embedded defaults."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Backend(StrEnum):
    EMBEDDED = "embedded"  # SQLite + files, in-process queue and cache: needs nothing else installed
    PRODUCTION = "production"  # MongoDB (records, pages, bytes) + Redis (queue, cache): many instances


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Settings(BaseSettings):
    """Every field is read from the environment variable of the same name, upper-cased."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # HTTP
    host: str = Field("127.0.0.1", description="Address the HTTP server binds to (0.0.0.0 for every interface).")
    port: int = Field(8000, ge=1, le=65535, description="Port the HTTP server listens on.")
    api_key: SecretStr | None = Field(
        None, description="The default tenant's API key (more keys, per tenant: `ocr-service keys create`).")
    allow_anonymous: bool = Field(
        False, description="Production backend: start, and serve calls without a key, while no API key exists.")
    open_paths: list[str] = Field(
        ["/docs", "/redoc", "/openapi.json", "/ui", "/docs-assets"],
        description="Paths served without an API key besides the health checks (a path opens what is under it).")
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="Comma-separated IPs and CIDRs of proxies (the load balancer's subnets) whose "
                                 "X-Forwarded-Proto/-For/-Host are trusted for the URLs the API returns; `*` "
                                 "trusts every peer.")
    timeout_keep_alive_s: float = Field(
        75, gt=0, description="How long an idle client connection is kept open (longer than the load balancer's "
                              "idle timeout, so it never reuses a connection the service is closing).")
    header_timeout_s: float = Field(
        10, gt=0, description="A client must send a request's headers within this long after connecting (or "
                              "after starting them); slower connections are closed.")
    body_timeout_s: float = Field(
        30, gt=0, description="Longest pause between two parts of a request body; a stalled upload gets 408.")
    limit_concurrency: int = Field(
        1000, ge=1, description="Connections and requests served at once; past it the server answers 503 at once "
                                "(a backstop above the upload and wait limits).")
    max_concurrent_uploads: int = Field(
        32, ge=1, description="Uploads (POST /extract) in flight at once, waiting ones included; past it 503 with "
                              "Retry-After at once.")
    max_waiting_requests: int = Field(
        16, ge=1, description="Uploads with `Prefer: wait` in flight at once (each holds its connection up to "
                              "MAX_WAIT_S); past it 503 with Retry-After at once.")

    backend: Backend | None = Field(
        None, description="`embedded` or `production` (MongoDB and Redis, both required). Unset: production "
                          "when MONGO_CONNECTION_STRING or REDIS_HOST is set, else embedded.")

    # Embedded backend
    data_dir: Path = Field(Path("data"), description="Embedded backend: where documents and uploads live.")

    # Production backend
    mongo_connection_string: SecretStr | None = Field(None, description="MongoDB URI (production backend).")
    mongo_db_name: str = Field("ocr", description="MongoDB database name.")
    mongo_collection_name: str = Field("documents", description="MongoDB collection for documents.")
    mongo_timeout_ms: int = Field(3000, ge=100, description="MongoDB server selection timeout.")
    redis_host: str | None = Field(None, description="Redis host (production backend: job queue and cache).")
    redis_port: int = Field(6379, ge=1, le=65535, description="Redis port.")
    redis_username: str | None = Field(None, description="Redis ACL user (AUTH with a user name).")
    redis_password: SecretStr | None = Field(None, description="Redis password (AUTH).")
    redis_tls: bool = Field(False, description="Connect to Redis over TLS.")
    redis_tls_ca_file: Path | None = Field(None, description="CA certificate that signed Redis's TLS certificate.")
    redis_db: int = Field(0, ge=0, description="Redis database number.")

    # Work
    ocr_workers: int = Field(default_factory=_cores, ge=1, description="OCR processes (one per core).")
    split_pages: bool = Field(True, description="A page cut into bands read at once by OCR processes no other "
                                                "page needs (one page sent alone comes back sooner).")
    run_workers: bool = Field(True, description="Production backend: `serve` also runs a queue worker.")
    concurrent_documents: int = Field(2, ge=1, description="Documents one worker processes at once.")
    job_timeout_s: float = Field(6 * 3600, gt=0, description="A document taking longer ends failed.")
    job_max_retries: int = Field(3, ge=0, description="Retries of a document after a transient error.")
    lease_s: float = Field(
        10, gt=0, description="A worker's claim on a document, renewed every third of it while it works; once it "
                              "runs out (the worker died), another worker resumes the document at its next page.")
    reconcile_interval_s: float = Field(
        2, gt=0, description="Redis queue: how often each worker looks for documents whose lease ran out and "
                             "queues them again.")
    requeue_lost_interval_s: float = Field(
        30, gt=0, description="Redis queue: how often each worker queues again the documents still waiting whose "
                              "message is gone (Redis restarted empty).")
    queue_heartbeat_timeout_s: float = Field(
        60, gt=0, description="Redis queue: a worker silent this long is dead and its unacknowledged messages are "
                              "delivered again (a duplicate of a document already resumed is ignored).")
    queue_maintenance_chance: int = Field(
        1000, ge=0, le=1_000_000,
        description="Redis queue: chance per million commands of re-queueing dead workers' messages.")

    # Limits
    max_upload_bytes: int = Field(100 * 1024 * 1024, ge=1, description="Largest accepted upload.")
    max_wait_s: float = Field(
        30, ge=0, description="Longest `Prefer: wait` an upload may ask for (keep it below the load balancer's "
                              "idle timeout).")
    upload_memory_bytes: int = Field(
        8 * 1024 * 1024, ge=0,
        description="Uploads up to this size are received in memory; larger ones are spooled to disk.")
    max_pages: int = Field(2000, ge=1, description="Most pages a document may have.")
    max_page_pixels: int = Field(200_000_000, ge=1, description="Largest rendered page, in pixels.")
    page_timeout_s: float = Field(120, gt=0, description="Longest OCR of a single page.")
    max_image_pixels: int = Field(
        200_000_000, ge=1, description="Largest image inside a document (a PDF's image, an image file's frame), "
                                       "in pixels; checked from its header before it is decoded.")
    max_frames: int = Field(2000, ge=1, description="Most frames a multi-frame image (TIFF) may have.")
    child_memory_bytes: int = Field(
        4 * 1024**3, ge=0, description="Address-space cap (RLIMIT_AS) of each process that parses, OCRs or renders "
                                       "an uploaded document; 0 leaves it uncapped.")
    render_timeout_s: float = Field(
        120, gt=0, description="Longest build of a searchable PDF or hOCR output, plus a second per page.")
    result_cache_ttl_s: int = Field(600, ge=0, description="How long a completed result stays cached.")
    retention_s: float = Field(
        7 * 24 * 3600, ge=0, description="A finished document and its bytes are deleted this long after (0: kept).")
    retention_sweep_interval_s: float = Field(60, gt=0, description="How often expired documents are deleted.")

    # Webhooks
    public_url: str | None = Field(
        None, description="The service's public base URL, for the result_url in webhook events (unset: the URL "
                          "each upload came in on).")
    webhook_secret: SecretStr | None = Field(
        None, description="The default tenant's webhook signing secret (`whsec_` + base64); unset: generated "
                          "and kept in the store, like every other tenant's.")
    webhook_allowed_networks: list[IPvAnyNetwork] = Field(
        [], description="JSON list of CIDRs that callback URLs may resolve to besides public addresses, e.g. "
                        "`[\"10.0.0.0/8\"]` (loopback, link-local and private ranges are refused otherwise).")
    webhook_max_age_s: float = Field(
        86400, gt=0, description="A webhook event not delivered this long after its document ended is given up.")
    webhook_retry_first_s: float = Field(1, gt=0, description="Wait before a webhook's first retry; doubles after.")
    webhook_retry_max_s: float = Field(3600, gt=0, description="Longest wait between two webhook attempts.")
    webhook_timeout_s: float = Field(10, gt=0, description="Timeout of one webhook POST.")
    webhook_poll_interval_s: float = Field(
        1, gt=0, description="How often each worker looks for webhook events that are due.")

    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log verbosity.")
    log_format: Literal["json", "console"] = Field(
        "json", description="`json`: one JSON object per log line (for log shippers); `console`: readable lines.")

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _ips_and_networks(cls, value: str) -> str:
        import ipaddress

        for item in (part.strip() for part in value.split(",")):
            if item and item != "*":
                ipaddress.ip_network(item, strict=False)  # a ValueError names the bad entry
        return value

    @model_validator(mode="after")
    def _explicit_backend(self) -> Settings:
        """Keep deployments that only set the seed's variables working, and refuse half a production
        set-up (MongoDB without Redis or the reverse) instead of silently mixing backends."""
        if self.backend is None:
            configured = self.mongo_connection_string is not None or bool(self.redis_host)
            self.backend = Backend.PRODUCTION if configured else Backend.EMBEDDED
        if self.backend is Backend.PRODUCTION:
            missing = [name for name, value in (("MONGO_CONNECTION_STRING", self.mongo_connection_string),
                                                ("REDIS_HOST", self.redis_host)) if not value]
            if missing:
                raise ValueError(f"the production backend needs MongoDB and Redis: set {' and '.join(missing)} "
                                 "(or BACKEND=embedded to run on SQLite and files)")
        return self

"""Production queue: Dramatiq on Redis.

Why Dramatiq: it acknowledges a message only after the actor returns (at-least-once), re-delivers
the messages of a worker that stopped heart-beating, retries with exponential backoff, and runs as
a library inside our own worker process, so each worker keeps its OCR process pool warm. RQ forks
per job (the engines would reload every time) and Celery is far more machinery than this needs.

On top of it, a reconciler makes MongoDB the source of truth: documents it still shows unfinished
whose message is gone (Redis restarted empty) or whose worker died are queued again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker

from ..domain import DocumentStatus, utcnow
from ..store.base import DocumentStore
from .base import JobQueue, QueueConfig
from .runner import DocumentRunner, RetryLater

log = logging.getLogger(__name__)
QUEUE_NAME = "ocr-documents"


class RedisQueue(JobQueue):
    name = "redis-queue"
    marker_prefix = "ocr:queued:"  # present while a document's message waits in Redis

    def __init__(self, client: redis.Redis, config: QueueConfig, store: DocumentStore,
                 make_runner: Callable[[], DocumentRunner]):
        self.client, self.config, self.store, self.make_runner = client, config, store, make_runner
        self.broker = RedisBroker(
            client=self.client, namespace="ocr-dramatiq",
            heartbeat_timeout=int(config.heartbeat_timeout_s * 1000),
            maintenance_chance=config.maintenance_chance,
        )
        self.runner: DocumentRunner | None = None
        self.actor = dramatiq.actor(
            self._process, broker=self.broker, actor_name="process_document", queue_name=QUEUE_NAME,
            max_retries=config.max_retries, min_backoff=1_000, max_backoff=60_000,
            retry_when=lambda retries, error: isinstance(error, RetryLater) and retries < config.max_retries,
            # The runner enforces the job timeout between pages; Dramatiq's limit is only a backstop.
            time_limit=int((config.job_timeout_s + 600) * 1000),
        )
        self._worker: dramatiq.Worker | None = None
        self._stop = threading.Event()
        self._reconciler: threading.Thread | None = None

    def enqueue(self, document_id: str) -> None:
        # The marker goes first (a quick worker deletes it when done) and expires, so a send that fails
        # or a message dead-lettered later never leaves a document looking queued for good.
        marker = self.marker_prefix + document_id
        self.client.set(marker, 1, ex=self.config.marker_ttl_s)
        try:
            self.actor.send(document_id)
        except BaseException:
            self.client.delete(marker)
            raise

    def _process(self, document_id: str) -> None:
        self.runner.run(document_id)  # type: ignore[union-attr]  # set by start_workers
        self.client.delete(self.marker_prefix + document_id)

    # -- worker side -------------------------------------------------------------------------------
    def start_workers(self) -> None:
        self.runner = self.make_runner()
        self._worker = dramatiq.Worker(self.broker, worker_threads=self.config.concurrency,
                                       worker_timeout=100)  # ms between fetches while busy
        # Take only as many messages as there are threads: the rest stay for other workers.
        self._worker.queue_prefetch = self.config.concurrency
        self._worker.start()
        self._reconciler = threading.Thread(target=self._reconcile_forever, name="reconciler", daemon=True)
        self._reconciler.start()

    def reconcile(self) -> list[str]:
        """Queue again what MongoDB shows unfinished and stale, when its message is gone (queued
        with no marker: Redis lost it) or its worker is gone (processing with an expired lease)."""
        now = utcnow()
        requeued = []
        for record in self.store.unfinished(stale_before=now - timedelta(seconds=2 * self.config.lease_s)):
            marker = self.marker_prefix + record.key
            lost = record.status == DocumentStatus.QUEUED and not self.client.exists(marker)
            expired = record.lease_until is None or record.lease_until < now
            orphaned = record.status == DocumentStatus.PROCESSING and expired
            if lost or orphaned:
                log.info("reconciler: re-queueing %s document %s", record.status, record.key)
                self.enqueue(record.key)
                requeued.append(record.key)
        return requeued

    def _reconcile_forever(self) -> None:
        while not self._stop.wait(self.config.reconcile_interval_s):
            try:
                self.reconcile()
            except Exception as error:  # Redis or MongoDB down: try again next round
                log.warning("reconciler: %s", error)

    def ping(self) -> None:
        self.client.ping()

    def close(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.stop(timeout=10_000)
        self.broker.close()

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
from dramatiq.brokers.redis import RedisBroker

from ..config import Settings
from ..store.base import PROCESSING, QUEUED, DocumentStore, utcnow
from ..store.redis_cache import redis_client
from .base import JobQueue
from .runner import DocumentRunner, RetryLater

log = logging.getLogger(__name__)
QUEUE_NAME = "ocr-documents"


class RedisQueue(JobQueue):
    name = "redis-queue"
    marker_prefix = "ocr:queued:"  # present while a document's message waits in Redis

    def __init__(self, settings: Settings, store: DocumentStore, make_runner: Callable[[], DocumentRunner]):
        self.settings, self.store, self.make_runner = settings, store, make_runner
        self.client = redis_client(settings)
        self.broker = RedisBroker(
            client=self.client, namespace="ocr-dramatiq",
            heartbeat_timeout=int(settings.queue_heartbeat_timeout_s * 1000),
            maintenance_chance=settings.queue_maintenance_chance,
        )
        self.runner: DocumentRunner | None = None
        self.actor = dramatiq.actor(
            self._process, broker=self.broker, actor_name="process_document", queue_name=QUEUE_NAME,
            max_retries=settings.job_max_retries, min_backoff=1_000, max_backoff=60_000,
            retry_when=lambda retries, error: isinstance(error, RetryLater) and retries < settings.job_max_retries,
            # The runner enforces the job timeout between pages; Dramatiq's limit is only a backstop.
            time_limit=int((settings.job_timeout_s + 600) * 1000),
        )
        self._worker: dramatiq.Worker | None = None
        self._stop = threading.Event()
        self._reconciler: threading.Thread | None = None

    def enqueue(self, document_id: str) -> None:
        self.client.set(self.marker_prefix + document_id, 1)
        self.actor.send(document_id)

    def _process(self, document_id: str) -> None:
        self.runner.run(document_id)  # type: ignore[union-attr]  # set by start_workers
        self.client.delete(self.marker_prefix + document_id)

    # -- worker side -------------------------------------------------------------------------------
    def start_workers(self) -> None:
        self.runner = self.make_runner()
        self._worker = dramatiq.Worker(self.broker, worker_threads=self.settings.concurrent_documents,
                                       worker_timeout=100)  # ms between fetches while busy
        # Take only as many messages as there are threads: the rest stay for other workers.
        self._worker.queue_prefetch = self.settings.concurrent_documents
        self._worker.start()
        self._reconciler = threading.Thread(target=self._reconcile_forever, name="reconciler", daemon=True)
        self._reconciler.start()

    def reconcile(self) -> list[str]:
        """Queue again what MongoDB shows unfinished and stale, when its message is gone (queued
        with no marker: Redis lost it) or its worker is gone (processing with an expired lease)."""
        now = utcnow()
        requeued = []
        for record in self.store.unfinished(stale_before=now - timedelta(seconds=2 * self.settings.lease_s)):
            lost = record.status == QUEUED and not self.client.exists(self.marker_prefix + record.document_id)
            orphaned = record.status == PROCESSING and (record.lease_until is None or record.lease_until < now)
            if lost or orphaned:
                log.info("reconciler: re-queueing %s document %s", record.status, record.document_id)
                self.enqueue(record.document_id)
                requeued.append(record.document_id)
        return requeued

    def _reconcile_forever(self) -> None:
        while not self._stop.wait(self.settings.reconcile_interval_s):
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

"""Production queue: Dramatiq on Redis.

Why Dramatiq: it acknowledges a message only after the actor returns (at-least-once), re-delivers
the messages of a worker that stopped heart-beating, retries with exponential backoff, and runs as
a library inside our own worker process, so each worker keeps its OCR process pool warm. RQ forks
per job (the engines would reload every time) and Celery is far more machinery than this needs.

On top of it, a reconciler makes MongoDB the source of truth. Every few seconds it gives back the
documents whose lease ran out (their worker died) and queues them again, so a surviving worker resumes
them at their next page; Dramatiq's own re-delivery of the dead worker's message comes much later and
finds the document held or finished. Less often it queues again the documents still waiting whose
message is gone (Redis restarted empty).
"""

from __future__ import annotations

import logging
import threading
import time
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

    def reconcile(self, lost: bool = True) -> list[str]:
        """Queue again the documents MongoDB shows unfinished whose worker is gone (processing with an
        expired lease) and, with `lost`, those whose message is gone (queued, stale, with no marker)."""
        now = utcnow()
        requeued = []
        # A live worker writes its lease every third of it, so an expired lease is among the documents not
        # written for half a lease: a short range of the (status, updated_at) index, empty when all is well.
        stale = now - timedelta(seconds=self.config.lease_s / 2)
        for record in self.store.unfinished(stale_before=stale, status=DocumentStatus.PROCESSING):
            if record.lease_until is not None and record.lease_until >= now:
                continue  # a live worker that is merely slow to write
            # Back to queued first: only one worker's reconciler wins this, so only one message is sent,
            # and from then on the document is an ordinary queued one.
            if record.lease_owner is None or self.store.release(record.key, record.lease_owner):
                log.info("reconciler: the lease on %s ran out; queueing it again", record.key)
                self.enqueue(record.key)
                requeued.append(record.key)
        if lost:
            stale = now - timedelta(seconds=2 * self.config.lease_s)
            for record in self.store.unfinished(stale_before=stale, status=DocumentStatus.QUEUED):
                if not self.client.exists(self.marker_prefix + record.key):
                    log.info("reconciler: the message of %s is gone; queueing it again", record.key)
                    self.enqueue(record.key)
                    requeued.append(record.key)
        return requeued

    def _reconcile_forever(self) -> None:
        lost_due = time.monotonic() + self.config.requeue_lost_interval_s
        while not self._stop.wait(self.config.reconcile_interval_s):
            lost = time.monotonic() >= lost_due
            try:
                self.reconcile(lost=lost)
            except Exception as error:  # Redis or MongoDB down: try again next round
                log.warning("reconciler: %s", error)
                continue
            if lost:
                lost_due = time.monotonic() + self.config.requeue_lost_interval_s

    def ping(self) -> None:
        self.client.ping()

    def close(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.stop(timeout=10_000)
        self.broker.close()

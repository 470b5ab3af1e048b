"""The job queue interface: the API enqueues document ids, workers run them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass


@dataclass(frozen=True)
class QueueConfig:
    concurrency: int = 2  # documents one worker processes at once
    max_retries: int = 3
    job_timeout_s: float = 6 * 3600
    lease_s: float = 10.0
    reconcile_interval_s: float = 2.0  # expired leases: a cheap indexed query
    requeue_lost_interval_s: float = 30.0  # lost messages: reads every waiting document
    heartbeat_timeout_s: float = 60.0
    maintenance_chance: int = 1000  # per million commands: re-queue dead workers' messages
    # A queued marker outlives its message by at most this long (a dead-lettered or lost send), after
    # which the reconciler queues the document again.
    marker_ttl_s: int = 3600


class JobQueue(ABC):
    name: str

    @abstractmethod
    def enqueue(self, document_id: str) -> None:
        """Deliver the document to a worker at least once."""

    def start_workers(self) -> None:
        """Start consuming in this process (embedded mode, or `serve` with its own workers)."""

    def ping(self) -> None:
        """Raise when the queue's backend does not answer."""

    def close(self) -> None:
        pass

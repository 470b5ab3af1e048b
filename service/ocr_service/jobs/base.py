"""The job queue interface: the API enqueues document ids, workers run them."""

from __future__ import annotations

from abc import ABC, abstractmethod


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

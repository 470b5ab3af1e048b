"""Retention: a background thread in every worker deletes documents whose time has run out."""

from __future__ import annotations

import logging
import threading

from ..domain import utcnow
from ..store.base import Cache, DocumentStore
from ..store.lifecycle import sweep_expired

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, store: DocumentStore, cache: Cache, interval_s: float):
        self.store, self.cache, self.interval_s = store, cache, interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="retention-sweeper", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                while sweep_expired(self.store, self.cache, utcnow()):  # until a batch comes back empty
                    if self._stop.is_set():
                        return
            except Exception as error:  # the store is down: try again next round
                log.warning("retention sweep: %s", error)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

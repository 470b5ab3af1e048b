"""Wires the store, cache, queue and workers that the settings select (embedded or production)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import Settings
from .jobs.base import JobQueue
from .jobs.pool import Inspector, PagePool, Renderer
from .jobs.runner import DocumentRunner, RunnerConfig
from .orchestrator import Orchestrator
from .pipeline import Limits
from .store.base import Cache, DocumentStore, StoreUnavailable

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    store: DocumentStore
    cache: Cache
    queue: JobQueue
    orchestrator: Orchestrator
    mode: str
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def quick_reads(self) -> bool:
        """Whether status and result reads can run on the API's event loop (see DocumentStore)."""
        return self.store.quick_reads and self.cache.quick_reads

    def health(self) -> dict[str, str]:
        """Each dependency's state: "ok", or why it failed."""
        checks = {}
        for name, ping in (("store", self.store.ping), ("cache", self.cache.ping), ("queue", self.queue.ping)):
            try:
                ping()
                checks[name] = "ok"
            except Exception as error:  # the health endpoint reports, it does not raise
                checks[name] = f"error: {error}"
        return checks

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception:
                log.exception("error while shutting down")


def limits_from(settings: Settings) -> Limits:
    return Limits(max_pages=settings.max_pages, max_page_pixels=settings.max_page_pixels,
                  page_timeout_s=settings.page_timeout_s, max_image_pixels=settings.max_image_pixels,
                  max_frames=settings.max_frames)


def build_runtime(settings: Settings, run_workers: bool | None = None) -> Runtime:
    """Build the components; start workers in this process when asked (or by the settings)."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # inherited by the OCR processes
    limits = limits_from(settings)
    closers: list[Callable[[], None]] = []

    if settings.production:
        from .store.mongo import MongoStore

        store: DocumentStore = MongoStore(settings)
        mode = "production"
        try:
            store.ping()  # creates the indexes; if MongoDB is down, the service starts and answers 503
        except StoreUnavailable as error:
            log.warning("MongoDB is not reachable yet: %s", error)
    else:
        from .store.local import LocalStore

        store = LocalStore(settings.data_dir)
        mode = "embedded"
    closers.append(store.close)

    if settings.uses_redis:
        from .store.redis_cache import RedisCache

        cache: Cache = RedisCache(settings)
    else:
        from .store.local import MemoryCache

        cache = MemoryCache()
    closers.append(cache.close)

    def make_runner() -> DocumentRunner:
        pool = PagePool(settings.ocr_workers, settings.child_memory_bytes)
        closers.append(pool.shutdown)
        config = RunnerConfig(limits=limits, lease_s=settings.lease_s, job_timeout_s=settings.job_timeout_s,
                              max_retries=settings.job_max_retries, page_timeout_s=settings.page_timeout_s)
        # Embedded: one process owns the store, so it may take back its own leases after a restart.
        return DocumentRunner(store, pool, config, owner="embedded" if mode == "embedded" else None)

    if settings.production and settings.uses_redis:
        from .jobs.redis_queue import RedisQueue

        queue: JobQueue = RedisQueue(settings, store, make_runner)
    else:
        from .jobs.local import LocalQueue

        queue = LocalQueue(store, make_runner, settings.concurrent_documents)
    closers.append(queue.close)

    inspector = Inspector(limits, memory_bytes=settings.child_memory_bytes)
    closers.append(inspector.shutdown)
    renderer = Renderer(limits, timeout_s=settings.render_timeout_s, memory_bytes=settings.child_memory_bytes)
    closers.append(renderer.shutdown)
    orchestrator = Orchestrator(store, queue, cache, inspector, settings.result_cache_ttl_s, renderer)
    runtime = Runtime(settings, store, cache, queue, orchestrator, mode, closers)
    if settings.run_workers if run_workers is None else run_workers:
        queue.start_workers()
    return runtime

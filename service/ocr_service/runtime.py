"""Wires the store, cache, queue and workers of the configured backend: one row per backend."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field

from .access import Access
from .config import Backend, Settings
from .domain import StoreUnavailable
from .jobs.base import JobQueue, QueueConfig
from .jobs.pool import Inspector, PagePool, Renderer
from .jobs.runner import DocumentRunner, RunnerConfig
from .jobs.sweeper import Sweeper
from .jobs.webhooks import Dispatcher, WebhookConfig
from .orchestrator import Orchestrator
from .pipeline import Limits
from .store.base import Cache, DocumentStore

log = logging.getLogger(__name__)

RunnerFactory = Callable[[], DocumentRunner]


@dataclass
class Components:
    store: DocumentStore
    cache: Cache
    queue: JobQueue
    closers: list[Callable[[], None]]  # store and connections, in the order made; closed in reverse
    reads_on_loop: bool = False  # in-process stores whose reads never wait on a network or a writer


def _embedded(settings: Settings, make_runner: Callable[[DocumentStore], RunnerFactory]) -> Components:
    from .jobs.local import LocalQueue
    from .store.local import LocalStore, MemoryCache

    store = LocalStore(settings.data_dir)
    queue = LocalQueue(queue_config(settings), store, make_runner(store))
    return Components(store, MemoryCache(), queue, [store.close], reads_on_loop=True)


def _mongo_store(settings: Settings):
    from .store.mongo import MongoConfig, MongoStore

    assert settings.mongo_connection_string is not None  # checked by Settings
    return MongoStore(MongoConfig(
        uri=settings.mongo_connection_string.get_secret_value(), db_name=settings.mongo_db_name,
        collection=settings.mongo_collection_name, timeout_ms=settings.mongo_timeout_ms))


def open_store(settings: Settings) -> DocumentStore:
    """The backend's store alone (key management needs nothing else)."""
    if settings.backend is Backend.PRODUCTION:
        return _mongo_store(settings)
    from .store.local import LocalStore

    return LocalStore(settings.data_dir)


def _production(settings: Settings, make_runner: Callable[[DocumentStore], RunnerFactory]) -> Components:
    from .jobs.redis_queue import RedisQueue
    from .redis_client import RedisConfig, connect
    from .store.redis_cache import RedisCache

    assert settings.redis_host  # checked by Settings
    store = _mongo_store(settings)
    try:
        store.ping()  # creates the indexes; if MongoDB is down, the service starts and answers 503
    except StoreUnavailable as error:
        log.warning("MongoDB is not reachable yet: %s", error)
    redis = connect(RedisConfig(
        host=settings.redis_host, port=settings.redis_port, db=settings.redis_db, username=settings.redis_username,
        password=settings.redis_password.get_secret_value() if settings.redis_password else None,
        tls=settings.redis_tls, tls_ca_file=settings.redis_tls_ca_file))
    queue = RedisQueue(redis, queue_config(settings), store, make_runner(store))
    return Components(store, RedisCache(redis), queue, [store.close, redis.close])


BACKENDS: dict[Backend, Callable[[Settings, Callable[[DocumentStore], RunnerFactory]], Components]] = {
    Backend.EMBEDDED: _embedded,
    Backend.PRODUCTION: _production,
}


def queue_config(settings: Settings) -> QueueConfig:
    return QueueConfig(
        concurrency=settings.concurrent_documents, max_retries=settings.job_max_retries,
        job_timeout_s=settings.job_timeout_s, lease_s=settings.lease_s,
        reconcile_interval_s=settings.reconcile_interval_s, requeue_lost_interval_s=settings.requeue_lost_interval_s,
        heartbeat_timeout_s=settings.queue_heartbeat_timeout_s,
        maintenance_chance=settings.queue_maintenance_chance)


def webhook_config(settings: Settings) -> WebhookConfig:
    return WebhookConfig(
        allowed_networks=tuple(settings.webhook_allowed_networks),
        default_secret=settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
        max_age_s=settings.webhook_max_age_s, retry_first_s=settings.webhook_retry_first_s,
        retry_max_s=settings.webhook_retry_max_s, timeout_s=settings.webhook_timeout_s,
        poll_interval_s=settings.webhook_poll_interval_s)


def limits_from(settings: Settings) -> Limits:
    return Limits(max_pages=settings.max_pages, max_page_pixels=settings.max_page_pixels,
                  page_timeout_s=settings.page_timeout_s, max_image_pixels=settings.max_image_pixels,
                  max_frames=settings.max_frames)


@dataclass
class Runtime:
    settings: Settings
    store: DocumentStore
    cache: Cache
    queue: JobQueue
    orchestrator: Orchestrator
    _closers: list[Callable[[], None]] = field(default_factory=list)

    @property
    def backend(self) -> Backend:
        assert self.settings.backend is not None  # chosen when the settings are read
        return self.settings.backend

    def close(self) -> None:
        """Close everything, last made first; a second call does nothing."""
        while self._closers:
            close = self._closers.pop()
            try:
                close()
            except Exception:
                log.exception("error while shutting down")


def build_runtime(settings: Settings, run_workers: bool | None = None) -> Runtime:
    """Build the backend's components; start workers in this process when asked (or by the settings)."""
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # inherited by the OCR processes
    limits = limits_from(settings)
    pools: list[PagePool] = []

    def make_runner(store: DocumentStore) -> RunnerFactory:
        def runner() -> DocumentRunner:  # made when workers start: only they need OCR processes
            pool = PagePool(settings.ocr_workers, settings.child_memory_bytes, split_pages=settings.split_pages)
            pools.append(pool)
            config = RunnerConfig(limits=limits, lease_s=settings.lease_s, job_timeout_s=settings.job_timeout_s,
                                  max_retries=settings.job_max_retries, page_timeout_s=settings.page_timeout_s,
                                  retention_s=settings.retention_s)
            # Embedded: one process owns the store, so it may take back its own leases after a restart.
            owner = "embedded" if settings.backend is Backend.EMBEDDED else None
            return DocumentRunner(store, pool, config, owner=owner)

        return runner

    components = BACKENDS[settings.backend](settings, make_runner)  # type: ignore[index]
    access = access_for(settings, components.store)
    inspector = Inspector(limits, memory_bytes=settings.child_memory_bytes)
    renderer = Renderer(limits, timeout_s=settings.render_timeout_s, memory_bytes=settings.child_memory_bytes)
    orchestrator = Orchestrator(components.store, components.queue, components.cache, inspector, access,
                                settings.result_cache_ttl_s, settings.retention_s, render=renderer,
                                reads_on_loop=components.reads_on_loop)
    # Closed in reverse: the renderer and inspector, the queue (its workers finish their page), the OCR
    # pools, then the connections and the store.
    closers = [*components.closers, lambda: [pool.shutdown() for pool in pools], components.queue.close,
               inspector.shutdown, renderer.shutdown]
    runtime = Runtime(settings, components.store, components.cache, components.queue, orchestrator, closers)
    if settings.run_workers if run_workers is None else run_workers:
        components.queue.start_workers()
        dispatcher = Dispatcher(components.store, webhook_config(settings))
        dispatcher.start()
        runtime._closers.append(dispatcher.close)
        if settings.retention_s:
            sweeper = Sweeper(components.store, components.cache, settings.retention_sweep_interval_s)
            sweeper.start()
            runtime._closers.append(sweeper.close)
    return runtime


class NoApiKey(Exception):
    """The production backend would serve without any API key."""


def access_for(settings: Settings, store: DocumentStore) -> Access:
    """Embedded: keyless until a key exists (`make run`). Production: a key is needed from the start,
    unless ALLOW_ANONYMOUS says otherwise."""
    keyless = settings.backend is Backend.EMBEDDED or settings.allow_anonymous
    access = Access(store, settings.api_key.get_secret_value() if settings.api_key else None, keyless)
    if not keyless:
        try:
            if not access.has_any_key():
                raise NoApiKey("the production backend needs an API key: set API_KEY or create one with "
                               "`ocr-service keys create --tenant NAME` (or ALLOW_ANONYMOUS=true for a trial)")
        except StoreUnavailable:
            log.warning("MongoDB is not reachable: API keys are checked on each call")
    return access

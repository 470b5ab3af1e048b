"""The service's Prometheus metrics. Their names are a contract: dashboards, the CloudWatch agent and the
alarms read them.

Several processes record them (the API, the queue workers, the OCR processes), so prometheus-client runs
in multiprocess mode: each process writes its samples to files in PROMETHEUS_MULTIPROC_DIR and the
process answering GET /metrics adds them up. `metrics_dir.ensure_multiprocess_dir` must run before this
module is first imported (prometheus-client chooses its mode on import).
The queue gauges are not recorded by anybody: they are read from the store when /metrics is scraped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import REGISTRY as _DEFAULT_REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from .metrics_dir import MULTIPROC_VARIABLE

DOCUMENTS_FINISHED = Counter(
    "ocr_documents_finished", "Documents that reached a final status, by status.", ["status"])
PAGES = Counter("ocr_pages", "Pages processed (OCR or text layer); pages per second is its rate.")
PAGE_SECONDS = Histogram(
    "ocr_page_seconds", "Seconds to process one page in an OCR process.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, float("inf")))
HTTP_REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds", "HTTP request latency, by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, float("inf")))
# Recorded by the webhook sender; outcome is e.g. "delivered", "failed" (will retry), "gave_up".
WEBHOOK_DELIVERIES = Counter("ocr_webhook_deliveries", "Webhook delivery attempts, by outcome.", ["outcome"])

QueueStats = Callable[[], tuple[int, datetime | None]]


def measured_page(process: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """process(*args), timed and counted. Runs in the OCR process, which records its own samples."""
    started = time.perf_counter()
    page = process(*args)
    PAGE_SECONDS.observe(time.perf_counter() - started)
    PAGES.inc()
    return page


class _QueueCollector:
    """The queue gauges, read from the store at scrape time (every instance sees the same queue)."""

    def __init__(self, stats: tuple[int, datetime | None]):
        self.stats = stats

    def collect(self) -> Iterable[GaugeMetricFamily]:
        count, oldest = self.stats
        yield GaugeMetricFamily("ocr_queue_depth", "Documents queued and waiting for a worker (all tenants).",
                                value=count)
        age = max(0.0, time.time() - oldest.timestamp()) if oldest is not None else 0.0
        yield GaugeMetricFamily("ocr_queue_oldest_age_seconds",
                                "Age of the oldest queued document, in seconds (0 when none waits).", value=age)


def exposition(queue_stats: tuple[int, datetime | None] | None) -> tuple[bytes, str]:
    """The Prometheus text of every process's samples plus the queue gauges (omitted when the store did
    not answer: a missing series alarms better than a false zero), and its content type."""
    if os.environ.get(MULTIPROC_VARIABLE):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:  # a process that never set up the directory (an embedding program): its own samples only
        registry = CollectorRegistry()
        registry.register(_Delegate(_DEFAULT_REGISTRY))
    if queue_stats is not None:
        registry.register(_QueueCollector(queue_stats))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Delegate:
    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()

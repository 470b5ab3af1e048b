"""6. Scaling: throughput of many small documents with 2 worker processes against 1, in production
mode (redis-server + nx-27017 on loopback, an API instance with RUN_WORKERS=false, and
`ocr-service worker` processes with OCR_WORKERS=1 each)."""

from __future__ import annotations

import time
from pathlib import Path

from harness import BENCH_ENV, Row, scanned_pdf, submit, wait_finished

DOCUMENTS = 16
ROUNDS = 2  # 1 worker, 2 workers, 1 worker, 2 workers: the best round of each, so a burst of other load
# on the machine during one of them does not decide the ratio


def run(servers, name: str, workers: int, documents: list[bytes]) -> float:
    """Seconds from the first upload to the last document completed."""
    factory = servers.factory(name)
    env = {**BENCH_ENV, "OCR_WORKERS": "1", "LOG_LEVEL": "info"}  # a worker says "worker ready" at info
    api = factory("production", name="api", share=name, RUN_WORKERS="false", **env)
    for n in range(workers):
        factory("production", name=f"worker-{n}", command="worker", share=name, **env)
    with api.client() as client:
        submit(client, scanned_pdf(1, lines=3, seed=990 + workers)[0], "warm-up")  # engines loaded
        wait_finished(client, "warm-up")
        started = time.perf_counter()
        for n, data in enumerate(documents):
            submit(client, data, f"doc-{n}")
        # One document polled at a time (they finish roughly in order): polling all of them would
        # itself load the API and MongoDB, on the same cores as the workers.
        for n in range(len(documents)):
            status = wait_finished(client, f"doc-{n}", interval=0.05)
            if status["status"] != "completed":
                raise RuntimeError(f"doc-{n} ended {status['status']}: {status['error']}")
        elapsed = time.perf_counter() - started
    factory.stop_all()
    return elapsed


def measure(servers, workdir: Path) -> list[Row]:
    servers.start_backends()
    documents = [scanned_pdf(1, lines=12, seed=700 + n)[0] for n in range(DOCUMENTS)]
    times: dict[int, list[float]] = {1: [], 2: []}
    for round_ in range(ROUNDS):
        for workers in (1, 2):
            times[workers].append(run(servers, f"scaling-{workers}-{round_}", workers, documents))
    one, two = min(times[1]), min(times[2])
    details = {"documents": DOCUMENTS, "pages_each": 1, "one_worker_s": times[1], "two_workers_s": times[2]}
    return [Row("2 workers vs 1 (production)",
                f"2 workers: {DOCUMENTS / two:.2f} docs/s ({two:.1f} s)",
                f"1 worker: {DOCUMENTS / one:.2f} docs/s ({one:.1f} s)",
                one / two, ">= 1.8", details=details,
                note=f"{DOCUMENTS} one-page scans, Redis queue, nx-27017; best of {ROUNDS} alternating rounds")]

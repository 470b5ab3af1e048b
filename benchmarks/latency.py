"""4. Latency under load: GET /check-status percentiles while OCR keeps every core busy, against the
same calls while the OCR processes sit idle (same service, same document, one keep-alive client)."""

from __future__ import annotations

import time
from pathlib import Path

from .harness import CORES, Row, embedded_service, percentile, process, scanned_pdf, submit

CALLS = 1500
PAUSE_S = 0.005  # a polling client, not a flood: the OCR should be what loads the machine


def status_latencies(client, document_id: str, calls: int, while_busy: str | None = None) -> list[float]:
    latencies = []
    while len(latencies) < calls:
        started = time.perf_counter()
        body = client.get(f"/check-status/{document_id}").json()
        latencies.append(time.perf_counter() - started)
        if while_busy and body["status"] not in ("queued", "processing"):
            raise RuntimeError("the load ran out before the measurement ended; give it more pages")
        time.sleep(PAUSE_S)
    return latencies


def measure(servers, workdir: Path) -> list[Row]:
    load, _ = scanned_pdf(24 * CORES, lines=30, seed=500, distinct=8)
    service = embedded_service(servers, "latency")
    with service.client() as client:
        process(client, scanned_pdf(2 * CORES, lines=5, seed=996)[0], "warm-up")
        idle = status_latencies(client, "warm-up", CALLS)

        submit(client, load, "load")
        time.sleep(1.0)  # the upload is stored and its first pages are in the OCR processes
        loaded = status_latencies(client, "load", CALLS, while_busy="load")
    service.stop()  # the rest of the load document is of no interest

    def ms(values, q):
        return percentile(values, q) * 1000

    details = {"calls": CALLS, "pause_s": PAUSE_S,
               "idle_ms": {"p50": ms(idle, 50), "p99": ms(idle, 99), "max": max(idle) * 1000},
               "loaded_ms": {"p50": ms(loaded, 50), "p99": ms(loaded, 99), "max": max(loaded) * 1000}}
    return [Row("Status p99 under load vs idle",
                f"loaded p50 {ms(loaded, 50):.1f} ms, p99 {ms(loaded, 99):.1f} ms",
                f"idle p50 {ms(idle, 50):.1f} ms, p99 {ms(idle, 99):.1f} ms",
                percentile(loaded, 99) / percentile(idle, 99), "<= 3",
                note=f"{CALLS} calls each, OCR on all {CORES} cores", details=details)]

"""3. Cache hit: uploading a document that was processed already (same bytes and options, a new
document_id) until its result is in hand, against a plain GET /check-status round trip."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from harness import CORES, Row, embedded_service, process, scanned_pdf, submit

REPEATS = 30
STATUS_CALLS = 300


def measure(servers, workdir: Path) -> list[Row]:
    data, _ = scanned_pdf(1, lines=30, seed=400)  # a typical one-page scan
    service = embedded_service(servers, "cache")
    with service.client() as client:
        process(client, scanned_pdf(2 * CORES, lines=5, seed=997)[0], "warm-up")
        process(client, data, "original")

        status = []
        for _ in range(STATUS_CALLS):
            started = time.perf_counter()
            client.get("/check-status/original").raise_for_status()
            status.append(time.perf_counter() - started)

        hits = []
        for n in range(REPEATS):
            started = time.perf_counter()
            answer = submit(client, data, f"again-{n}")
            result = client.get(f"/result/again-{n}")
            hits.append(time.perf_counter() - started)
            if answer["status"] != "completed" or result.status_code != 200:
                raise RuntimeError(f"re-upload was not served from the earlier result: {answer}, {result.status_code}")
    service.stop()

    hit, trip = statistics.median(hits), statistics.median(status)
    details = {"upload_bytes": len(data), "repeats": REPEATS, "hit_median_s": hit, "hit_max_s": max(hits),
               "status_median_s": trip, "status_calls": STATUS_CALLS}
    return [Row("Cache hit vs status call",
                f"re-upload -> result {hit * 1000:.1f} ms (median of {REPEATS}, {len(data) / 1e6:.1f} MB scan)",
                f"GET /check-status {trip * 1000:.2f} ms (median of {STATUS_CALLS})",
                hit / trip, "<= 3", details=details)]

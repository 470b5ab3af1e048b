"""7. Flat at size: status and submit latency with a small store against a big one, in both backends.

Each store is filled through its own bulk insert (`DocumentStore.insert_many`, not HTTP) with small
completed one-page documents of several tenants: realistic records (ids, hashes, options, times,
retention) and a short page each (its text, no word boxes, so a million stay within a few GB). Then the
service runs on it: embedded mode with DATA_DIR on the filled folder, production mode (API with its
worker, redis-server, nx-27017 or the mongod of MONGO_TEST_URI) on the filled database.

The small and the big service run side by side and are measured in alternating blocks, so that load
from elsewhere on the machine falls on both alike:
- status: `GET /check-status` of random existing documents of random tenants (each with its API key),
  on a keep-alive connection; the p99.
- submit: `POST /extract` of a small text PDF that the service has processed before, under a new id:
  the acceptance answered from the earlier result (no inspection, no OCR); the median.

Sizes: BENCH_STORES_EMBEDDED and BENCH_STORES_MONGO ("small,big"; defaults 1000,1000000 and
1000,100000). A filled store is kept (BENCH_STORES_CACHE, a folder) when asked, so that repeated runs
skip the seeding; by default it lives in the run's temporary folder.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import statistics
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from ocr_service.domain import ApiKey, DocumentRecord, DocumentStatus, utcnow
from ocr_service.store.base import BulkDocument

from .harness import BENCH_ENV, Row, percentile, text_pdf, wait_finished

EMBEDDED_SIZES = (1_000, 1_000_000)
MONGO_SIZES = (1_000, 100_000)
TENANTS = ("acme", "globex", "initech", "umbrella")
# Calls per store, in BLOCKS alternating blocks, and the warm-up calls before them. nx-27017 gets fewer:
# it is far slower per call than a real mongod.
CALLS = {"embedded": (2000, 120, 200), "mongo": (2000, 120, 200), "nx": (300, 30, 20)}
BLOCKS = 4
RETENTION = timedelta(days=7)
PAGE_TEXT = ("Invoice 2026-0412  Acme Supplies Ltd.  Unit 4, Harbour Road  Net 30 days\n"
             "Qty  Description                       Unit price   Amount\n") * 4


def api_key(tenant: str) -> str:
    return f"bench-key-{tenant}-0123456789abcdef"


def sizes(variable: str, default: tuple[int, int]) -> tuple[int, int]:
    value = os.environ.get(variable)
    if not value:
        return default
    small, big = (int(part) for part in value.split(","))
    return small, big


def document_id(n: int) -> str:
    return hashlib.blake2b(n.to_bytes(8, "big"), digest_size=16).hexdigest()  # like a generated id


def documents(count: int) -> Iterator[BulkDocument]:
    """`count` completed one-page documents, spread over the last six days and the tenants."""
    now = utcnow()
    span = timedelta(days=6).total_seconds()
    for n in range(count):
        sha = hashlib.sha256(n.to_bytes(8, "big")).hexdigest()
        created = now - timedelta(seconds=span * (count - n) / count)
        finished = created + timedelta(seconds=1.7)
        record = DocumentRecord(
            document_id=document_id(n), content_sha256=sha, cache_key=hashlib.sha256(sha.encode()).hexdigest(),
            options={"language": "eng", "mode": "auto", "min_quality": "none"}, filename=f"scan-{n:07d}.pdf",
            media_type="application/pdf", size_bytes=180_000 + n % 900_000, pages_total=1, pages_done=1,
            status=DocumentStatus.COMPLETED, created_at=created, updated_at=finished, attempts=1,
            tenant=TENANTS[n % len(TENANTS)], expires_at=finished + RETENTION, request_id=uuid.UUID(int=n).hex)
        page = {"number": 1, "text": PAGE_TEXT, "source": "ocr", "confidence": 93.4, "width": 612.0,
                "height": 792.0, "units": "pt", "rotation": 0, "skew": 0.0, "dpi": 300, "reason": "no text layer",
                "words": [], "language": "eng", "language_confidence": None,
                "quality": {"verdict": "good", "reason": "confident"}, "tables": []}
        yield BulkDocument(record, [page])


def fill(store, count: int) -> float:
    """Seconds to bulk-insert `count` documents and the tenants' keys."""
    started = time.perf_counter()
    stored = store.insert_many(documents(count))
    for tenant in TENANTS:
        store.add_key(ApiKey(key_id=f"k-{tenant}", tenant=tenant,
                             key_sha256=hashlib.sha256(api_key(tenant).encode()).hexdigest()))
    if stored != count:
        raise RuntimeError(f"stored {stored} of {count} documents")
    return time.perf_counter() - started


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Measured:
    """One running service on a filled store, and the times measured on it."""

    def __init__(self, service, count: int, calls: str):
        self.service, self.count = service, count
        self.status_calls, self.submits, self.warm_up = CALLS[calls]
        self.client = service.client()
        self.status: list[float] = []
        self.submit: list[float] = []
        self.random = random.Random(count)
        self.upload = text_pdf(1, lines=6, seed=31)[0]

    def prepare(self) -> None:
        """Process the small PDF once (tenant acme), and warm the connection and the code paths."""
        self.client.headers["X-API-Key"] = api_key("acme")
        response = self.client.post("/extract", files={"file": ("doc.pdf", self.upload)},
                                    data={"document_id": "first"})
        if response.status_code not in (200, 202):
            raise RuntimeError(f"upload answered {response.status_code}: {response.text[:300]}")
        if wait_finished(self.client, "first", timeout=120)["status"] != "completed":
            raise RuntimeError("the small PDF was not processed")
        for _ in range(self.warm_up):
            self.status_call()
        self.submit_call()

    def status_call(self) -> float:
        n = self.random.randrange(self.count)
        tenant = TENANTS[n % len(TENANTS)]
        started = time.perf_counter()
        response = self.client.get(f"/check-status/{document_id(n)}", headers={"X-API-Key": api_key(tenant)})
        elapsed = time.perf_counter() - started
        if response.status_code != 200 or response.json()["status"] != "completed":
            raise RuntimeError(f"status of seeded document {n}: {response.status_code} {response.text[:200]}")
        return elapsed

    def submit_call(self) -> float:
        started = time.perf_counter()
        response = self.client.post("/extract", files={"file": ("doc.pdf", self.upload)},
                                    data={"document_id": uuid.uuid4().hex})
        elapsed = time.perf_counter() - started
        if response.status_code not in (200, 202) or response.json()["status"] != "completed":
            raise RuntimeError(f"re-upload was not answered from the earlier result: {response.status_code} "
                               f"{response.text[:200]}")
        return elapsed

    def block(self, blocks: int) -> None:
        self.status += [self.status_call() for _ in range(self.status_calls // blocks)]
        self.submit += [self.submit_call() for _ in range(self.submits // blocks)]

    def close(self) -> None:
        self.client.close()


def compare(small: Measured, big: Measured) -> None:
    for measured in (small, big):
        measured.prepare()
    for _ in range(BLOCKS):
        for measured in (small, big):
            measured.block(BLOCKS)


def rows(backend: str, small: Measured, big: Measured, seeding: dict[str, float], disk: dict[str, int]) -> list[Row]:
    p99 = {m.count: percentile(m.status, 99) for m in (small, big)}
    median = {m.count: statistics.median(m.submit) for m in (small, big)}
    submit_p99 = {m.count: percentile(m.submit, 99) for m in (small, big)}
    s, b = small.count, big.count
    details = {"backend": backend, "sizes": [s, b], "status_calls": big.status_calls, "submits": big.submits,
               "status_p99_s": p99, "status_median_s": {m.count: statistics.median(m.status) for m in (small, big)},
               "submit_median_s": median, "submit_p99_s": submit_p99, "seeding_s": seeding, "disk_bytes": disk}
    seeded = f"{b:,} seeded in {seeding[str(b)]:.0f} s ({b / seeding[str(b)]:,.0f}/s), {disk[str(b)] / 1e9:.2f} GB"
    return [
        Row(f"Status p99 at {b:,} vs {s:,} documents ({backend})",
            f"{b:,}: p99 {p99[b] * 1000:.2f} ms", f"{s:,}: p99 {p99[s] * 1000:.2f} ms", p99[b] / p99[s], "<= 1.5",
            details=details, note=f"{big.status_calls} random ids of {len(TENANTS)} tenants each; {seeded}"),
        Row(f"Submit at {b:,} vs {s:,} documents ({backend})",
            f"{b:,}: median {median[b] * 1000:.2f} ms", f"{s:,}: median {median[s] * 1000:.2f} ms",
            median[b] / median[s], "<= 1.5",
            note=f"re-upload of a processed PDF under a new id, {big.submits} each; p99 {submit_p99[b] * 1000:.1f} vs "
                 f"{submit_p99[s] * 1000:.1f} ms"),
    ]


def fill_embedded(workdir: Path, count: int) -> tuple[Path, float, int]:
    """(the filled DATA_DIR, seconds the filling took, its bytes on disk)."""
    from ocr_service.store.local import LocalStore

    keep = os.environ.get("BENCH_STORES_CACHE")
    data = (Path(keep) if keep else workdir) / f"embedded-{count}"
    if not (data / "filled").exists():
        shutil.rmtree(data, ignore_errors=True)
        store = LocalStore(data)
        seconds = fill(store, count)
        store.close()
        (data / "filled").write_text(str(seconds))
    seconds, size = float((data / "filled").read_text()), folder_bytes(data)
    if keep:  # the service writes to its store: a kept one stays as it was filled
        shutil.copytree(data, workdir / f"run-{count}")
        data = workdir / f"run-{count}"
    return data, seconds, size


def fill_mongo(servers, count: int) -> tuple[str, float, int]:
    """(the filled database's name, seconds the filling took, its bytes on disk when nx-27017 holds it)."""
    from ocr_service.store.mongo import MongoConfig, MongoStore
    from tests.support.servers import mongo_uri

    db = f"stores_{count}_{uuid.uuid4().hex[:6]}"
    store = MongoStore(MongoConfig(uri=mongo_uri(servers.mongo), db_name=db, timeout_ms=60_000))
    try:
        seconds = fill(store, count)
    finally:
        store.close()
    files = [] if os.environ.get("MONGO_TEST_URI") else list(servers.mongo.workdir.rglob(f"{db}.db*"))
    return db, seconds, sum(f.stat().st_size for f in files)


def run_embedded(servers, filled: dict[int, tuple[Path, float, int]]) -> list[Row]:
    from .harness import embedded_service

    measured = []
    try:
        for count, (data, _, _) in filled.items():
            service = embedded_service(servers, f"stores-{count}", DATA_DIR=str(data), OCR_WORKERS="1")
            measured.append(Measured(service, count, "embedded"))
        compare(*measured)
    finally:
        for m in measured:
            m.close()
            m.service.stop()
    return rows("embedded", *measured, {str(c): f[1] for c, f in filled.items()},
                {str(c): f[2] for c, f in filled.items()})


def run_production(servers, filled: dict[int, tuple[str, float, int]]) -> list[Row]:
    measured = []
    try:
        for n, (count, (db, _, _)) in enumerate(filled.items()):
            env = {**BENCH_ENV, "MONGO_DB_NAME": db, "REDIS_DB": str(n + 1), "OCR_WORKERS": "1"}
            service = servers.factory(f"stores-mongo-{count}")("production", name="api", **env)
            measured.append(Measured(service, count, "mongo" if os.environ.get("MONGO_TEST_URI") else "nx"))
        compare(*measured)
    finally:
        for m in measured:
            m.close()
            m.service.stop()
    backend = "MongoDB" if os.environ.get("MONGO_TEST_URI") else "nx-27017"
    return rows(backend, *measured, {str(c): f[1] for c, f in filled.items()},
                {str(c): f[2] for c, f in filled.items()})


def measure(servers, workdir: Path) -> list[Row]:
    servers.start_backends()
    # The two stores fill side by side: SQLite in this process, MongoDB in its server.
    with ThreadPoolExecutor(1) as pool:
        mongo = pool.submit(lambda: {c: fill_mongo(servers, c) for c in sizes("BENCH_STORES_MONGO", MONGO_SIZES)})
        embedded = {c: fill_embedded(workdir, c) for c in sizes("BENCH_STORES_EMBEDDED", EMBEDDED_SIZES)}
        mongo_filled = mongo.result()
    return run_embedded(servers, embedded) + run_production(servers, mongo_filled)

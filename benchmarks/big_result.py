"""Big result: a completed 2,000-page document (300 words a page, with boxes), written into the embedded
store through its own methods (no OCR), served by GET /result in every format. For each: the API
process's peak RSS while the answer is read (psutil, every 10 ms) against its idle RSS, and the time
to the first byte of the body."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import psutil

from .harness import MB, Row, TreeRss, embedded_service

PAGES = 2000
WORDS = 300
FORMATS = (("json", {}), ("json+words", {"words": "true"}), ("text", {"format": "text"}),
           ("hocr", {"format": "hocr"}), ("pdf", {"format": "pdf"}))


class ProcessRss(TreeRss):
    """The RSS of one process (not its children), sampled in a background thread inside `with`."""

    def __init__(self, pid: int, interval: float = 0.01):
        super().__init__(pid, interval)

    def sample(self) -> int:
        return self.root.memory_info().rss


def _seed(data_dir: Path, workdir: Path) -> float:
    from ocr_service.store.local import LocalStore
    from tests.support.big_documents import seed_completed

    started = time.perf_counter()
    store = LocalStore(data_dir)
    try:
        seed_completed(store, workdir, "book", PAGES, WORDS)
    finally:
        store.close()
    return time.perf_counter() - started


def measure(servers, workdir: Path) -> list[Row]:
    data_dir = workdir / "data"
    seed_s = _seed(data_dir, workdir)
    service = embedded_service(servers, "big_result", DATA_DIR=str(data_dir))
    pid = service.process.pid
    figures: dict[str, dict] = {}
    with service.client() as client:
        client.timeout = 900  # the searchable PDF of 2,000 pages takes pdfium a while
        for _ in range(20):  # the routes and the store's connections warmed up
            client.get("/check-status/book").raise_for_status()
        time.sleep(1)
        idle = statistics.median(_rss_samples(pid, 5))
        for name, params in FORMATS:
            with ProcessRss(pid) as api, TreeRss(pid) as tree:
                started = time.perf_counter()
                with client.stream("GET", "/result/book", params=params) as response:
                    if response.status_code != 200:
                        raise RuntimeError(f"GET /result ({name}) answered {response.status_code}")
                    chunks = response.iter_raw()
                    size = len(next(chunks))
                    first_byte = time.perf_counter() - started
                    for chunk in chunks:
                        size += len(chunk)
                total = time.perf_counter() - started
            figures[name] = {"ttfb_s": first_byte, "total_s": total, "bytes": size, "api_peak_rss": api.peak,
                             "tree_peak_rss": tree.peak, "streamed": "content-length" not in response.headers}
    service.stop()

    rows = []
    for name, figure in figures.items():
        ratio = figure["api_peak_rss"] / idle
        rows.append(Row(
            f"Big result {name}: peak RSS vs idle",
            f"{PAGES} pages, {figure['bytes'] / MB:.0f} MB read in {figure['total_s']:.1f} s; API peak "
            f"{figure['api_peak_rss'] / MB:.0f} MB", f"API idle {idle / MB:.0f} MB", ratio, "<= 1.5",
            note=f"first byte after {figure['ttfb_s'] * 1000:.0f} ms; process tree peak "
                 f"{figure['tree_peak_rss'] / MB:.0f} MB", details={**figure, "idle_rss": idle, "seed_s": seed_s}))
    for name, figure in figures.items():
        rows.append(Row(f"Big result {name}: time to first byte", f"{figure['ttfb_s'] * 1000:.0f} ms "
                        f"({'streamed' if figure['streamed'] else 'built, then sent'})", "1 s",
                        figure["ttfb_s"], "<= 1"))
    return rows


def _rss_samples(pid: int, count: int) -> list[int]:
    samples = []
    for _ in range(count):
        samples.append(psutil.Process(pid).memory_info().rss)
        time.sleep(0.1)
    return samples

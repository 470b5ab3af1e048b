"""One page, as soon as possible: a one-page scan uploaded with `Prefer: wait` until the answer carries
its result, on an embedded service with one OCR process per core (warmed up) and nothing else to do,
against the `tesseract` CLI (`OMP_THREAD_LIMIT=1`) on the same page rendered to PNG at 300 DPI.
The service cuts the page into bands at blank rows and reads them on its idle OCR processes at once;
the CLI reads the whole page on one core. Median of several alternating runs; CER of both.

A second row reads the accuracy corpus (benchmarks/accuracy.py's generated cases and the real
phototest scans) through two OCR pools of two processes, one splitting pages and one not, and
compares each page's CER: the split must cost at most 0.1 point on every case."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path

from .harness import CORES, OCR_PRIORITY, Row, embedded_service, mean_cer, process, scanned_pdf
from .throughput import render_pngs

RUNS = 7
WAIT = {"Prefer": "wait=60"}
CORPUS_LINES = 30  # enough lines that most corpus pages are split
CER_MARGIN = 0.001


def _upload(client, data: bytes, document_id: str) -> tuple[float, str]:
    started = time.perf_counter()
    response = client.post("/extract", files={"file": ("scan.pdf", data)}, data={"document_id": document_id},
                           headers=WAIT)
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.json()["status"] != "completed":
        raise RuntimeError(f"{document_id} answered {response.status_code}: {response.text[:300]}")
    return elapsed, response.json()["pages"][0]["text"]


def _cli(png: Path) -> tuple[float, str]:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    started = time.perf_counter()
    done = subprocess.run([*OCR_PRIORITY, "tesseract", str(png), "-", "-l", "eng"], env=env, check=True,
                          capture_output=True, text=True)
    return time.perf_counter() - started, done.stdout


def measure(servers, workdir: Path, split: bool = True) -> list[Row]:
    # Each run is a different page (the service would answer a repeated one from its cache).
    pages = [scanned_pdf(1, lines=30, seed=500 + n) for n in range(RUNS)]
    pngs = []
    for n, (data, _) in enumerate(pages):
        path = workdir / f"page-{n}.pdf"
        path.write_bytes(data)
        pngs += render_pngs(path, workdir / f"png-{n}")
    service = embedded_service(servers, "single-page" if split else "single-page-whole",
                               **({} if split else {"SPLIT_PAGES": "false"}))
    service_s, cli_s, service_texts, cli_texts = [], [], [], []
    with service.client() as client:
        process(client, scanned_pdf(2 * CORES, lines=5, seed=998)[0], "warm-up")
        _upload(client, scanned_pdf(1, lines=30, seed=499)[0], "warm-up-split")
        for n, ((data, _), png) in enumerate(zip(pages, pngs, strict=True)):
            elapsed, text = _upload(client, data, f"page-{n}")
            service_s.append(elapsed), service_texts.append(text)
            elapsed, text = _cli(png)
            cli_s.append(elapsed), cli_texts.append(text)
    service.stop()
    truth = [t[0] for _, t in pages]
    service_cer, cli_cer = mean_cer(truth, service_texts), mean_cer(truth, cli_texts)
    median, cli = statistics.median(service_s), statistics.median(cli_s)
    details = {"runs": RUNS, "cores": CORES, "service_s": service_s, "tesseract_cli_s": cli_s,
               "service_median_s": median, "tesseract_cli_median_s": cli,
               "cer": {"service": service_cer, "tesseract_cli": cli_cer}, "split": split}
    return [Row("One page: upload -> result vs tesseract CLI",
                f"{median:.2f} s (median of {RUNS}, CER {service_cer:.1%})",
                f"{cli:.2f} s (CLI on the page's PNG, CER {cli_cer:.1%})", median / cli, "<= 0.6",
                details=details,
                note=f"{CORES} OCR processes, one 30-line 300 DPI scan, Prefer: wait; "
                     f"split {'on' if split else 'off'}"),
            corpus_cer(workdir)]


def corpus_cer(workdir: Path) -> Row:
    from ocr_service.jobs.pool import PagePool
    from ocr_service.pipeline import Limits, PageOptions
    from tests.support import samples

    from .accuracy import real_cases

    jobs = []
    for case in samples.quality_corpus(lines=CORPUS_LINES):
        document = workdir / f"{case.name}{case.suffix}"
        document.write_bytes(case.build()[0])
        jobs.append((case.name, document, case.truth))
    jobs += real_cases()
    split_pool, whole_pool = PagePool(CORES), PagePool(CORES, split_pages=False)
    cases = []
    try:
        for name, document, truth in jobs:
            read = {}
            for label, pool in (("whole", whole_pool), ("split", split_pool)):
                before = pool.pages_split
                [page] = pool.run_pages(document, [1], PageOptions(), Limits())
                read[label] = (samples.cer(truth, page["text"]), pool.pages_split > before)
            cases.append({"case": name, "whole_cer": read["whole"][0], "split_cer": read["split"][0],
                          "was_split": read["split"][1]})
    finally:
        split_pool.shutdown(), whole_pool.shutdown()
    worst = max(cases, key=lambda c: c["split_cer"] - c["whole_cer"])
    split_count = sum(c["was_split"] for c in cases)
    mean_whole = statistics.fmean(c["whole_cer"] for c in cases)
    mean_split = statistics.fmean(c["split_cer"] for c in cases)
    worse = worst["split_cer"] - worst["whole_cer"]
    return Row("One page: CER split vs whole (accuracy corpus)",
               f"split: mean CER {mean_split:.2%}, {split_count} of {len(cases)} pages split",
               f"whole: mean CER {mean_whole:.2%}", worse * 100, "<= 0.1", verdict=worse <= CER_MARGIN + 1e-9,
               details={"cases": cases, "lines": CORPUS_LINES},
               note=f"ratio = worst case's CER difference in points ({worst['case']})")

"""1. OCR throughput: the service (HTTP, upload -> completed, one OCR process per core) against the
`tesseract` CLI run one per core on the same pages pre-rendered to PNG, and against `ocrmypdf -j<cores>`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .harness import CORES, OCR_PRIORITY, Row, TreeCpu, children_cpu, embedded_service, mean_cer, process, scanned_pdf

PAGES = 40


def render_pngs(pdf_path: Path, folder: Path) -> list[Path]:
    """Each page at 300 DPI in greyscale, as the service renders it (pypdfium2)."""
    import pypdfium2 as pdfium

    folder.mkdir(exist_ok=True)
    pdf = pdfium.PdfDocument(pdf_path)
    paths = []
    for index in range(len(pdf)):
        page = pdf[index]
        bitmap = page.render(scale=300 / 72, grayscale=True)
        path = folder / f"page-{index + 1:03d}.png"
        bitmap.to_pil().save(path, dpi=(300, 300))
        bitmap.close(), page.close()
        paths.append(path)
    pdf.close()
    return paths


def tesseract_cli(pngs: list[Path]) -> tuple[float, float, list[str]]:
    """One `tesseract` per core at a time, single-threaded (OMP_THREAD_LIMIT=1): wall seconds, texts."""
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}

    def ocr(png: Path) -> str:
        subprocess.run([*OCR_PRIORITY, "tesseract", str(png), str(png.with_suffix("")), "-l", "eng"], env=env,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return png.with_suffix(".txt").read_text()

    cpu, started = children_cpu(), time.perf_counter()
    with ThreadPoolExecutor(CORES) as executor:
        texts = list(executor.map(ocr, pngs))
    return time.perf_counter() - started, children_cpu() - cpu, texts


def ocrmypdf(pdf_path: Path, out: Path) -> tuple[float, float, list[str]]:
    """`ocrmypdf -j<cores>` with plain PDF output and no optimisation: the service does neither."""
    import pypdfium2 as pdfium

    command = [*OCR_PRIORITY, str(Path(sys.executable).parent / "ocrmypdf"), "-j", str(CORES),
               "--output-type", "pdf", "--optimize", "0", "-l", "eng", str(pdf_path), str(out)]
    cpu, started = children_cpu(), time.perf_counter()
    subprocess.run(command, check=True, env={**os.environ, "OMP_THREAD_LIMIT": "1"},
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed, cpu = time.perf_counter() - started, children_cpu() - cpu
    pdf = pdfium.PdfDocument(out)
    texts = []
    for page in pdf:
        textpage = page.get_textpage()
        texts.append(textpage.get_text_bounded())
        textpage.close(), page.close()
    pdf.close()
    return elapsed, cpu, texts


def measure(servers, workdir: Path) -> list[Row]:
    data, truth = scanned_pdf(PAGES, lines=30, seed=100)
    pdf_path = workdir / "scan-40.pdf"
    pdf_path.write_bytes(data)
    pngs = render_pngs(pdf_path, workdir / "pngs")

    service = embedded_service(servers, "throughput")
    with service.client() as client:
        # Every OCR process started and its engine loaded: the steady state of a running service.
        process(client, scanned_pdf(2 * CORES, lines=5, seed=999)[0], "warm-up")
        with TreeCpu(service.process.pid) as cpu:
            service_s, _ = process(client, data, "scan-40")
        pages = client.get("/result/scan-40").json()["pages"]
    service.stop()
    service_cer = mean_cer(truth, [p["text"] for p in sorted(pages, key=lambda p: p["number"])])

    cli_s, cli_cpu, cli_texts = tesseract_cli(pngs)
    ocrmypdf_s, ocrmypdf_cpu, ocrmypdf_texts = ocrmypdf(pdf_path, workdir / "ocrmypdf-out.pdf")

    rate = PAGES / service_s
    details = {
        "pages": PAGES, "pdf_bytes": len(data), "cores": CORES,
        "service_s": service_s, "tesseract_cli_s": cli_s, "ocrmypdf_s": ocrmypdf_s,
        "service_pages_per_s": rate, "tesseract_cli_pages_per_s": PAGES / cli_s,
        "ocrmypdf_pages_per_s": PAGES / ocrmypdf_s,
        "cpu_s_per_page": {"service": cpu.seconds / PAGES, "tesseract_cli": cli_cpu / PAGES,
                           "ocrmypdf": ocrmypdf_cpu / PAGES},
        "cer": {"service": service_cer, "tesseract_cli": mean_cer(truth, cli_texts),
                "ocrmypdf": mean_cer(truth, ocrmypdf_texts)},
    }
    cers = details["cer"]
    return [
        Row("Throughput vs tesseract CLI",
            f"{rate:.2f} pages/s ({PAGES} p in {service_s:.1f} s, CER {service_cer:.1%})",
            f"{PAGES / cli_s:.2f} pages/s ({CORES} parallel CLI on PNGs, CER {cers['tesseract_cli']:.1%})",
            cli_s / service_s, ">= 1.0", details=details,
            note="CPU s/page: service {service:.2f}, CLI {tesseract_cli:.2f}, OCRmyPDF {ocrmypdf:.2f}".format(
                **details["cpu_s_per_page"])),
        Row("Throughput vs OCRmyPDF", f"{rate:.2f} pages/s",
            f"{PAGES / ocrmypdf_s:.2f} pages/s (ocrmypdf -j{CORES}, CER {cers['ocrmypdf']:.1%})",
            ocrmypdf_s / service_s, ">= 1.5", details=details),
    ]

"""Accuracy benchmark: character error rate of this service's pipeline and of plain `tesseract`
on a generated corpus with ground truth. Prints tables, writes benchmarks/results/accuracy.json.

    .venv/bin/python -m benchmarks.accuracy [--lines 20] [--cases upright-300dpi,rotated-90] [--no-tesseract]
        [--sections corpus,fonts,languages,tables,calibration]

Sections: `corpus` (geometry, resolution, text layers: the service against plain tesseract), `fonts`
(text layers that lie: what trusting the layer would give against what the service returns), `languages`
(language=auto against the right language given and against English), `tables` (cell accuracy on
ruled tables, and a borderless one that must stay text), `calibration` (the quality gate's measures on
clean, noisy, blurred and wrong-language scans).

Plain tesseract (Debian's CLI, OMP_THREAD_LIMIT=1, default page segmentation) reads the same scan
image the PDF holds (with its DPI recorded), or the page rendered at 300 DPI for born-digital pages;
its time includes starting the process and loading the model (~0.2 s), as running it by hand does.
The service's time is one warm engine in this process, as in a worker.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from ocr_service.pipeline import Limits, PageOptions, engine, process_page  # noqa: E402
from tests.support import samples
from tests.support.corpus import DATA  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "accuracy.json"
CORPUS = DATA


def plain_tesseract(image_path: Path) -> tuple[str, float]:
    started = time.monotonic()
    done = subprocess.run(
        ["tesseract", str(image_path), "stdout", "-l", "eng"],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        check=False,
    )
    return done.stdout, time.monotonic() - started


def real_cases() -> list[tuple[str, Path, str]]:
    """The Tesseract project's phototest scan and its rotated copy, from tests/data."""
    folder = CORPUS
    truth = folder / "phototest.txt"
    if not truth.exists():
        return []
    text = truth.read_text()
    return [
        (name, folder / file, text)
        for name, file in (
            ("phototest (real scan)", "phototest.tif"),
            ("phototest rotated (real)", "phototest-rotated-R.png"),
        )
    ]


def run(lines: int, names: list[str] | None, with_tesseract: bool, font_size: float = 12.0) -> dict:
    has_tesseract = with_tesseract and shutil.which("tesseract") is not None
    rows = []
    engine.get_engine("eng")  # load once, as a worker has it loaded already
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        jobs = []
        for case in samples.quality_corpus(lines=lines, names=names, font_size=font_size):
            data, image, dpi = case.build()
            document = folder / f"{case.name}{case.suffix}"
            document.write_bytes(data)
            baseline = folder / f"{case.name}.png"
            image.save(baseline, dpi=(dpi, dpi))
            jobs.append((case.name, document, baseline, case.truth))
        if names is None:
            jobs += [(name, path, path, text) for name, path, text in real_cases()]
        for name, document, baseline, truth in jobs:
            started = time.monotonic()
            page = process_page(document, 1, PageOptions(), Limits())
            seconds = time.monotonic() - started
            row = {
                "case": name,
                "service_cer": round(samples.cer(truth, page["text"]), 4),
                "service_seconds": round(seconds, 2),
                "source": page["source"],
                "rotation": page["rotation"],
                "skew": page["skew"],
                "dpi": page["dpi"],
                "confidence": page["confidence"],
            }
            if has_tesseract:
                text, tess_seconds = plain_tesseract(baseline)
                row["tesseract_cer"] = round(samples.cer(truth, text), 4)
                row["tesseract_seconds"] = round(tess_seconds, 2)
            rows.append(row)
            print(f"  {name}: service CER {row['service_cer']:.4f}", file=sys.stderr)
    return {
        "benchmark": "accuracy",
        "lines_per_page": lines,
        "font_size_pt": font_size,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "tesseract_cli": subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split("\n")[
            0
        ]
        if has_tesseract
        else None,
        "cases": rows,
    }


FONT_LINES = 8


def font_rows() -> list[dict]:
    """Each kind of lying text layer: CER of the text layer as pdfium decodes it and of the service."""
    import pypdfium2 as pdfium

    text = samples.sample_text(seed=40, lines=FONT_LINES, width=45)  # labelled values still fit the page
    labels = [f"Field {i + 1}:" for i in range(FONT_LINES)]
    rows = []
    for kind in samples.FONT_CASE_KINDS:
        lines = text.split("\n")
        truth = "\n".join(f"{label} {line}" for label, line in zip(labels, lines, strict=True)) \
            if kind == "mixed-fonts" else text
        data = samples.font_case_pdf(lines, kind, labels=labels if kind == "mixed-fonts" else None)
        with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
            f.write(data)
            f.flush()
            pdf = pdfium.PdfDocument(f.name)
            layer = pdf[0].get_textpage().get_text_range()
            pdf.close()
            started = time.monotonic()
            page = process_page(Path(f.name), 1, PageOptions(), Limits())
            seconds = time.monotonic() - started
        rows.append({"case": kind, "layer_cer": round(samples.cer(truth, layer), 4),
                     "service_cer": round(samples.cer(truth, page["text"]), 4), "source": page["source"],
                     "reason": page["reason"], "service_seconds": round(seconds, 2)})
        print(f"  font {kind}: {rows[-1]['service_cer']:.4f} ({page['source']})", file=sys.stderr)
    return rows


LANGUAGES = ("eng", "fra", "deu")


def language_rows(lines: int) -> list[dict]:
    """Scans in English, French and German (one document, so also the mixed-language case): CER with
    language=auto, with the right language given, and read as English."""
    texts = [samples.sample_text_in(lang, seed=41, lines=lines) for lang in LANGUAGES]
    rows = []
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(samples.scanned_pdf(texts, seed=41))
        f.flush()
        for number, (lang, text) in enumerate(zip(LANGUAGES, texts, strict=True), start=1):
            started = time.monotonic()
            auto = process_page(Path(f.name), number, PageOptions(language="auto"), Limits())
            auto_s = time.monotonic() - started
            started = time.monotonic()
            given = process_page(Path(f.name), number, PageOptions(language=lang), Limits())
            given_s = time.monotonic() - started
            english = given if lang == "eng" else process_page(Path(f.name), number, PageOptions(), Limits())
            rows.append({"case": f"page {number}: {lang}", "detected": auto["language"],
                         "confidence": auto["language_confidence"],
                         "auto_cer": round(samples.cer(text, auto["text"]), 4),
                         "given_cer": round(samples.cer(text, given["text"]), 4),
                         "english_cer": round(samples.cer(text, english["text"]), 4),
                         "auto_seconds": round(auto_s, 2), "given_seconds": round(given_s, 2)})
            print(f"  language {lang}: detected {auto['language']}", file=sys.stderr)
    return rows


def table_rows_report() -> list[dict]:
    """Ruled tables of invoice-like cells (cell-level accuracy: a cell is right when its text is exactly
    the truth's) and a borderless table (it must not come back as a table)."""
    rows = []
    for seed, (n_rows, n_cols) in ((50, (5, 4)), (51, (8, 4)), (52, (4, 3))):
        cells = samples.table_rows(seed, rows=n_rows, cols=n_cols)
        with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
            f.write(samples.table_pdf(cells, before="Invoice for the office supplies", after="Payment is due.",
                                      seed=seed))
            f.flush()
            started = time.monotonic()
            page = process_page(Path(f.name), 1, PageOptions(), Limits())
            seconds = time.monotonic() - started
        found = page["tables"][0]["rows"] if page["tables"] else []
        right = sum(1 for r, row in enumerate(cells) for c, cell in enumerate(row)
                    if r < len(found) and c < len(found[r]) and found[r][c] == cell)
        total = sum(len(row) for row in cells)
        rows.append({"case": f"ruled {n_rows}x{n_cols}", "tables": len(page["tables"]), "cells": total,
                     "cells_right": right, "cell_accuracy": round(right / total, 4),
                     "service_seconds": round(seconds, 2)})
    cells = samples.table_rows(53, rows=5, cols=4)
    truth = "\n".join(" ".join(row) for row in cells)
    with tempfile.NamedTemporaryFile(suffix=".pdf") as f:
        f.write(samples.table_pdf(cells, ruled=False, seed=53))
        f.flush()
        started = time.monotonic()
        page = process_page(Path(f.name), 1, PageOptions(), Limits())
        seconds = time.monotonic() - started
    rows.append({"case": "borderless 5x4", "tables": len(page["tables"]), "cells": 20, "cells_right": None,
                 "cell_accuracy": None, "text_cer": round(samples.cer(truth, page["text"]), 4),
                 "service_seconds": round(seconds, 2)})
    return rows


def calibration_rows(lines: int = 10) -> list[dict]:
    """The quality gate's measures per condition: the page's CER, mean word confidence, share of
    low-confidence words and the verdict."""
    rows = []
    for lang, wrong in (("eng", "fra"), ("deu", "eng")):
        text = samples.sample_text_in(lang, seed=42, lines=lines)
        for condition in samples.CALIBRATION_CONDITIONS:
            if lang != "eng" and condition != "wrong-language":
                continue
            read_as = wrong if condition == "wrong-language" else lang
            with tempfile.NamedTemporaryFile(suffix=".png") as f:
                samples.degraded_scan(text, condition, seed=42).save(f.name, format="PNG", dpi=(300, 300))
                page = process_page(Path(f.name), 1, PageOptions(language=read_as), Limits())
            quality = page["quality"]
            rows.append({"case": f"{condition} ({lang} read as {read_as})",
                         "cer": round(samples.cer(text, page["text"]), 4),
                         "mean_confidence": quality["mean_confidence"],
                         "low_confidence_share": quality["low_confidence_share"], "verdict": quality["verdict"],
                         "reason": quality["reason"]})
            print(f"  calibration {rows[-1]['case']}: {quality['verdict']}", file=sys.stderr)
    return rows


def _plain_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def _pct(value) -> str:
    return "-" if value is None else f"{value:.2%}"


def print_sections(report: dict) -> None:
    """The extra sections as Markdown tables (benchmarks/README.md keeps them)."""
    if report.get("fonts"):
        _plain_table("Text layers that lie (CER of the layer as decoded vs the service's text)",
                     ["case", "layer CER", "service CER", "source", "reason", "s"],
                     [[r["case"], _pct(r["layer_cer"]), _pct(r["service_cer"]), r["source"], r["reason"],
                       f"{r['service_seconds']:.2f}"] for r in report["fonts"]])
    if report.get("languages"):
        _plain_table("language=auto (one document: English, French, German pages)",
                     ["page", "detected", "confidence", "auto CER", "given CER", "read as eng CER", "auto s",
                      "given s"],
                     [[r["case"], r["detected"], str(r["confidence"]), _pct(r["auto_cer"]), _pct(r["given_cer"]),
                       _pct(r["english_cer"]), f"{r['auto_seconds']:.2f}", f"{r['given_seconds']:.2f}"]
                      for r in report["languages"]])
    if report.get("tables"):
        _plain_table("Tables", ["case", "tables found", "cells right", "cell accuracy", "text CER", "s"],
                     [[r["case"], str(r["tables"]),
                       "-" if r["cells_right"] is None else f"{r['cells_right']}/{r['cells']}",
                       _pct(r["cell_accuracy"]), _pct(r.get("text_cer")), f"{r['service_seconds']:.2f}"]
                      for r in report["tables"]])
    if report.get("calibration"):
        _plain_table("Quality gate calibration", ["scan", "CER", "mean word conf.", "words < 60", "verdict"],
                     [[r["case"], _pct(r["cer"]),
                       "-" if r["mean_confidence"] is None else f"{r['mean_confidence']:.1f}",
                       _pct(r["low_confidence_share"]), r["verdict"]] for r in report["calibration"]])


def print_table(report: dict) -> None:
    headers = ["case", "service CER", "tesseract CER", "source", "rotation", "skew", "dpi", "service s", "tesseract s"]
    rows = [
        [
            r["case"],
            f"{r['service_cer']:.2%}",
            f"{r['tesseract_cer']:.2%}" if "tesseract_cer" in r else "-",
            r["source"],
            str(r["rotation"]),
            f"{r['skew']:+.2f}",
            str(r["dpi"]),
            f"{r['service_seconds']:.2f}",
            f"{r['tesseract_seconds']:.2f}" if "tesseract_seconds" in r else "-",
        ]
        for r in report["cases"]
    ]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text when rich is not installed
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
        for line in [headers, *rows]:
            print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
        return
    table = Table(
        title=f"OCR accuracy ({report['lines_per_page']} lines of {report['font_size_pt']:g} pt per page; "
        "CER = character error rate)"
    )
    for header in headers:
        table.add_column(header, justify="left" if header in ("case", "source") else "right")
    for row in rows:
        table.add_row(*row)
    console = Console()
    console.width = max(console.width, 130)  # the table is for reading, also in CI logs
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=20, help="text lines per generated page")
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--font-size", type=float, default=12.0, help="text size in points (smaller is harder)")
    parser.add_argument("--no-tesseract", action="store_true", help="skip the plain tesseract baseline")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--sections", default="corpus,fonts,languages,tables,calibration",
                        help="comma-separated: corpus, fonts, languages, tables, calibration")
    args = parser.parse_args(argv)
    names = args.cases.split(",") if args.cases else None
    sections = set(args.sections.split(","))
    report = run(args.lines, names, not args.no_tesseract, args.font_size) if "corpus" in sections else {
        "benchmark": "accuracy", "cases": []}
    if "fonts" in sections:
        report["fonts"] = font_rows()
    if "languages" in sections:
        report["languages"] = language_rows(min(args.lines, 12))
    if "tables" in sections:
        report["tables"] = table_rows_report()
    if "calibration" in sections:
        report["calibration"] = calibration_rows()
    if report["cases"]:
        print_table(report)
    print_sections(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

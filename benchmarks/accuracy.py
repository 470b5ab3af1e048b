"""Accuracy benchmark: character error rate of this service's pipeline and of plain `tesseract`
on a generated corpus with ground truth (issue 6). Prints a table, writes benchmarks/results/accuracy.json.

    .venv/bin/python benchmarks/accuracy.py [--lines 20] [--cases upright-300dpi,rotated-90] [--no-tesseract]

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
    args = parser.parse_args(argv)
    names = args.cases.split(",") if args.cases else None
    report = run(args.lines, names, not args.no_tesseract, args.font_size)
    print_table(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

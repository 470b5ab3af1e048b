"""Runs the benchmarks side by side on this machine, prints one table and writes JSON.

    .venv/bin/python -m benchmarks.run            # all of them
    .venv/bin/python -m benchmarks.run cache memory # some of them
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from . import (
    big_result,
    born_digital,
    cache_hit,
    capacity,
    latency,
    memory,
    recovery,
    scaling,
    single_page,
    stores,
    throughput,
)
from .harness import CORES, PRIORITY, Row, Servers, prioritise

BENCHMARKS = {
    "throughput": throughput.measure,
    "born_digital": born_digital.measure,
    "cache": cache_hit.measure,
    "latency": latency.measure,
    "memory": memory.measure,
    "scaling": scaling.measure,
    "single_page": single_page.measure,
    "capacity": capacity.measure,
    "big_result": big_result.measure,
    "recovery": recovery.measure,
    "stores": stores.measure,
}
RESULTS = Path(__file__).resolve().parent / "results"
def table(rows: list[Row], title: str):
    from rich.table import Table

    t = Table(title=title, show_lines=True)
    for column in ("benchmark", "service", "baseline", "ratio", "target", "result"):
        t.add_column(column, overflow="fold")
    for row in rows:
        verdict = "[green]PASS[/green]" if row.passed else "[red]FAIL[/red]"
        measured = row.measured + (f"\n[dim]{row.note}[/dim]" if row.note else "")
        t.add_row(row.name, measured, row.baseline, f"{row.ratio:.2f}x", row.target, verdict)
    t.caption = f"{sum(r.passed for r in rows)} of {len(rows)} targets met"
    return t


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="name", help=f"some of: {', '.join(BENCHMARKS)} (default: all)")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    if unknown := set(names) - set(BENCHMARKS):
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    console = Console(width=160)
    prioritised = prioritise()

    rows: list[Row] = []
    timings: dict[str, float] = {}
    load: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="ocr-bench-") as tmp:
        servers = Servers(Path(tmp))
        try:
            for name in names:
                console.log(f"running {name} (load average {os.getloadavg()[0]:.1f})")
                load[name] = {"before": os.getloadavg()[0]}
                started = time.perf_counter()
                workdir = Path(tmp) / name
                workdir.mkdir()
                try:
                    rows += BENCHMARKS[name](servers, workdir)
                except Exception as error:  # one broken benchmark must not hide the others' numbers
                    console.print_exception()
                    rows.append(Row(name, f"ERROR: {type(error).__name__}: {error}", "", float("nan"), ">= 1",
                                    verdict=False))
                timings[name] = time.perf_counter() - started
                load[name]["after"] = os.getloadavg()[0]
                console.log(f"{name} took {timings[name]:.0f} s")
        finally:
            servers.stop()

    stamp = datetime.now(UTC)
    console.print(table(rows, f"OCR service benchmarks, {stamp:%Y-%m-%d %H:%M} UTC, {CORES} cores"))
    RESULTS.mkdir(exist_ok=True)
    report = {
        "time": stamp.isoformat(), "machine": {"cores": CORES, "platform": platform.platform(),
                                               "python": platform.python_version()},
        "priority": PRIORITY if prioritised else None, "seconds": timings, "load_average": load,
        "rows": [{**asdict(row), "passed": row.passed} for row in rows],
    }
    for path in (RESULTS / f"bench-{stamp:%Y%m%dT%H%M%S}.json", RESULTS / "latest.json"):
        path.write_text(json.dumps(report, indent=2, default=str))
    console.print(f"JSON: {RESULTS / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Page ranges as users write them (`1-3,7`, as OCRmyPDF's `--pages`): parsed without expanding them,
so `1-1000000000` costs nothing until it is checked against the document's page count."""

from __future__ import annotations

import re

from .errors import DocumentError

_PART = re.compile(r"^\s*(\d{1,9})\s*(?:-\s*(\d{1,9})\s*)?$")
EXAMPLE = "e.g. `1-3,7` (1-based, first-last, comma-separated)"


def parse_page_ranges(spec: str) -> list[tuple[int, int]]:
    """The ranges `spec` names, sorted and merged: `7,1-3,2` -> [(1, 3), (7, 7)].
    Raises DocumentError(`invalid_pages`) naming the part that is not a valid range."""
    if not spec.strip():
        raise DocumentError("invalid_pages", f"The page range is empty; name pages {EXAMPLE}.")
    ranges = []
    for part in spec.split(","):
        match = _PART.match(part)
        if match is None:
            raise DocumentError("invalid_pages", f"Invalid page range {part.strip()!r} in {spec!r}: use {EXAMPLE}.")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if first < 1:
            raise DocumentError("invalid_pages", f"Invalid page range {part.strip()!r} in {spec!r}: "
                                                 "pages are numbered from 1.")
        if last < first:
            raise DocumentError("invalid_pages", f"Invalid page range {part.strip()!r} in {spec!r}: "
                                                 "the first page is after the last.")
        ranges.append((first, last))
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def canonical_page_ranges(spec: str) -> str:
    """One spelling per selection (`7, 1-3,2` -> `1-3,7`): the cache key and the record carry this."""
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in parse_page_ranges(spec))


def page_numbers(spec: str) -> list[int]:
    """The page numbers of a range already checked against its document (the runner's work list)."""
    return [n for first, last in parse_page_ranges(spec) for n in range(first, last + 1)]


def select_pages(spec: str, page_count: int) -> list[int]:
    """The page numbers `spec` names in a document of `page_count` pages, in order.
    Raises DocumentError(`invalid_pages`) when a range goes beyond the last page."""
    ranges = parse_page_ranges(spec)
    if ranges[-1][1] > page_count:
        raise DocumentError("invalid_pages", f"The page range {spec!r} goes beyond the document's last page "
                                             f"({page_count}).")
    return [n for first, last in ranges for n in range(first, last + 1)]

"""One page read by several OCR processes at once. When OCR processes would otherwise idle, the image
Tesseract is about to read is cut into horizontal bands at blank rows (never through a text line),
each band is read by its own process, and the words are joined back in reading order, mapped to the
page like those of a whole-page read.

The steps are pure functions so the process pool can run each where it belongs: `cut_rows` and
`save_image` in the process that prepared the page, `read_band` in any OCR process, `join` wherever
the parts come together (it only moves numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .quality import page_quality

# A page read in bands costs a second call, an image file and Tesseract's per-image set-up, and its
# preparation is not shortened: measured, a page of about a dozen lines or fewer came back no sooner
# split than whole, so each band needs several lines.
MIN_BAND_LINES = 5
# The smallest run of blank rows worth cutting in, as a share of the text line height: the rows
# between two lines of single-spaced text are about a third of a line.
MIN_GAP = 0.2
# A cut is refused where the lines on either side have a vertical blank run wider than this many line
# heights (a gutter between columns, a borderless table): Tesseract reads such text column by column,
# and bands cut across the columns would interleave them.
GUTTER = 1.0
CONTEXT_LINES = 3  # lines on each side of a cut checked for a gutter
# On a page with rules, looking for ruled tables costs about as much as reading this many ink pixels
# per pixel of the image (measured on a letter page at 300 DPI: 0.16 s for the search against 1.2 s
# for 30 lines of text); the band whose process also looks for tables gets that much less text.
TABLES_COST = 0.008
IMAGE_NAME = "page.pgm"  # uncompressed: written and read in milliseconds, and any Pillow opens it


@dataclass(frozen=True)
class SplitRequest:
    """Cut the page into up to `bands` bands; the prepared image goes into `folder` (private, the
    caller's to delete)."""

    bands: int
    folder: str


def _solid_ink(array: np.ndarray) -> np.ndarray:
    """Dark pixels (Otsu threshold) that belong to a 2x2 block of dark pixels: strokes, not dust specks.
    Row i of the answer covers rows i and i+1 of the image."""
    import cv2

    _, ink = cv2.threshold(array, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    return cv2.erode(ink, np.ones((2, 2), np.uint8), anchor=(0, 0), borderType=cv2.BORDER_CONSTANT,
                     borderValue=0)[:-1, :-1].astype(bool)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the runs of True in a 1-D mask, ends exclusive."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    return np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]


def _has_gutter(solid: np.ndarray, top: int, bottom: int, width: float) -> bool:
    columns = solid[top:bottom].any(axis=0)
    starts, ends = _runs(~columns)
    inner = (starts > 0) & (ends < len(columns))  # margins are not gutters
    return bool(np.any((ends - starts)[inner] >= width))


def cut_rows(image, bands: int, line_height: float | None, head_start: float = 0.0) -> list[int]:
    """Row boundaries [0, cut, ..., height] of up to `bands` bands of roughly equal text, each cut in
    the middle of a blank gap between text lines; [0, height] when the page should not be split.
    `head_start`: work the first band's process does besides reading it, in ink pixels."""
    array = np.asarray(image.convert("L") if image.mode != "L" else image)
    height = array.shape[0]
    if bands < 2 or not line_height or height < 4:
        return [0, height]
    solid = _solid_ink(array)
    profile = solid.sum(axis=1)
    line_starts, line_ends = _runs(profile > 0)
    if len(line_starts) < 2 * MIN_BAND_LINES:
        return [0, height]
    cumulative = np.cumsum(profile, dtype=np.float64)
    total = cumulative[-1] + head_start
    candidates = []  # (line index after the gap, cut row)
    for after in range(MIN_BAND_LINES, len(line_starts) - MIN_BAND_LINES + 1):
        gap_top, gap_bottom = line_ends[after - 1], line_starts[after]
        if gap_bottom - gap_top < max(2.0, MIN_GAP * line_height):
            continue
        above = max(0, after - CONTEXT_LINES)
        below = min(len(line_starts), after + CONTEXT_LINES) - 1
        if _has_gutter(solid, line_starts[above], gap_top, GUTTER * line_height) or \
                _has_gutter(solid, gap_bottom, line_ends[below], GUTTER * line_height):
            continue
        candidates.append((after, int(gap_top + gap_bottom) // 2 + 1))
    cuts: list[tuple[int, int]] = []
    for band in range(1, bands):
        target = total * band / bands - head_start
        last_line = cuts[-1][0] if cuts else 0
        usable = [c for c in candidates if c[0] - last_line >= MIN_BAND_LINES]
        if not usable:
            break
        cuts.append(min(usable, key=lambda c: abs(cumulative[c[1] - 1] - target)))
    return [0, *sorted({row for _, row in cuts}), int(height)]


def save_image(image, request: SplitRequest) -> str:
    path = Path(request.folder) / IMAGE_NAME
    image.save(path, format="PPM")
    return str(path)


def read_band(image_path: str, top: int, bottom: int, language: str, dpi: int, timeout_s: float,
              find_tables: bool = False) -> dict:
    """Read rows [top, bottom) of the prepared page image: {"text", "words"} with boxes in the whole
    image's pixels and lines numbered from 0, or {"tables": True} when `find_tables` finds ruled tables
    on the page (they are read cell by cell, so the page is read whole instead)."""
    from PIL import Image

    from . import engine, tables

    with Image.open(image_path) as image:
        image.load()
        if find_tables and tables.detect_tables(image):
            return {"tables": True}
        band = image.crop((0, top, image.width, bottom))
    rec = engine.recognize(band, language, dpi, timeout_s)
    for word in rec.words:
        x0, y0, x1, y1 = word["bbox"]
        word["bbox"] = [x0, y0 + top, x1, y1 + top]
    return {"text": rec.text.strip("\n"), "words": rec.words}


def join(result: dict, pending: dict, parts: list[dict]) -> dict | None:
    """The page result of a split read: `result` (what process_page returned, without text or words)
    completed with the bands' words in reading order, mapped to page units. None when the page must be
    read whole after all (a band found ruled tables)."""
    if any(part.get("tables") for part in parts):
        return None
    transform, scale, offset = pending["transform"], pending["scale"], pending["offset"]
    words: list[dict] = []
    texts = []
    line = 0
    for part in parts:
        for word in part["words"]:
            words.append({**word, "bbox": transform.box_to_page(word["bbox"], scale, offset),
                          "line": line + word["line"]})
        line = max((w["line"] for w in words), default=-1) + 1
        if part["text"]:
            texts.append(part["text"])
    scored = [w["confidence"] for w in words]
    confidence = round(sum(scored) / len(scored), 2) if scored else None
    page = {**result, "text": "\n".join(texts), "words": words, "confidence": confidence}
    page["quality"] = page_quality(page["source"], words, pending["lines_seen"])
    return page

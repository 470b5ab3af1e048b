"""A page read in bands by idle OCR processes: cut only between text lines and never across columns,
read as well as the whole page, its words where the whole page's are, its hOCR and searchable PDF
right; and pages are read whole when other pages want the processes."""

from __future__ import annotations

import re

import pytest

from ocr_service.jobs.pool import PagePool
from ocr_service.pipeline import Limits, PageOptions, process_page
from ocr_service.pipeline.bands import cut_rows
from ocr_service.pipeline.outputs import write_output
from tests.support import samples

CER_MARGIN = 0.001  # a split read may be worse than the whole-page read by at most 0.1 point


def _line_boxes(text: str, dpi: int, font_size: float, margin: float = 72.0) -> list[tuple[int, int]]:
    """Top and bottom row of each line as samples.text_image draws it (one column, no skew)."""
    from PIL import Image, ImageDraw

    px = dpi / 72.0
    face = samples._font(font_size * px)
    draw = ImageDraw.Draw(Image.new("L", (10, 10)))
    boxes = []
    for row, line in enumerate(text.split("\n")):
        _, top, _, bottom = draw.textbbox((margin * px, margin * px + row * font_size * 1.45 * px), line, font=face)
        boxes.append((top, bottom))
    return boxes


@pytest.mark.parametrize(("bands", "font_size", "lines"), [(2, 12.0, 30), (3, 10.0, 40), (4, 12.0, 24)])
def test_cuts_fall_between_text_lines(bands, font_size, lines):
    text = samples.sample_text(11 + bands, lines=lines)
    image = samples.text_image(text, font_size=font_size, seed=bands)  # with grain and dust specks
    line_height = font_size / 72 * 300
    rows = cut_rows(image, bands, line_height)
    assert len(rows) == bands + 1, rows  # the page was cut as asked
    assert rows[0] == 0 and rows[-1] == image.height and rows == sorted(rows)
    for top, bottom in _line_boxes(text, 300, font_size):
        inside = [i for i in range(bands) if rows[i] <= top and bottom <= rows[i + 1]]
        assert len(inside) == 1, f"the line at rows {top}-{bottom} is cut by {rows}"


def test_two_columns_are_not_cut_across():
    """Bands across two columns would interleave them; the page is read whole."""
    text = samples.sample_text(5, lines=40, width=30)
    image = samples.text_image(text, columns=2, seed=5)
    assert cut_rows(image, 2, 50.0) == [0, image.height]


def test_a_few_lines_are_not_worth_cutting():
    image = samples.text_image(samples.sample_text(6, lines=4), seed=6)
    assert cut_rows(image, 2, 50.0) == [0, image.height]


@pytest.fixture(scope="module")
def pools():
    split, whole = PagePool(2), PagePool(2, split_pages=False)
    yield split, whole
    split.shutdown(), whole.shutdown()


def _read(pool: PagePool, path, numbers=(1,)) -> list[dict]:
    return sorted(pool.run_pages(path, list(numbers), PageOptions(), Limits()), key=lambda p: p["number"])


def _overlap(a, b) -> float:
    """Intersection over union of two boxes."""
    x0, y0, x1, y1 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _same_boxes(split: dict, whole: dict) -> float:
    """Share of the split read's words that lie where a whole-page word of the same text lies."""
    matched = sum(any(w["text"] == v["text"] and _overlap(w["bbox"], v["bbox"]) > 0.7 for v in whole["words"])
                  for w in split["words"])
    return matched / len(split["words"])


@pytest.mark.parametrize("case", ["pdf", "png-skewed"])
def test_a_split_page_reads_like_the_whole_page(pools, tmp_path, case):
    split_pool, whole_pool = pools
    truth = samples.sample_text(21, lines=30)
    if case == "pdf":
        path = tmp_path / "scan.pdf"
        path.write_bytes(samples.scanned_pdf([truth], seed=21))
    else:  # turned by 2 degrees: its words come back through the deskew as well
        path = tmp_path / "scan.png"
        path.write_bytes(samples.png_page(truth, seed=21, skew=2.0))
    before = split_pool.pages_split
    [split] = _read(split_pool, path)
    assert split_pool.pages_split == before + 1  # it was read in bands
    [whole] = _read(whole_pool, path)
    assert whole_pool.pages_split == 0
    assert samples.cer(truth, split["text"]) <= samples.cer(truth, whole["text"]) + CER_MARGIN
    assert samples.cer(truth, " ".join(w["text"] for w in split["words"])) <= CER_MARGIN + samples.cer(
        truth, " ".join(w["text"] for w in whole["words"]))
    assert _same_boxes(split, whole) >= 0.95
    lines = [w["line"] for w in split["words"]]
    assert lines == sorted(lines) and len(set(lines)) == len(truth.split("\n"))  # reading order, one per line
    for key in ("source", "width", "height", "units", "rotation", "dpi", "language"):
        assert split[key] == whole[key], key
    assert split["skew"] == whole["skew"] and (case == "pdf" or abs(split["skew"]) > 1)
    assert abs(split["confidence"] - whole["confidence"]) < 2 and split["quality"]["verdict"] == "good"
    assert "pending" not in split


def test_the_outputs_of_a_split_page(pools, tmp_path):
    """The searchable PDF's text layer and the hOCR's words of a page read in bands."""
    import pypdfium2 as pdfium

    split_pool, _ = pools
    truth = samples.sample_text(31, lines=30)
    path = tmp_path / "scan.pdf"
    path.write_bytes(samples.scanned_pdf([truth], seed=31))
    before = split_pool.pages_split
    pages = _read(split_pool, path)
    assert split_pool.pages_split == before + 1

    pdf_path = tmp_path / "searchable.pdf"
    write_output(path, "doc", pages, "pdf", pdf_path)
    pdf = pdfium.PdfDocument(pdf_path)
    page = pdf[0]
    textpage = page.get_textpage()
    assert samples.cer(truth, textpage.get_text_bounded()) <= samples.cer(truth, pages[0]["text"]) + CER_MARGIN
    # each text line's words sit on that line's ink: the text under a line's box is that line
    first = [w for w in pages[0]["words"] if w["line"] == 0]
    x0, y0 = min(w["bbox"][0] for w in first), min(w["bbox"][1] for w in first)
    x1, y1 = max(w["bbox"][2] for w in first), max(w["bbox"][3] for w in first)
    height = page.get_height()
    under = textpage.get_text_bounded(left=x0 - 2, bottom=height - y1, right=x1 + 2, top=height - y0)
    assert samples.cer(truth.split("\n")[0], under) < 0.05
    textpage.close(), page.close(), pdf.close()

    hocr_path = tmp_path / "page.html"
    write_output(path, "doc", pages, "hocr", hocr_path)
    hocr = hocr_path.read_text()
    words = re.findall(r"class=.ocrx_word.[^>]*title=.bbox (\d+) (\d+) (\d+) (\d+)[^>]*>([^<]*)<", hocr)
    assert len(words) == len(pages[0]["words"])
    assert samples.cer(truth, " ".join(w[4] for w in words)) <= samples.cer(truth, pages[0]["text"]) + CER_MARGIN
    lines = re.findall(r'class="ocr_line"', hocr)
    assert len(lines) == len(truth.split("\n"))


def test_pages_are_read_whole_while_others_wait(tmp_path):
    """Two pages on two processes: each has a process of its own, neither is split."""
    truth = [samples.sample_text(41 + n, lines=30) for n in range(2)]
    path = tmp_path / "two.pdf"
    path.write_bytes(samples.scanned_pdf(truth, seed=41))
    pool = PagePool(2)
    try:
        pages = _read(pool, path, (1, 2))
        assert pool.pages_split == 0
        assert [samples.cer(t, p["text"]) for t, p in zip(truth, pages, strict=True)] == [0.0, 0.0]
        _read(pool, path, (2,))  # alone, the same page is split
        assert pool.pages_split == 1
    finally:
        pool.shutdown()


def test_a_band_that_crashes_its_process_costs_the_page_a_whole_read(tmp_path, monkeypatch):
    """A crash in a band is the page's: it is read again, whole, on a fresh process."""
    monkeypatch.setenv("OCR_SANDBOX_FAULT", "read_band:abort")
    truth = samples.sample_text(51, lines=30)
    path = tmp_path / "scan.pdf"
    path.write_bytes(samples.scanned_pdf([truth], seed=51))
    pool = PagePool(2)
    try:
        [page] = _read(pool, path)
        assert pool.crashes >= 1 and pool.pages_split == 0
        assert samples.cer(truth, page["text"]) < 0.01
    finally:
        pool.shutdown()


def test_process_page_without_a_split_request_is_unchanged(tmp_path):
    truth = samples.sample_text(61, lines=30)
    path = tmp_path / "scan.pdf"
    path.write_bytes(samples.scanned_pdf([truth], seed=61))
    page = process_page(path, 1)
    assert "pending" not in page and samples.cer(truth, page["text"]) < 0.01


def test_a_page_is_read_whole_while_other_documents_wait(tmp_path):
    """Processes a lone page leaves idle go to the documents waiting in the queue, not to its bands."""
    truth = samples.sample_text(71, lines=30)
    path = tmp_path / "scan.pdf"
    path.write_bytes(samples.scanned_pdf([truth], seed=71))
    pool = PagePool(2)
    try:
        [page] = pool.run_pages(path, [1], PageOptions(), Limits(), others_waiting=lambda: True)
        assert pool.pages_split == 0 and samples.cer(truth, page["text"]) < 0.01
        [page] = pool.run_pages(path, [1], PageOptions(), Limits(), others_waiting=lambda: False)
        assert pool.pages_split == 1 and samples.cer(truth, page["text"]) < 0.01
    finally:
        pool.shutdown()

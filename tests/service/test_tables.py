"""Ruled tables: found on the page image, read cell by cell, returned as rows of cells (JSON and hOCR);
the text around them unchanged; a borderless table stays text.

Three pages are OCR'd, once each (module fixture).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from ocr_service.pipeline import Limits, PageOptions, process_page
from ocr_service.pipeline.outputs import render_hocr
from ocr_service.pipeline.tables import detect_tables
from tests.support import samples

BEFORE = "Invoice 4821 for the office supplies ordered in March"
AFTER = "Payment is due on receipt of this invoice."
TABLES = {"ruled-5x4": (70, 5, 4), "ruled-8x3": (71, 8, 3)}


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    out = {}
    for name, (seed, rows, cols) in TABLES.items():
        cells = samples.table_rows(seed, rows=rows, cols=cols)
        path = folder / f"{name}.pdf"
        path.write_bytes(samples.table_pdf(cells, before=BEFORE, after=AFTER, seed=seed))
        out[name] = (cells, process_page(path, 1, PageOptions(), Limits()))
    cells = samples.table_rows(72, rows=5, cols=4)
    path = folder / "borderless.pdf"
    path.write_bytes(samples.table_pdf(cells, before=BEFORE, after=AFTER, ruled=False, seed=72))
    out["borderless"] = (cells, process_page(path, 1, PageOptions(), Limits()))
    return out


def test_ruled_tables_come_back_cell_by_cell(pages):
    right = total = 0
    for name in TABLES:
        cells, page = pages[name]
        [table] = page["tables"]
        assert (len(table["rows"]), len(table["rows"][0])) == (len(cells), len(cells[0])), name
        right += sum(found == truth for row_f, row_t in zip(table["rows"], cells, strict=True)
                     for found, truth in zip(row_f, row_t, strict=True))
        total += sum(len(row) for row in cells)
        x0, y0, x1, y1 = table["bbox"]
        assert 60 <= x0 < x1 <= 560 and 72 < y0 < y1 < 500  # page points, around the drawn grid
    assert right / total >= 0.95, (right, total)


def test_text_around_a_table_is_read_as_before(pages):
    cells, page = pages["ruled-5x4"]
    lines = page["text"].split("\n")
    assert samples.cer(BEFORE, lines[0]) <= 0.02 and samples.cer(AFTER, lines[-1]) <= 0.02
    # the table's rows stand between them, cells apart (tab-separated), each once
    rows = lines[1:-1]
    assert len(rows) == len(cells)
    assert samples.cer("\n".join("\t".join(r) for r in cells), "\n".join(rows)) <= 0.02
    outside = [w for w in page["words"] if "table" not in w]
    assert samples.cer(BEFORE + " " + AFTER, " ".join(w["text"] for w in outside)) <= 0.02


def test_hocr_holds_the_table_as_ocr_table_with_cells(pages):
    _, page = pages["ruled-5x4"]
    document = ET.fromstring(render_hocr("tables", [page]))
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    [table] = document.findall(".//h:table[@class='ocr_table']", ns)
    rows = table.findall("h:tr", ns)
    assert len(rows) == len(page["tables"][0]["rows"])
    for row, truth in zip(rows, page["tables"][0]["rows"], strict=True):
        cells = row.findall("h:td[@class='ocrx_cell']", ns)
        assert [" ".join(w.text for w in c.findall("h:span[@class='ocrx_word']", ns)) for c in cells] == truth
        assert all(c.get("title").startswith("bbox ") for c in cells)
    # table words are inside the table only, not repeated as lines
    line_words = [w.text for w in document.findall(".//h:span[@class='ocr_line']/h:span", ns)]
    assert "Quantity" not in line_words


def test_a_borderless_table_is_text_not_a_wrong_table(pages):
    cells, page = pages["borderless"]
    assert page["tables"] == []
    # read as text, in the order Tesseract's layout analysis gives its columns: every word is there
    truth = " ".join([BEFORE, *(" ".join(row) for row in cells), AFTER]).split()
    read = page["text"].split()
    assert sorted(read) == sorted(truth) or samples.cer(" ".join(sorted(truth)), " ".join(sorted(read))) <= 0.02


def test_underlines_and_a_boxed_paragraph_are_not_tables():
    from PIL import ImageDraw

    image = samples.text_image(samples.sample_text(seed=73, lines=8), noise=False)
    draw = ImageDraw.Draw(image)
    draw.line([(300, 250), (1500, 250)], fill=0, width=3)  # an underline
    draw.line([(300, 700), (2200, 700)], fill=0, width=3)  # a rule across the page
    draw.rectangle([280, 1400, 2270, 1900], outline=0, width=3)  # a box: one cell is no table
    assert detect_tables(image) == []

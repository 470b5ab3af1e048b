"""OCR quality on a small version of the accuracy corpus: orientation, deskew, resolution,
hybrid text layers, image inputs, and the hOCR / searchable-PDF outputs.

Bounds: every rotated, skewed and low/high-resolution page reaches a CER within 1.5x of the upright
300 DPI page. Upright CER is often exactly 0 on clean generated pages, where "1.5x" would demand
perfection, so the bound is max(1.5 x upright, 1%).

Cost: ~15 OCR'd pages of 6 lines (~0.5-1 s each), each recognised once (module-scoped fixtures).
"""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pypdfium2 as pdfium
import pytest

from ocr_service.pipeline import Limits, PageOptions, engine, inspect_document, preprocess, process_page
from ocr_service.pipeline.outputs import render_hocr, render_searchable_pdf
from ocr_service.pipeline.textlayer import read_text_layer
from tests.support import samples
from tests.support.corpus import DATA

GEOMETRY = [
    "rotated-90",
    "rotated-180",
    "rotated-270",
    "pdf-rotate-90",
    "skewed+3",
    "skewed-3",
    "scan-150dpi",
    "scan-600dpi",
    "poster-small-print",
]
TEXT_LAYERS = ["unmapped-font", "wrong-unicode-map", "born-digital"]
CORPUS_DIR = DATA


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Each case's document on disk, its truth, the baseline image for plain tesseract, and the
    service's result for page 1 (computed once)."""
    folder = tmp_path_factory.mktemp("quality")
    cases = {}
    for case in samples.quality_corpus(lines=6, seed=21, names=["upright-300dpi", *GEOMETRY, *TEXT_LAYERS]):
        data, image, dpi = case.build()
        document = folder / f"{case.name}.pdf"
        document.write_bytes(data)
        baseline = folder / f"{case.name}.png"
        if case.name == "upright-300dpi":
            image.save(baseline, dpi=(dpi, dpi))
        cases[case.name] = {
            "case": case,
            "path": document,
            "baseline": baseline,
            "result": process_page(document, 1, PageOptions(), Limits()),
        }
    return cases


def _bound(corpus) -> float:
    upright = samples.cer(corpus["upright-300dpi"]["case"].truth, corpus["upright-300dpi"]["result"]["text"])
    return max(1.5 * upright, 0.01)


def test_upright_page_is_read_at_least_as_well_as_plain_tesseract(corpus):
    entry = corpus["upright-300dpi"]
    done = subprocess.run(
        ["tesseract", str(entry["baseline"]), "stdout", "-l", "eng"],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        check=True,
    )
    ours = samples.cer(entry["case"].truth, entry["result"]["text"])
    theirs = samples.cer(entry["case"].truth, done.stdout)
    assert ours <= theirs
    assert ours <= 0.02
    assert (entry["result"]["rotation"], entry["result"]["skew"]) == (0, 0.0)


@pytest.mark.parametrize("name", GEOMETRY)
def test_rotated_skewed_and_resolution_cases_read_like_the_upright_page(corpus, name):
    entry = corpus[name]
    result = entry["result"]
    assert result["source"] == "ocr"
    assert samples.cer(entry["case"].truth, result["text"]) <= _bound(corpus), result["text"]
    expect = entry["case"].expect
    if "rotation" in expect:
        assert result["rotation"] == expect["rotation"]
    if "skew" in expect:
        assert result["skew"] == pytest.approx(expect["skew"], abs=0.3)
    else:
        assert abs(result["skew"]) < 0.3


def test_resolution_follows_the_scan(corpus):
    # a 150 DPI scan is read at its own resolution (upsampling only blurs), a 600 DPI one is brought
    # down to ~300, and a small-print scan on a poster is rendered at its 400 DPI, cropped to itself
    assert corpus["scan-150dpi"]["result"]["dpi"] == 150
    assert 280 <= corpus["scan-600dpi"]["result"]["dpi"] <= 330
    assert corpus["poster-small-print"]["result"]["dpi"] == 400


def test_word_boxes_land_on_the_ink_of_the_displayed_page(corpus):
    for name in ("rotated-90", "rotated-180", "pdf-rotate-90", "skewed+3", "poster-small-print"):
        result = corpus[name]["result"]
        pdf = pdfium.PdfDocument(str(corpus[name]["path"]))
        scale = 0.5
        pixels = np.asarray(pdf[0].render(scale=scale, grayscale=True).to_pil())
        assert pixels.shape == (round(result["height"] * scale), round(result["width"] * scale))
        inside = [
            pixels[
                int(w["bbox"][1] * scale) : int(w["bbox"][3] * scale) + 1,
                int(w["bbox"][0] * scale) : int(w["bbox"][2] * scale) + 1,
            ].mean()
            for w in result["words"]
        ]
        page_mean = pixels.mean()
        assert np.mean(inside) < page_mean - 30, name  # word boxes are much darker than the page
        pdf.close()


def test_pages_whose_text_layer_is_not_real_text_are_ocrd(corpus):
    for name, reason in (("unmapped-font", "unmapped glyphs"), ("wrong-unicode-map", "not readable text")):
        entry = corpus[name]
        assert entry["result"]["source"] == "ocr" and reason in entry["result"]["reason"]
        assert samples.cer(entry["case"].truth, entry["result"]["text"]) <= _bound(corpus)


def test_genuine_text_layer_pages_are_not_ocrd(corpus, tmp_path):
    entry = corpus["born-digital"]
    assert entry["result"]["source"] == "text-layer"
    assert entry["result"]["text"] == entry["case"].truth
    # an invisible OCR layer over a scan (our own searchable PDF) is real text too: taken, not re-OCR'd
    scan = corpus["upright-300dpi"]
    searchable = tmp_path / "searchable.pdf"
    searchable.write_bytes(render_searchable_pdf(scan["path"], [scan["result"]]))
    before = engine.engines_created
    original, calls = engine.recognize, []
    engine.recognize = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        again = process_page(searchable, 1, PageOptions(), Limits())
    finally:
        engine.recognize = original
    assert (calls, engine.engines_created) == ([], before)
    assert again["source"] == "text-layer"
    assert samples.cer(scan["result"]["text"], again["text"]) <= 0.01


def test_born_digital_page_with_a_large_photo_keeps_its_text_layer(tmp_path):
    # the photo's ink is not covered by text, but it is no text either (solid areas, not strokes)
    text = samples.sample_text(seed=26, lines=6)
    path = tmp_path / "photo.pdf"
    path.write_bytes(samples.photo_page_pdf(text))
    result = process_page(path, 1, PageOptions(), Limits())
    assert (result["source"], result["text"]) == ("text-layer", text)


def test_scan_with_a_partial_text_layer_is_ocrd(tmp_path):
    text = samples.sample_text(seed=22, lines=5)
    path = tmp_path / "partial.pdf"
    path.write_bytes(samples.partial_text_pdf(text, header="Archive copy 2024"))
    layer_only = process_page(path, 1, PageOptions(mode="text"), Limits())
    assert layer_only["text"] == "Archive copy 2024"
    result = process_page(path, 1, PageOptions(), Limits())
    assert result["source"] == "ocr" and "part of the page" in result["reason"]
    assert samples.cer("Archive copy 2024\n" + text, result["text"]) <= 0.02


def test_text_layer_words_are_placed_on_the_displayed_page_of_a_rotated_pdf(tmp_path):
    text = "Rotated born-digital page\nwith a second line of text"
    path = tmp_path / "rotated-text.pdf"
    path.write_bytes(samples.set_rotation(samples.text_pdf([text], font_size=24), 90))
    result = process_page(path, 1, PageOptions(), Limits())
    assert result["source"] == "text-layer" and (result["width"], result["height"]) == (792.0, 612.0)
    pixels = np.asarray(pdfium.PdfDocument(str(path))[0].render(scale=1, grayscale=True).to_pil())
    for word in result["words"]:
        x0, y0, x1, y1 = (int(v) for v in word["bbox"])
        if len(word["text"]) >= 3:
            assert y1 - y0 > x1 - x0  # the page is turned: words run downwards
        assert pixels[y0 : y1 + 1, x0 : x1 + 1].mean() < 200


def test_image_inputs_are_detected_from_bytes_and_read_upright(tmp_path):
    text = samples.sample_text(seed=23, lines=5)
    path = tmp_path / "scan.png"  # a JPEG under a PNG name
    path.write_bytes(samples.jpeg_page(text, rotate=90, page_size=(612, 300)))
    info = inspect_document(path, Limits())
    assert (info.kind, info.media_type, info.page_count) == ("image", "image/jpeg", 1)
    result = process_page(path, 1, PageOptions(), Limits())
    assert result["rotation"] == 270 and result["units"] == "px"
    assert samples.cer(text, result["text"]) <= 0.02
    pdf_bytes = render_searchable_pdf(path, [result])
    pdf = pdfium.PdfDocument(pdf_bytes)
    assert len(pdf) == 1 and pdf[0].get_size() == pytest.approx((300.0, 612.0), abs=0.01)
    assert samples.cer(result["text"], pdf[0].get_textpage().get_text_range()) <= 0.01


def test_real_rotated_scan_is_read_exactly():
    result = process_page(CORPUS_DIR / "phototest-rotated-R.png", 1, PageOptions(), Limits())
    assert result["rotation"] == 270
    assert samples.cer((CORPUS_DIR / "phototest.txt").read_text(), result["text"]) == 0.0


# ---------------------------------------------------------------- outputs


@pytest.mark.parametrize("name", ["upright-300dpi", "rotated-180", "pdf-rotate-90", "poster-small-print"])
def test_searchable_pdf_keeps_the_pages_and_its_text_matches_the_ocr(corpus, name):
    entry = corpus[name]
    output = render_searchable_pdf(entry["path"], [entry["result"]])
    original = pdfium.PdfDocument(str(entry["path"]))
    searchable = pdfium.PdfDocument(output)
    assert len(searchable) == len(original)
    page = searchable[0]
    assert page.get_size() == original[0].get_size()
    assert page.get_rotation() == original[0].get_rotation()
    assert any(isinstance(obj, pdfium.PdfImage) for obj in page.get_objects())  # the scan is still there
    layer = read_text_layer(page, page.get_textpage())
    assert samples.cer(entry["result"]["text"], layer.text) <= 0.01
    # each invisible word sits on its OCR'd word
    for ocr_word, pdf_word in zip(entry["result"]["words"], layer.words, strict=True):
        assert ocr_word["text"] == pdf_word["text"]
        centre = ((pdf_word["bbox"][0] + pdf_word["bbox"][2]) / 2, (pdf_word["bbox"][1] + pdf_word["bbox"][3]) / 2)
        x0, y0, x1, y1 = ocr_word["bbox"]
        assert x0 - 4 <= centre[0] <= x1 + 4 and y0 - 4 <= centre[1] <= y1 + 4
    # the words are invisible: the searchable page renders like the original
    before = np.asarray(original[0].render(scale=0.5, grayscale=True).to_pil(), dtype=np.int16)
    after = np.asarray(page.render(scale=0.5, grayscale=True).to_pil(), dtype=np.int16)
    assert np.abs(before - after).max() <= 2


def test_hocr_is_valid_xhtml_with_every_word(corpus):
    pages = [dict(corpus["upright-300dpi"]["result"], number=1), dict(corpus["rotated-90"]["result"], number=2)]
    document = ET.fromstring(render_hocr("doc <1>", pages))
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    divs = document.findall(".//h:div[@class='ocr_page']", ns)
    assert [d.get("id") for d in divs] == ["page_1", "page_2"]
    assert "bbox 0 0 2550 3300" in divs[0].get("title")  # Letter at 300 DPI
    for div, page in zip(divs, pages, strict=True):
        words = div.findall(".//h:span[@class='ocrx_word']", ns)
        assert [w.text for w in words] == [w["text"] for w in page["words"]]
        assert all("x_wconf" in w.get("title") for w in words)
    assert "textangle 270" in divs[1].find(".//h:span[@class='ocr_line']", ns).get("title")
    assert document.find(".//h:title", ns).text == "doc <1>"


def test_searchable_pdf_keeps_text_outside_latin_1(tmp_path):
    """Words WinAnsi cannot encode switch the invisible layer to an embedded Unicode font."""
    original = tmp_path / "blank.pdf"
    original.write_bytes(samples.scanned_pdf([""], noise=False, page_size=(300, 200)))
    words = [
        {"text": t, "bbox": [20 + 90 * i, 40, 100 + 90 * i, 60], "confidence": 90.0, "line": 0}
        for i, t in enumerate(["Łódź", "Ωmega", "plain"])
    ]
    page = {
        "number": 1,
        "source": "ocr",
        "text": "Łódź Ωmega plain",
        "words": words,
        "rotation": 0,
        "width": 300.0,
        "height": 200.0,
        "units": "pt",
    }
    pdf = pdfium.PdfDocument(render_searchable_pdf(original, [page]))
    assert pdf[0].get_textpage().get_text_range().split() == ["Łódź", "Ωmega", "plain"]


def test_small_print_turned_page_is_read_upright(tmp_path):
    # OSD on a reduced copy of 8 pt text guesses; the pipeline reduces only large text before OSD
    case = samples.quality_corpus(lines=6, seed=24, names=["rotated-90"], font_size=8)[0]
    data, _, _ = case.build()
    path = tmp_path / "small.pdf"
    path.write_bytes(data)
    result = process_page(path, 1, PageOptions(), Limits())
    assert (result["rotation"], result["dpi"]) == (270, 300)
    assert samples.cer(case.truth, result["text"]) <= 0.02


def test_layout_analysis_measures_skew_line_height_and_sideways_text():
    text = samples.sample_text(seed=25, lines=12)
    level = preprocess.analyse(samples.text_image(text, skew=2.0), both_axes=True)
    assert level.skew == pytest.approx(2.0, abs=0.2) and not level.sideways
    assert 30 <= level.line_height <= 46  # 12 pt at 300 DPI
    turned = preprocess.analyse(samples.text_image(text, rotate=90, dpi=150), both_axes=True)
    assert turned.sideways and 15 <= turned.line_height <= 23

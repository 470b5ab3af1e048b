"""Text layers that lie: real PDF files (tests/data/fonts, built object by object, see its README) whose
glyphs show the right text while their text layer decodes to something else, and their honest twins.

Each file's page is processed once (module fixture): ~10 small pages, most OCR'd.
"""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest

from ocr_service.pipeline import Limits, PageOptions, engine, process_page
from ocr_service.pipeline.outputs import render_searchable_pdf
from ocr_service.pipeline.textlayer import read_text_layer, verify_fonts
from tests.support import samples
from tests.support.corpus import DATA

FONTS = DATA / "fonts"
TRUTH = "\n".join(samples.FONT_CASE_LINES)
LYING = ["truetype-no-tounicode", "symbolic-30", "type3", "wrong-tounicode", "actualtext-lying"]
HONEST = ["good-truetype", "actualtext-honest"]


@pytest.fixture(scope="module")
def results():
    return {path.stem: process_page(path, 1, PageOptions(), Limits()) for path in sorted(FONTS.glob("*.pdf"))}


def _layer(name: str) -> str:
    pdf = pdfium.PdfDocument(str(FONTS / f"{name}.pdf"))
    try:
        return pdf[0].get_textpage().get_text_range()
    finally:
        pdf.close()


def test_the_files_lie_as_built():
    # what a trusting extractor returns: the '"7+%-' kind of garbage of a font with no Unicode map
    assert samples.cer(TRUTH, _layer("truetype-no-tounicode")) > 0.5
    assert _layer("truetype-no-tounicode-short").strip() == '!"#$%'
    assert _layer("wrong-tounicode-short").strip() == "Cubar"
    assert samples.cer(TRUTH, _layer("good-truetype")) == 0.0


@pytest.mark.parametrize("name", LYING)
def test_a_lying_text_layer_is_ocrd(results, name):
    result = results[name]
    assert result["source"] == "ocr", result["reason"]
    assert samples.cer(TRUTH, result["text"]) <= 0.02, result["text"]


@pytest.mark.parametrize("name", ["truetype-no-tounicode-short", "wrong-tounicode-short"])
def test_a_single_word_in_a_lying_font_is_read_from_its_glyphs(results, name):
    result = results[name]
    assert (result["source"], result["text"].strip()) == ("ocr", "Phone")


@pytest.mark.parametrize("name", HONEST)
def test_an_honest_text_layer_is_kept(results, name):
    result = results[name]
    assert result["source"] == "text-layer"
    assert samples.cer(TRUTH, result["text"]) == 0.0


def test_a_form_keeps_its_real_labels_and_ocrs_the_unmapped_values(results, tmp_path):
    result = results["mixed-fonts"]
    assert result["source"] == "mixed"
    truth = "\n".join(f"{label} {line}" for label, line in zip(samples.FONT_CASE_LABELS, samples.FONT_CASE_LINES,
                                                                 strict=True))
    assert samples.cer(truth, result["text"]) <= 0.02, result["text"]
    by_source = {}
    for word in result["words"]:
        by_source.setdefault(word["source"], []).append(word["text"])
    assert by_source["text-layer"] == samples.FONT_CASE_LABELS  # taken as they are, not re-read
    assert "Phone" in by_source["ocr"]
    # the searchable PDF adds the OCR'd words only: the labels are not there twice
    pdf = pdfium.PdfDocument(render_searchable_pdf(FONTS / "mixed-fonts.pdf", [result]))
    text = pdf[0].get_textpage().get_text_range()
    assert text.count("Contact:") == 1 and "Phone" in text


def _verdicts(name: str, calls: list):
    pdf = pdfium.PdfDocument(str(FONTS / f"{name}.pdf"))
    page = pdf[0]
    layer = read_text_layer(page, page.get_textpage())

    def sample(indices):
        calls.append(indices)
        return 1.0

    verdicts = verify_fonts(layer, sample)
    pdf.close()
    return verdicts


def test_the_cheap_checks_decide_before_any_ocr():
    calls: list = []
    assert [v.check for v in _verdicts("symbolic-30", calls).values()] == ["mapping"]
    assert [v.check for v in _verdicts("type3", calls).values()] == ["mapping"]
    assert [v.check for v in _verdicts("truetype-no-tounicode", calls).values()] == ["symbols"]
    assert calls == []
    # a short run of plausible letters cannot be judged by its looks: only its glyphs can tell
    assert [v.check for v in _verdicts("wrong-tounicode-short", calls).values()] == ["ocr-sample"]
    assert len(calls) == 1


def test_born_digital_prose_is_verified_without_ocr(tmp_path):
    path = tmp_path / "prose.pdf"
    text = samples.sample_text(seed=60, lines=20)
    path.write_bytes(samples.embedded_font_pdf([text], "keep"))
    original, calls = engine.recognize, []
    engine.recognize = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        result = process_page(path, 1, PageOptions(), Limits())
    finally:
        engine.recognize = original
    assert (result["source"], calls) == ("text-layer", [])
    assert result["text"] == text

"""language=auto: one scanned document with an English, a French and a German page (each page detected
on its own), read with the detected language within 0.5 CER points of the right language given.

Each page is read twice (auto, and the language given), once each (module fixture).
"""

from __future__ import annotations

import pytest

from ocr_service.pipeline import DocumentError, Limits, PageOptions, process_page, validate_options
from ocr_service.pipeline.language import detectable_languages
from tests.support import samples

LANGUAGES = ("eng", "fra", "deu")


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    texts = [samples.sample_text_in(lang, seed=80, lines=8) for lang in LANGUAGES]
    path = tmp_path_factory.mktemp("languages") / "three-languages.pdf"
    path.write_bytes(samples.scanned_pdf(texts, seed=80))
    pages = {}
    for number, lang in enumerate(LANGUAGES, start=1):
        auto = process_page(path, number, PageOptions(language="auto"), Limits())
        given = process_page(path, number, PageOptions(language=lang), Limits())
        pages[lang] = (texts[number - 1], auto, given)
    return pages


def test_the_installed_languages_are_detectable():
    assert set(LANGUAGES) <= set(detectable_languages())
    validate_options(PageOptions(language="auto"))
    with pytest.raises(DocumentError):
        validate_options(PageOptions(min_quality="sometimes"))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_page_is_read_in_its_own_language(document, lang):
    truth, auto, given = document[lang]
    assert auto["language"] == lang
    assert auto["language_confidence"] >= 0.5
    assert given["language"] == lang and given["language_confidence"] is None
    assert samples.cer(truth, auto["text"]) <= samples.cer(truth, given["text"]) + 0.005, auto["text"]


def test_accents_survive_where_english_would_lose_them(document):
    truth, auto, _ = document["fra"]
    accented = [w for w in truth.split() if any(c in "àâçéèêëîïôûùüÿœ" for c in w)]
    assert accented and sum(w in auto["text"] for w in accented) >= 0.9 * len(accented)


def test_a_text_layer_page_reports_its_language(tmp_path):
    path = tmp_path / "digital.pdf"
    path.write_bytes(samples.embedded_font_pdf([samples.sample_text_in("deu", seed=81, lines=10)], "keep"))
    result = process_page(path, 1, PageOptions(language="auto"), Limits())
    assert (result["source"], result["language"]) == ("text-layer", "deu")
    assert result["language_confidence"] >= 0.5

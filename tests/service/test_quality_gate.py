"""The quality gate: a verdict per page from its word confidences and the lines it read, the worst page
per document, and min_quality on POST /extract (none | flag | fail) over real HTTP.

Pages OCR'd: a clean and a blurred scan once each (module fixture), and one two-page document through
the embedded service.
"""

from __future__ import annotations

import io

import pytest

from ocr_service.pipeline import Limits, PageOptions, document_quality, process_page
from ocr_service.pipeline.quality import page_quality
from tests.support import samples
from tests.support.documents import Doc
from tests.support.polling import wait_for

TEXT = samples.sample_text(seed=90, lines=10)


def _scan_pdf(conditions: list[str]) -> bytes:
    pdf = samples._new_pdf()
    for index, condition in enumerate(conditions):
        samples.add_image_page(pdf, samples.degraded_scan(TEXT, condition, seed=90 + index), samples.LETTER)
    return samples._save(pdf)


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gate")
    out = {}
    for condition in ("clean", "blur-4.5", "blur-6"):
        path = folder / f"{condition}.png"
        buffer = io.BytesIO()
        samples.degraded_scan(TEXT, condition, seed=91).save(buffer, format="PNG", dpi=(300, 300))
        path.write_bytes(buffer.getvalue())
        out[condition] = process_page(path, 1, PageOptions(), Limits())
    return out


def test_a_clean_scan_is_good(pages):
    quality = pages["clean"]["quality"]
    assert quality["verdict"] == "good" and quality["mean_confidence"] >= 90
    assert quality["low_confidence_share"] <= 0.02


@pytest.mark.parametrize("condition", ["blur-4.5", "blur-6"])
def test_a_badly_blurred_scan_is_poor_and_says_why(pages, condition):
    page = pages[condition]
    assert samples.cer(TEXT, page["text"]) > 0.1  # it really was misread
    assert page["quality"]["verdict"] == "poor"
    assert any(word in page["quality"]["reason"] for word in ("confidence", "lines"))


def test_page_verdicts_from_their_measures():
    words = [{"text": "a", "confidence": 95.0, "line": n} for n in range(10)]
    assert page_quality("ocr", words, 10)["verdict"] == "good"
    assert page_quality("ocr", words[:3], 10)["reason"] == "only 3 of the 10 text lines on the page could be read"
    shaky = words[:8] + [dict(w, confidence=30.0) for w in words[8:]]  # 20% below 60, mean 82
    assert page_quality("ocr", shaky, 10)["verdict"] == "poor"
    assert page_quality("ocr", [], 0)["verdict"] == "good"  # a blank page is not badly read
    assert page_quality("ocr", [], 12)["verdict"] == "poor"  # lines of ink, no word read
    assert page_quality("text-layer", [], 0)["verdict"] == "good"


def test_the_document_verdict_is_its_worst_page():
    good = {"verdict": "good", "mean_confidence": 96.0}
    pages = [{"number": 1, "quality": good}, {"number": 2, "quality": {"verdict": "poor", "mean_confidence": 70.0}},
             {"number": 3, "quality": {"verdict": "poor", "mean_confidence": 40.0}}, {"number": 4, "quality": good}]
    assert document_quality(pages) == {"verdict": "poor", "worst_page": 3, "poor_pages": [2, 3]}
    assert document_quality([pages[0], pages[3]])["verdict"] == "good"


def test_min_quality_over_http(start_service):
    service = start_service("embedded")
    doc = Doc("two.pdf", _scan_pdf(["clean", "blur-6"]), [TEXT, TEXT])
    with service.client() as client:
        languages = client.get("/languages").json()
        assert {"eng", "fra", "deu"} <= set(languages["auto"]["detectable"])
        assert client.post("/extract", files={"file": ("x.pdf", doc.data)},
                           data={"min_quality": "sometimes"}).status_code == 422

        flagged = doc.upload(client, min_quality="flag").json()
        assert wait_for(client, flagged["document_id"])["status"] == "completed"
        result = client.get(f"/result/{flagged['document_id']}").json()
        assert result["quality"] == {"verdict": "poor", "worst_page": 2, "poor_pages": [2]}
        assert [p["quality"]["verdict"] for p in result["pages"]] == ["good", "poor"]

        failed = doc.upload(client, min_quality="fail", document_id="strict").json()
        status = wait_for(client, failed["document_id"])
        assert status["status"] == "failed" and status["error"]["code"] == "low_quality"
        assert "2" in status["error"]["message"] and "1" not in status["error"]["message"].split("(")[0]
        kept = client.get("/result/strict")
        assert kept.status_code == 200  # failed for its quality, still readable
        body = kept.json()
        assert body["status"] == "failed" and samples.cer(TEXT, body["pages"][0]["text"]) <= 0.02

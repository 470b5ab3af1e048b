"""Page ranges (`pages=1-3,7`, as OCRmyPDF's `--pages`) on POST /extract, over HTTP in both modes."""

from __future__ import annotations

import hashlib
import io
import re
import uuid

import pypdf
import pytest

from tests.support import samples
from tests.support.documents import Doc
from tests.support.polling import submit_and_wait, wait_for


@pytest.fixture(scope="module")
def digital_6() -> Doc:
    texts = [samples.sample_text(700 + n, lines=4) for n in range(6)]
    return Doc("digital6.pdf", samples.text_pdf(texts), texts)


@pytest.fixture(scope="module")
def scan_3() -> Doc:
    texts = [samples.sample_text(710 + n, lines=4) for n in range(3)]
    return Doc("scan3.pdf", samples.scanned_pdf(texts, seed=710), texts)


def test_only_the_named_pages_are_processed_and_returned_numbered_as_in_the_document(client, digital_6):
    result = submit_and_wait(client, digital_6, pages="5,1-2")
    status = client.get(f"/check-status/{result['document_id']}").json()
    assert (status["pages_total"], status["pages_done"]) == (3, 3)
    assert result["pages_total"] == 3
    assert [page["number"] for page in result["pages"]] == [1, 2, 5]
    for page in result["pages"]:
        assert page["source"] == "text-layer"
        assert samples.normalise_whitespace(page["text"]) == samples.normalise_whitespace(
            digital_6.pages[page["number"] - 1])

    text = client.get(f"/result/{result['document_id']}", params={"format": "text"}).text
    assert text == result["text"] and len(text.split("\f")) == 3
    hocr = client.get(f"/result/{result['document_id']}", params={"format": "hocr"}).text
    assert re.findall(r"id='page_(\d+)'", hocr) == ["1", "2", "5"]


def test_a_scan_has_only_the_named_page_ocrd_and_the_pdf_keeps_every_page(client, scan_3):
    result = submit_and_wait(client, scan_3, pages="2")
    [page] = result["pages"]
    assert page["number"] == 2 and page["source"] == "ocr"
    assert samples.cer(scan_3.pages[1], page["text"]) <= 0.02

    pdf = client.get(f"/result/{result['document_id']}", params={"format": "pdf"})
    assert pdf.status_code == 200
    reader = pypdf.PdfReader(io.BytesIO(pdf.content))
    assert len(reader.pages) == 3  # the whole original, as OCRmyPDF --pages gives it
    assert samples.cer(scan_3.pages[1], reader.pages[1].extract_text()) <= 0.05
    assert reader.pages[0].extract_text().strip() == reader.pages[2].extract_text().strip() == ""


@pytest.mark.parametrize("pages", ["0", "3-1", "a", "1-7", "2,9", "1-"])
def test_an_invalid_range_is_a_422_naming_it_and_nothing_is_stored(client, digital_6, pages):
    document_id = f"bad-range-{uuid.uuid4().hex[:8]}"
    response = digital_6.upload(client, pages=pages, document_id=document_id)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_pages"
    assert repr(pages) in error["message"]
    assert client.get(f"/check-status/{document_id}").status_code == 404


def test_the_selection_is_part_of_the_document_identity_and_of_the_cache_key(client, digital_6):
    whole = submit_and_wait(client, digital_6)
    assert len(whole["pages"]) == 6

    # Same bytes, another selection: computed anew, not served from the whole document's result.
    some = submit_and_wait(client, digital_6, pages="4", document_id="pages-4")
    assert [page["number"] for page in some["pages"]] == [4]
    # The same selection spelled otherwise is the same document; another selection is a conflict.
    assert digital_6.upload(client, pages="4-4", document_id="pages-4").headers["x-created"] == "false"
    conflict = digital_6.upload(client, pages="3-4", document_id="pages-4")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "document_id_conflict"

    # By SHA-256: the result of the upload with the same selection, or 404 when there is none.
    sha256 = hashlib.sha256(digital_6.data).hexdigest()
    again = client.post("/extract", data={"sha256": sha256, "pages": "4"})
    assert again.status_code == 202, again.text
    assert wait_for(client, again.json()["document_id"])["status"] == "completed"
    assert [p["number"] for p in client.get(again.json()["result_url"]).json()["pages"]] == [4]
    unknown = client.post("/extract", data={"sha256": sha256, "pages": "6"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_content"

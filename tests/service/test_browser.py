"""The web page at /ui and the API docs, in a real headless Chromium (Debian's) over real HTTP.

Each browser test routes every request the browser makes and fails if one goes to a host outside
127.0.0.0/8, and keeps a screenshot of each state under test-artifacts/browser/.
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect, sync_playwright

from tests.support import samples
from tests.support.browser import NetworkGuard, PageProblems, Screenshots, launch
from tests.support.servers import ServiceFactory

expect.set_options(timeout=30_000)  # a bound for a page on two busy cores, not an expectation of speed

API_KEY = "ui-test-key-7f3a9c"
PROCESSING_TIMEOUT_MS = 180_000  # one page of OCR on two shared cores; a bound, not an expectation
MAX_CER = 0.02
SCAN_TEXT = samples.sample_text(41, lines=6)
SCAN_TEXT_2 = samples.sample_text(44, lines=4)
PNG_TEXT = samples.sample_text(42, lines=5)


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """Two embedded services over real HTTP: one without a key, one whose default tenant has API_KEY."""
    factory = ServiceFactory(tmp_path_factory.mktemp("browser"), None, None)
    yield {"open": factory("embedded", name="ui-open", OCR_WORKERS="1"),
           "keyed": factory("embedded", name="ui-keyed", OCR_WORKERS="1", API_KEY=API_KEY)}
    factory.stop_all()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def session(browser, request):
    """A fresh browser context (its own sessionStorage) with the network guard, a page, its problems
    and the screenshots of this test."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1400, "height": 1000})
    guard = NetworkGuard(context)
    page = context.new_page()
    problems = PageProblems(page)
    shots = Screenshots(request.node.name)
    yield context, page, guard, problems, shots
    context.close()
    assert guard.outside == [], f"the browser tried to reach hosts outside loopback: {guard.outside}"
    assert problems.errors == [], problems.errors


def _drop(page, selector: str, name: str, data: bytes, media_type: str) -> None:
    """Drop a file on an element as a user dragging it from their desktop would."""
    transfer = page.evaluate_handle(
        """([name, b64, type]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type }));
            return transfer;
        }""",
        [name, base64.b64encode(data).decode(), media_type],
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def _accessibility_violations(page) -> list[str]:
    """axe-core's WCAG 2 A and AA rules on the page as it stands: one line per violated rule."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa"]},
                                       "resultTypes": ["violations"]})
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']})"
            for v in results.response["violations"]]


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def _wait_completed(page, name: str, shots: Screenshots):
    entry = page.locator("li.doc", has=page.locator(".doc-name", has_text=name))
    expect(entry).to_be_visible()
    shots.take(page, "uploaded")
    status = entry.locator(".doc-status")
    # usually caught while its pages are being read (a quick document may be done already)
    expect(status).to_have_text(re.compile(r"Processing|Completed"), timeout=PROCESSING_TIMEOUT_MS)
    shots.take(page, "progress")
    expect(status).to_contain_text("Completed", timeout=PROCESSING_TIMEOUT_MS)
    expect(status).to_contain_text("100 %")
    expect(entry.locator("progress")).to_have_js_property("value", 100)
    expect(page.locator("#announcer")).to_contain_text(f"{name}: completed")
    shots.take(page, "completed")
    return entry


def _check_viewer(page, entry, name: str, truth: str, shots: Screenshots) -> None:
    entry.get_by_role("button", name=f"View {name}").click()
    expect(page.locator("#viewer-heading")).to_have_text(name)
    expect(page.locator("#viewer-heading")).to_be_focused()
    text = page.locator("#page-text")
    for word in truth.split()[:8]:
        expect(text).to_contain_text(word.strip(".,"))
    assert samples.cer(truth, text.inner_text()) <= MAX_CER, text.inner_text()
    image = page.locator("#page-image")
    expect(image).to_have_attribute("src", re.compile(r"^blob:"))  # fetched with the key, not a bare <img src>
    page.wait_for_function("() => { const i = document.getElementById('page-image'); "
                           "return i.complete && i.naturalWidth > 0; }")
    boxes = page.locator("#word-boxes .word-box")
    assert boxes.count() >= len(truth.split()) - 2
    # the boxes lie on the picture: the first word's box inside the image's rectangle, near its top left
    frame, first = image.bounding_box(), boxes.first.bounding_box()
    assert frame["x"] <= first["x"] < frame["x"] + frame["width"] / 2
    assert frame["y"] <= first["y"] < frame["y"] + frame["height"] / 2
    assert first["width"] > 5 and first["height"] > 3
    shots.take(page, "viewer")


def _download(page, label: str, shots: Screenshots) -> tuple[str, bytes]:
    with page.expect_download() as download_info:
        page.get_by_role("button", name=label).click()
    download = download_info.value
    assert download.failure() is None
    data = Path(download.path()).read_bytes()
    shots.keep(download.suggested_filename, data)
    return download.suggested_filename, data


@pytest.mark.slow
def _choose_from_keyboard(page, field):
    """The file chooser opened with Space on the focused field. Chromium now and then drops the first
    key press that should open it (about one run in fifteen here): it is pressed again, still from
    the keyboard."""
    for attempt in range(3):
        field.focus()
        expect(field).to_be_focused()
        try:
            with page.expect_file_chooser(timeout=10_000) as chooser:
                page.keyboard.press("Space")
            return chooser.value
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def test_upload_progress_viewer_and_downloads_without_a_key(services, session):
    context, page, guard, problems, shots = session
    service = services["open"]
    page.goto(service.url + "/ui")
    expect(page.get_by_role("heading", name="OCR service")).to_be_visible()
    expect(page.get_by_label("Language")).to_have_value("eng")  # filled from GET /languages
    shots.take(page, "empty")
    assert _accessibility_violations(page) == []

    # picked with the file chooser, opened from the keyboard (the test with a key drops its file)
    scan = samples.scanned_pdf([SCAN_TEXT, SCAN_TEXT_2])
    chooser = _choose_from_keyboard(page, page.get_by_label("Drop PDFs or images here, or choose files"))
    chooser.set_files(files=[{"name": "scan.pdf", "mimeType": "application/pdf", "buffer": scan}])
    entry = _wait_completed(page, "scan.pdf", shots)
    expect(entry.locator(".doc-status")).to_contain_text("2 / 2 pages")
    _check_viewer(page, entry, "scan.pdf", SCAN_TEXT, shots)

    # page by page: the second page's text and picture replace the first's
    first_src = page.locator("#page-image").get_attribute("src")
    expect(page.get_by_role("button", name="Previous page")).to_be_disabled()
    page.get_by_role("button", name="Next page").click()
    expect(page.get_by_label("Page", exact=True)).to_have_value("1")  # the option's value is the page index
    expect(page.locator("#page-caption")).to_contain_text("Page 2")
    expect(page.locator("#page-image")).not_to_have_attribute("src", first_src)
    assert samples.cer(SCAN_TEXT_2, page.locator("#page-text").inner_text()) <= MAX_CER
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()
    shots.take(page, "viewer-page-2")
    assert _accessibility_violations(page) == []

    both = "\n".join([SCAN_TEXT, SCAN_TEXT_2])
    name, pdf = _download(page, "Download searchable PDF", shots)
    assert name == "scan.ocr.pdf" and pdf.startswith(b"%PDF-")
    assert samples.cer(both, _pdf_text(pdf)) <= MAX_CER
    name, text = _download(page, "Download text", shots)
    assert name == "scan.txt" and samples.cer(both, text.decode()) <= MAX_CER
    name, hocr = _download(page, "Download hOCR", shots)
    assert name == "scan.hocr" and hocr.count(b"ocrx_word") >= len(both.split()) - 4

    # keyboard: the toggle hides the word boxes and brings them back
    page.get_by_label("Word boxes").focus()
    page.keyboard.press("Space")
    expect(page.locator("#word-boxes")).to_be_hidden()
    page.keyboard.press("Space")
    expect(page.locator("#word-boxes")).to_be_visible()
    assert any(url.endswith("/pages/2/image") for url in guard.seen)

    # a file the service refuses says why, in its entry
    page.get_by_label("Drop PDFs or images here, or choose files").set_input_files(
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"just some notes"}])
    refused = page.locator("li.doc", has=page.locator(".doc-name", has_text="notes.txt"))
    expect(refused.locator(".doc-status")).to_have_text("Failed")
    expect(refused.locator(".doc-error")).to_contain_text("not a PDF or a supported image")
    expect(page.locator("#announcer")).to_contain_text("notes.txt: failed")
    shots.take(page, "refused")


@pytest.mark.slow
def test_api_key_entered_once_kept_for_the_session_and_sent(services, session, browser):
    context, page, guard, problems, shots = session
    service = services["keyed"]
    page.goto(service.url + "/ui")
    expect(page.locator("#key-state")).to_contain_text("needs an API key")
    expect(page.get_by_label("API key")).to_be_focused()
    shots.take(page, "key-needed")

    page.get_by_label("API key").fill("wrong-key")
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#key-state")).to_contain_text("refused")
    page.get_by_label("API key").fill(API_KEY)
    page.keyboard.press("Enter")
    expect(page.locator("#key-state")).to_have_text("Key accepted.")
    assert page.evaluate("() => sessionStorage.getItem('ocr-service.api-key')") == API_KEY
    shots.take(page, "key-accepted")

    # kept in the session: a reload does not ask again
    page.reload()
    expect(page.locator("#key-state")).to_have_text("Key accepted.")

    _drop(page, "#drop-zone", "page.png", samples.png_page(PNG_TEXT), "image/png")
    entry = _wait_completed(page, "page.png", shots)
    _check_viewer(page, entry, "page.png", PNG_TEXT, shots)
    name, pdf = _download(page, "Download searchable PDF", shots)
    assert name == "page.ocr.pdf"
    assert samples.cer(PNG_TEXT, _pdf_text(pdf)) <= MAX_CER

    # another browser session starts without the key
    other = browser.new_context()
    other_guard = NetworkGuard(other)
    try:
        fresh = other.new_page()
        fresh.goto(service.url + "/ui")
        expect(fresh.locator("#key-state")).to_contain_text("needs an API key")
        assert fresh.evaluate("() => sessionStorage.getItem('ocr-service.api-key')") is None
    finally:
        other.close()
    assert other_guard.outside == []

    # forgetting the key drops it from the session
    page.get_by_role("button", name="Forget key").click()
    assert page.evaluate("() => sessionStorage.getItem('ocr-service.api-key')") is None


@pytest.mark.parametrize("which", ["open", "keyed"])
def test_docs_and_redoc_render_offline(services, session, which):
    context, page, guard, problems, shots = session
    service = services[which]
    page.goto(service.url + "/docs")
    for path in ("/extract", "/check-status/{document_id}", "/result/{document_id}/pages/{page_number}/image"):
        expect(page.locator(".opblock-summary-path", has_text=path).first).to_be_visible()
    shots.take(page, "swagger-ui")
    # ReDoc's sidebar asks for its logo from a CDN; the page's Content-Security-Policy refuses it before
    # it leaves the browser (the guard below would see it otherwise), and ReDoc then shows no logo.
    problems.allow(r"cdn\.redoc\.ly/redoc/logo-mini\.svg")
    page.goto(service.url + "/redoc")
    expect(page.get_by_text("Upload a document (PDF, PNG, JPEG, TIFF) for text extraction").first).to_be_visible()
    shots.take(page, "redoc")
    assert any("/docs-assets/" in url for url in guard.seen)


@pytest.mark.parametrize("kind", ["pdf", "pdf-rotate-90", "png"])
def test_page_image_shows_the_words_where_their_boxes_say(services, kind):
    """The picture and the word boxes share one frame (the page as displayed, /Rotate applied): nearly
    all the ink of the page lies inside the boxes, scaled by the page's width and height."""
    import numpy as np
    from PIL import Image

    text = samples.sample_text(43, lines=4)
    data = {"pdf": lambda: samples.scanned_pdf([text]),
            "pdf-rotate-90": lambda: samples.set_rotation(samples.scanned_pdf([text]), 90),
            "png": lambda: samples.png_page(text, dpi=200)}[kind]()
    kind = kind.split("-")[0]
    with httpx.Client(base_url=services["open"].url, timeout=120) as client:
        submitted = client.post("/extract", files={"file": (f"boxes.{kind}", data)}, headers={"Prefer": "wait=150"})
        assert submitted.status_code == 200, submitted.text
        document_id = submitted.json()["document_id"]
        page = client.get(f"/result/{document_id}?words=true").json()["pages"][0]
        answer = client.get(f"/result/{document_id}/pages/1/image")
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
        missing = client.get(f"/result/{document_id}/pages/2/image")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "page_not_found"
        unknown = client.get("/result/no-such-document/pages/1/image")
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    image = Image.open(io.BytesIO(answer.content)).convert("L")
    assert max(image.size) <= 2000
    assert abs(image.width / image.height - page["width"] / page["height"]) < 0.01
    ink = np.asarray(image) < 128
    covered = np.zeros_like(ink)
    sx, sy = image.width / page["width"], image.height / page["height"]
    for word in page["words"]:
        x0, y0, x1, y1 = word["bbox"]
        covered[int(y0 * sy) - 1: int(y1 * sy) + 2, int(x0 * sx) - 1: int(x1 * sx) + 2] = True
    assert ink.sum() > 1000
    assert (ink & covered).sum() / ink.sum() >= 0.95


def test_page_image_needs_the_key(services):
    with httpx.Client(base_url=services["keyed"].url, timeout=30) as client:
        answer = client.get("/result/anything/pages/1/image")
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "unauthorized"
        assert client.get("/ui/").status_code == 200  # the page itself is open: it asks for the key
        assert client.get("/ui/app.js").status_code == 200


@pytest.mark.parametrize("kind", ["pdf", "png"])
def test_page_image_refuses_pages_over_the_pixel_cap_before_decoding(tmp_path, kind):
    from ocr_service.pipeline import DocumentError, Limits
    from ocr_service.pipeline.preview import render_page_png

    text = samples.sample_text(45, lines=2)
    path = tmp_path / f"big.{kind}"
    path.write_bytes(samples.scanned_pdf([text]) if kind == "pdf" else samples.png_page(text))
    assert render_page_png(path, 1).startswith(b"\x89PNG")
    with pytest.raises(DocumentError) as refused:
        render_page_png(path, 1, Limits(max_page_pixels=1_000_000))  # the scan is 2550x3300
    assert refused.value.code == "page_too_large" and refused.value.http_status == 422
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])  # cut off
    with pytest.raises(DocumentError) as damaged:
        render_page_png(path, 1)
    assert damaged.value.code == "corrupt_document"

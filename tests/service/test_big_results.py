"""A 2,000-page completed document, written into the store through its own methods (no OCR), served in
every format over HTTP by the real service in both backends: complete, in order and valid. The JSON and
text are streamed from the store a batch of pages at a time; hOCR and the searchable PDF are built from
a file of pages by the sandboxed renderer. (Memory and time to first byte are in benchmarks/big_result.py.)"""

from __future__ import annotations

import asyncio
import json
import uuid
import xml.etree.ElementTree as ET

import pytest

from ocr_service.domain import DEFAULT_TENANT
from ocr_service.orchestrator import STREAMED_RESULT_PAGES, Orchestrator
from ocr_service.store.local import LocalStore, MemoryCache
from tests.support.big_documents import page_result, page_word, seed_completed
from tests.support.servers import ServiceFactory, mongo_uri

PAGES = 2000
WORDS = 6  # tiny pages: the test is about the number of pages


def _store(mode: str, workdir, mongo_server):
    if mode == "embedded":
        return LocalStore(workdir / "data"), {"DATA_DIR": str(workdir / "data")}
    from ocr_service.store.mongo import MongoConfig, MongoStore

    db_name = f"big_{uuid.uuid4().hex[:10]}"
    return MongoStore(MongoConfig(uri=mongo_uri(mongo_server), db_name=db_name)), {"MONGO_DB_NAME": db_name}


@pytest.fixture(scope="module", params=["embedded", "production"])
def big_service(request, tmp_path_factory, redis_server, mongo_server):
    workdir = tmp_path_factory.mktemp(f"big-{request.param}")
    store, env = _store(request.param, workdir, mongo_server)
    try:
        _, original = seed_completed(store, workdir, "book", PAGES, WORDS)
    finally:
        store.close()
    factory = ServiceFactory(workdir, redis_server, mongo_server)
    temporary = workdir / "tmp"  # where the API builds the outputs it streams
    temporary.mkdir()
    service = factory(request.param, name=f"big-{request.param}", TMPDIR=str(temporary), **env)
    with service.client() as client:
        client.original = original  # the book's bytes, for uploading them again
        client.temporary = temporary
        yield client
    factory.stop_all()


def _expected_text(number: int) -> str:
    return page_result(number, WORDS)["text"]


def test_json_result_streams_every_page_in_order(big_service):
    with big_service.stream("GET", "/result/book") as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert "content-length" not in response.headers  # streamed, not assembled first
        body = json.loads(response.read())
    assert body["status"] == "completed" and body["document_id"] == "book"
    assert body["pages_total"] == body["pages_done"] == PAGES
    assert [page["number"] for page in body["pages"]] == list(range(1, PAGES + 1))
    assert all("words" not in page for page in body["pages"])
    assert body["text"] == "\f".join(_expected_text(n) for n in range(1, PAGES + 1))
    assert body["quality"] == {"verdict": "good", "worst_page": body["quality"]["worst_page"], "poor_pages": []}
    assert 1 <= body["quality"]["worst_page"] <= PAGES


def test_json_result_with_words(big_service):
    body = big_service.get("/result/book", params={"words": "true"}).json()
    assert len(body["pages"]) == PAGES
    for page in (body["pages"][0], body["pages"][999], body["pages"][-1]):
        assert [w["text"] for w in page["words"]] == [page_word(page["number"], i) for i in range(WORDS)]
        assert all(len(w["bbox"]) == 4 for w in page["words"])


def test_text_result_streams_every_page(big_service):
    response = big_service.get("/result/book", params={"format": "text"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    pages = response.text.split("\f")
    assert len(pages) == PAGES
    assert pages == [_expected_text(n) for n in range(1, PAGES + 1)]


def test_hocr_result_has_every_page(big_service):
    response = big_service.get("/result/book", params={"format": "hocr"})
    assert response.status_code == 200 and "content-length" not in response.headers  # sent as it is built
    document = ET.fromstring(response.content)
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    pages = document.findall(".//h:div[@class='ocr_page']", ns)
    assert [page.get("id") for page in pages] == [f"page_{n}" for n in range(1, PAGES + 1)]
    last = [span.text for span in pages[-1].findall(".//h:span[@class='ocrx_word']", ns)]
    assert last == [page_word(PAGES, i) for i in range(WORDS)]


def test_searchable_pdf_is_sent_while_built_and_has_every_page_and_its_words(big_service, tmp_path):
    import pikepdf
    import pypdfium2 as pdfium

    # Building the text layer of 2,000 pages takes pdfium a while on a loaded machine.
    with big_service.stream("GET", "/result/book", params={"format": "pdf"}, timeout=900) as response:
        assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
        assert "content-length" not in response.headers
        chunks = response.iter_raw()
        first = next(chunks)
        (building,) = big_service.temporary.glob("output-*/output.pdf")
        assert first.startswith(b"%PDF-")
        assert b"startxref" not in building.read_bytes()  # the first bytes came before the file was whole
        (tmp_path / "book.pdf").write_bytes(first + b"".join(chunks))
    with pikepdf.open(tmp_path / "book.pdf") as joined:
        assert joined.check_pdf_syntax() == []
    pdf = pdfium.PdfDocument(str(tmp_path / "book.pdf"))
    try:
        assert len(pdf) == PAGES
        for index in range(PAGES):
            text = pdf[index].get_textpage().get_text_range()
            assert text.split() == [page_word(index + 1, i) for i in range(WORDS)], index + 1
            if index % 500 == 0:
                assert pdf[index].get_size() == (612, 792)
    finally:
        pdf.close()


def test_upload_of_the_same_book_answers_with_the_streamed_result(big_service):
    """Uploading the processed book again with `Prefer: wait` answers with its result at once, streamed."""
    response = big_service.post("/extract", files={"file": ("book.pdf", big_service.original)},
                                data={"document_id": "book-again"}, headers={"Prefer": "wait=5"})
    assert response.status_code == 200 and response.headers["preference-applied"] == "wait=5"
    assert "content-length" not in response.headers
    body = response.json()
    assert body["document_id"] == "book-again" and body["status"] == "completed"
    assert [page["number"] for page in body["pages"]] == list(range(1, PAGES + 1))


def test_errors_before_the_first_byte_are_json(big_service):
    response = big_service.get("/result/no-such-book", params={"format": "json"})
    assert response.status_code == 404 and response.json()["error"]["code"]


@pytest.fixture(params=["local", "mongo"])
def store(request, tmp_path, mongo_server):
    store, _ = _store("embedded" if request.param == "local" else "production", tmp_path, mongo_server)
    yield store
    store.close()


def test_store_pages_are_read_lazily(store, tmp_path):
    """The pages come a batch at a time: a page saved after iteration began is still met, which a list
    read up front would miss; and without words, the words are left in the store."""
    record, _ = seed_completed(store, tmp_path, "lazy", 300, 2)
    pages = store.pages(record.key)
    assert next(pages)["number"] == 1
    store.save_page(record.key, page_result(301, 2))
    assert [page["number"] for page in pages] == list(range(2, 302))
    light = list(store.pages(record.key, words=False))
    assert len(light) == 301 and all("words" not in page for page in light)
    assert light[0]["text"] == page_result(1, 2)["text"]


def test_streamed_json_matches_the_assembled_answer(tmp_path):
    """The streamed answer is the same bytes the in-memory one would be, for every flag."""
    from fastapi.responses import JSONResponse

    store = LocalStore(tmp_path / "data")
    try:
        seed_completed(store, tmp_path, "long", STREAMED_RESULT_PAGES + 1, 5)
        orchestrator = Orchestrator(store, None, MemoryCache(), None, None, result_cache_ttl_s=0)
        status = orchestrator.status(DEFAULT_TENANT, "long")
        assert orchestrator.streams_result(status)

        async def streamed(words: bool) -> bytes:
            return b"".join(await orchestrator.result_stream(status, "json", words))

        for words in (False, True):
            assembled = JSONResponse(asyncio.run(orchestrator.result_json(status, words))).body
            assert asyncio.run(streamed(words)) == assembled
        text = b"".join(asyncio.run(orchestrator.result_stream(status, "text"))).decode()
        assert text == asyncio.run(orchestrator.result_text(status))
    finally:
        store.close()


def test_a_render_that_fails_answers_json_not_a_cut_stream(tmp_path, redis_server, mongo_server):
    """A long document's hOCR and PDF are streamed while the child builds them; a child that dies before
    writing anything still gets the usual 422 in the error shape, and the text stays readable."""
    store, env = _store("embedded", tmp_path, mongo_server)
    try:
        seed_completed(store, tmp_path, "long", STREAMED_RESULT_PAGES + 10, WORDS)
    finally:
        store.close()
    factory = ServiceFactory(tmp_path, redis_server, mongo_server)
    try:
        service = factory("embedded", name="render-dies", OCR_SANDBOX_FAULT="write_output:abort", **env)
        with service.client() as client:
            for format in ("hocr", "pdf"):
                response = client.get("/result/long", params={"format": format})
                assert response.status_code == 422, format
                assert response.json()["error"]["code"] == "render_failed"
            assert len(client.get("/result/long").json()["pages"]) == STREAMED_RESULT_PAGES + 10
    finally:
        factory.stop_all()


def test_the_embedded_cache_is_bounded_in_bytes():
    cache = MemoryCache(max_entries=10, max_bytes=100)
    cache.set("a", b"x" * 60, 60)
    cache.set("b", b"y" * 60, 60)  # over the budget with a: the oldest goes
    assert cache.get("a") is None and cache.get("b") == b"y" * 60
    cache.set("big", b"z" * 101, 60)  # larger than the whole budget: never kept
    assert cache.get("big") is None and cache.get("b") == b"y" * 60
    cache.set("b", b"w" * 90, 60)  # replacing an entry counts it once
    assert cache.get("b") == b"w" * 90

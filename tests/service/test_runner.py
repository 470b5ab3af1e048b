"""The document runner, on the embedded store with a real OCR process pool."""

from __future__ import annotations

import hashlib

import pytest

from ocr_service.domain import DocumentRecord, DocumentStatus
from ocr_service.jobs.pool import PagePool
from ocr_service.jobs.runner import DocumentRunner, RetryLater, RunnerConfig
from ocr_service.pipeline import Limits
from ocr_service.store.local import LocalStore
from tests.support import samples


@pytest.fixture(scope="module")
def pool():
    pool = PagePool(1)
    yield pool
    pool.shutdown()


def _record(data: bytes, sha256: str) -> DocumentRecord:
    return DocumentRecord(document_id="doc", content_sha256=sha256, cache_key="key",
                          options={"language": "eng", "mode": "auto"}, filename="a.pdf",
                          media_type="application/pdf", size_bytes=len(data), pages_total=1)


def test_a_document_is_processed_when_its_bytes_match_their_hash(tmp_path, pool):
    data = samples.text_pdf(["Quarterly figures, third edition."])
    store = LocalStore(tmp_path)
    upload = tmp_path / "upload.pdf"
    upload.write_bytes(data)
    store.create(_record(data, hashlib.sha256(data).hexdigest()), upload)
    DocumentRunner(store, pool, RunnerConfig(limits=Limits())).run("doc")
    assert store.get("doc").status == DocumentStatus.COMPLETED
    assert "Quarterly figures" in next(store.pages("doc"))["text"]


def test_stored_bytes_that_do_not_match_their_hash_are_never_processed(tmp_path, pool):
    """A damaged upload (or another upload's bytes) is retried, then fails; no pages are recorded."""
    data = samples.text_pdf(["Quarterly figures, third edition."])
    store = LocalStore(tmp_path)
    upload = tmp_path / "upload.pdf"
    upload.write_bytes(data)
    store.create(_record(data, hashlib.sha256(b"other bytes").hexdigest()), upload)
    runner = DocumentRunner(store, pool, RunnerConfig(limits=Limits(), max_retries=1))
    with pytest.raises(RetryLater, match="SHA-256"):
        runner.run("doc")
    runner.run("doc")  # the last attempt allowed
    record = store.get("doc")
    assert record.status == DocumentStatus.FAILED and record.error["code"] == "processing_error"
    assert "SHA-256" in record.error["message"] and list(store.pages("doc")) == []

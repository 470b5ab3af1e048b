"""Documents with known text, the service under test (one per mode), and polling helpers."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pytest

from conftest import ServiceFactory
from ocr_service import samples

MODES = ["embedded", "production"]


@dataclass(frozen=True)
class Doc:
    name: str
    data: bytes
    pages: list[str]  # ground truth per page

    def upload(self, client: httpx.Client, headers: dict[str, str] | None = None, **form) -> httpx.Response:
        return client.post("/extract", files={"file": (self.name, self.data)}, data=form, headers=headers)


@pytest.fixture(scope="session")
def scanned_page() -> Doc:
    text = samples.sample_text(11, lines=6)
    return Doc("scan.pdf", samples.scanned_pdf([text]), [text])


@pytest.fixture(scope="session")
def scanned_10() -> Doc:
    texts = [samples.sample_text(100 + n, lines=5) for n in range(10)]
    return Doc("scan10.pdf", samples.scanned_pdf(texts), texts)


@pytest.fixture(scope="session")
def born_digital_50() -> Doc:
    texts = [samples.sample_text(200 + n, lines=20) for n in range(50)]
    return Doc("digital50.pdf", samples.text_pdf(texts), texts)


@pytest.fixture(scope="session")
def mixed_doc() -> Doc:
    texts = [samples.sample_text(300, lines=5), samples.sample_text(301, lines=5)]
    return Doc("mixed.pdf", samples.mixed_pdf([("text", texts[0]), ("scan", texts[1])]), texts)


def small_scans(count: int, seed: int = 500) -> list[Doc]:
    """Distinct one-page scans (distinct bytes, so no two share a result)."""
    docs = []
    for n in range(count):
        text = samples.sample_text(seed + n, lines=3)
        docs.append(Doc(f"small-{seed + n}.pdf", samples.scanned_pdf([text], seed=seed + n), [text]))
    return docs


@pytest.fixture(scope="module", params=MODES)
def service(request, tmp_path_factory, redis_server, mongo_server):
    """One running service per mode for a test module (production: MongoDB + Redis + Dramatiq)."""
    factory = ServiceFactory(tmp_path_factory.mktemp(f"service-{request.param}"), redis_server, mongo_server)
    yield factory(request.param, name=f"service-{request.param}")
    factory.stop_all()


@pytest.fixture
def client(service):
    with service.client() as client:
        yield client


def wait_for(client: httpx.Client, document_id: str, timeout: float = 120,
             until: tuple[str, ...] = ("completed", "failed")) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/check-status/{document_id}").json()
        if status["status"] in until:
            return status
        time.sleep(0.1)
    raise TimeoutError(f"{document_id} still {status['status']} after {timeout:.0f} s")


def submit_and_wait(client: httpx.Client, doc: Doc, timeout: float = 120, **form) -> dict:
    response = doc.upload(client, **form)
    assert response.status_code == 202, response.text
    document_id = response.json()["document_id"]
    status = wait_for(client, document_id, timeout)
    assert status["status"] == "completed", status
    result = client.get(f"/result/{document_id}")
    assert result.status_code == 200, result.text
    return result.json()

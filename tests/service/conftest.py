"""Generated documents, and the service under test (one per mode)."""

from __future__ import annotations

import pytest

from tests.support import samples
from tests.support.documents import Doc
from tests.support.servers import ServiceFactory

MODES = ["embedded", "production"]


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

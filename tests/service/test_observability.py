"""Metrics and logs of a real service over HTTP: GET /metrics in the Prometheus format with the OCR
processes' samples and the queue read from the store, one JSON log line per request with a request id
that follows the document to the worker's lines, and no secret or document text in any line."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import samples
from tests.support.documents import Doc, small_scans
from tests.support.polling import wait_for
from tests.support.servers import LiveService, free_port, service_env, wait_until

API_KEY = "obs-key-7f3a9c1e5b2d4680"
HEADERS = {"X-API-Key": API_KEY}


def _samples(client: httpx.Client) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", headers=HEADERS)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return values


def _value(values: dict, name: str, **labels: str) -> float:
    return values.get((name, frozenset(labels.items())), 0.0)


def _log_lines(path: Path) -> list[dict]:
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert lines
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"a log line that is not JSON: {line[:300]}")
    return parsed


@pytest.mark.parametrize("mode", ["embedded", "production"])
def test_a_processed_document_shows_in_the_metrics_and_its_request_id_in_the_worker_lines(start_service, mode):
    service = start_service(mode, API_KEY=API_KEY)
    text = samples.sample_text(4242, lines=4)
    doc = Doc("observed.pdf", samples.scanned_pdf([text, samples.sample_text(4243, lines=4)]), [text])
    with service.client() as client:
        assert client.get("/metrics").status_code == 401  # the key is needed, as for every route but health
        response = doc.upload(client, headers={**HEADERS, "X-Request-ID": "upload-req.0001"})
        assert response.status_code == 202, response.text
        assert response.headers["X-Request-ID"] == "upload-req.0001"
        document_id = response.json()["document_id"]
        client.headers.update(HEADERS)
        assert wait_for(client, document_id)["status"] == "completed"
        result_text = client.get(f"/result/{document_id}", params={"format": "text"}).text

        values = _samples(client)
    assert _value(values, "ocr_documents_finished_total", status="completed") >= 1
    assert _value(values, "ocr_pages_total") >= 2
    assert _value(values, "ocr_page_seconds_count") >= 2  # recorded by the OCR processes themselves
    assert _value(values, "ocr_page_seconds_sum") > 0
    assert _value(values, "http_request_duration_seconds_count", route="/check-status/{document_id}",
                  method="GET", status="200") >= 1
    assert not any(name.startswith("http_request") and document_id in str(labels) for name, labels in values)
    assert ("ocr_queue_depth", frozenset()) in values and ("ocr_queue_oldest_age_seconds", frozenset()) in values

    def worker_lines() -> list[dict]:
        return [line for line in _log_lines(service.log_path)
                if line.get("document_id") == document_id and line.get("logger", "").startswith("ocr_service.jobs")]

    # The worker writes its last line just after the status turns completed.
    wait_until(lambda: any("completed" in line["event"] for line in worker_lines()), 10, message="the last line")
    lines = _log_lines(service.log_path)
    upload = [line for line in lines if line.get("event") == "request" and line.get("route") == "/extract"]
    assert upload and upload[0]["request_id"] == "upload-req.0001" and upload[0]["status"] == 202
    assert upload[0]["method"] == "POST" and upload[0]["tenant"] == "default" and upload[0]["duration_ms"] >= 0
    worker = worker_lines()
    assert any("started" in line["event"] for line in worker)
    assert all(line["request_id"] == "upload-req.0001" for line in worker)

    log_text = service.log_path.read_text()
    assert API_KEY not in log_text
    text_lines = [line.strip() for line in result_text.splitlines() if len(line.strip()) > 20]
    assert len(text_lines) >= 4
    assert not [line for line in text_lines if line in log_text]


def test_a_request_id_that_is_not_short_and_safe_is_replaced(start_service):
    service = start_service("embedded")
    with service.client() as client:
        generated = client.get("/health/live").headers["X-Request-ID"]
        assert generated and generated != client.get("/health/live").headers["X-Request-ID"]
        for bad in ("x" * 200, "has spaces", 'quote"and{brace}'):
            answered = client.get("/health/live", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
            assert answered != bad and answered.isalnum()
        assert client.get("/health/live", headers={"X-Request-ID": "a-b_c.d:1"}).headers["X-Request-ID"] == "a-b_c.d:1"
    # The line is written as the answer leaves: wait for it.
    wait_until(lambda: any(line.get("request_id") == "a-b_c.d:1" and line.get("route") == "/health/live"
                           for line in _log_lines(service.log_path)), 10, message="the request's log line")
    lines = _log_lines(service.log_path)
    assert not any("x" * 200 in json.dumps(line) for line in lines)


def test_queue_depth_counts_the_waiting_documents_until_they_are_cancelled(start_service, scanned_10):
    service = start_service("embedded", OCR_WORKERS="1", CONCURRENT_DOCUMENTS="1", API_KEY=API_KEY)
    waiting = small_scans(4, seed=4300)
    with service.client() as client:
        client.headers.update(HEADERS)
        first = scanned_10.upload(client).json()["document_id"]
        ids = [doc.upload(client).json()["document_id"] for doc in waiting]
        values = _samples(client)
        queued = sum(client.get(f"/check-status/{i}").json()["status"] == "queued" for i in [first, *ids])
        assert queued >= 3  # one document at a time: most wait behind the first
        assert _value(values, "ocr_queue_depth") >= 3
        assert _value(values, "ocr_queue_oldest_age_seconds") > 0
        for document_id in [first, *ids]:
            client.post(f"/documents/{document_id}/cancel")
        wait_until(lambda: _value(_samples(client), "ocr_queue_depth") == 0, 30, message="an empty queue")
        values = _samples(client)
        assert _value(values, "ocr_documents_finished_total", status="cancelled") >= 4
        assert _value(values, "ocr_queue_oldest_age_seconds") == 0


def test_secrets_never_reach_the_log_even_when_the_database_is_down(tmp_path, redis_server, mongo_server):
    """Production settings whose MongoDB does not answer: the failing connection is logged, but never its
    URI, its password, the Redis password or the API key."""
    password, redis_password = "Mongo-Pa55word-ab12cd", "Redis-Pa55word-ef34gh"
    uri = f"mongodb://ocr-user:{password}@127.0.0.1:{free_port()}/ocr?authSource=admin"
    env = service_env("production", tmp_path, redis_server, mongo_server, MONGO_CONNECTION_STRING=uri,
                      REDIS_PASSWORD=redis_password, API_KEY=API_KEY, MONGO_TIMEOUT_MS="300")
    service = LiveService("secret-service", env, tmp_path).start(timeout=60)
    try:
        with service.client() as client:
            assert client.get("/health/ready").status_code == 503
            answer = client.post("/extract", headers=HEADERS,
                                 files={"file": ("a.pdf", samples.text_pdf(["Hello there"]))})
            assert answer.status_code == 503 and answer.headers["X-Request-ID"]
        wait_until(lambda: "unavailable" in service.log_path.read_text(), 10, message="the outage in the log")
    finally:
        service.stop()
    lines = _log_lines(service.log_path)
    text = service.log_path.read_text()
    assert "mongodb" in text.lower()  # the outage is logged...
    for secret in (password, redis_password, uri, API_KEY):
        assert secret not in text  # ...without its secrets
    assert any(line.get("event") == "request" and line.get("status") == 503 for line in lines)


def test_a_worker_beside_an_api_only_server_shows_on_its_metrics_through_one_directory(start_service, tmp_path,
                                                                                        scanned_page):
    """`serve --no-workers` and `worker` on one machine, one PROMETHEUS_MULTIPROC_DIR: the API's /metrics
    shows the worker's documents and its OCR processes' pages; the worker's lines carry the request id."""
    shared = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"), "API_KEY": API_KEY}
    api = start_service("production", name="api", share="pair", RUN_WORKERS="false", **shared)
    worker = start_service("production", name="worker", command="worker", share="pair", **shared)
    with api.client() as client:
        client.headers.update(HEADERS)
        response = scanned_page.upload(client, headers={"X-Request-ID": "split-0001"})
        document_id = response.json()["document_id"]
        assert wait_for(client, document_id)["status"] == "completed"
        values = _samples(client)
    assert _value(values, "ocr_documents_finished_total", status="completed") >= 1
    assert _value(values, "ocr_page_seconds_count") >= 1
    worker_lines = [line for line in _log_lines(worker.log_path) if line.get("document_id") == document_id]
    assert worker_lines and all(line["request_id"] == "split-0001" for line in worker_lines)

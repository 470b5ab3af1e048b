"""Waiting for documents over HTTP."""

from __future__ import annotations

import time

import httpx

from .documents import Doc


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

"""Generated documents with their ground truth, uploaded over HTTP."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from . import samples


@dataclass(frozen=True)
class Doc:
    name: str
    data: bytes
    pages: list[str]  # ground truth per page

    def upload(self, client: httpx.Client, headers: dict[str, str] | None = None, **form) -> httpx.Response:
        return client.post("/extract", files={"file": (self.name, self.data)}, data=form, headers=headers)


def small_scans(count: int, seed: int = 500) -> list[Doc]:
    """Distinct one-page scans (distinct bytes, so no two share a result)."""
    docs = []
    for n in range(count):
        text = samples.sample_text(seed + n, lines=3)
        docs.append(Doc(f"small-{seed + n}.pdf", samples.scanned_pdf([text], seed=seed + n), [text]))
    return docs

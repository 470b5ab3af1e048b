"""Deleting a document everywhere it lives (record, pages, bytes, cache entries), used by DELETE and by
the retention sweeper alike.

Identical uploads of one tenant share one computation: the first (the primary) holds the pages and
bytes, the others follow it. A deleted primary that others still follow is hidden instead of removed,
and goes with the last of its followers.
"""

from __future__ import annotations

import logging
from datetime import datetime

from ..domain import DocumentRecord
from .base import Cache, DocumentStore

log = logging.getLogger(__name__)


def result_cache_key(cache_key: str, words: bool) -> str:
    """Where a completed result is cached: per content, options and tenant (cache_key says all three)."""
    return f"result:{cache_key}:{'words' if words else 'text'}"


def delete_document(store: DocumentStore, cache: Cache, record: DocumentRecord) -> None:
    """Remove a finished document (callers cancel unfinished ones first). Idempotent."""
    if store.followers(record.key):
        store.mark_deleted(record.key)
        return
    store.delete(record.key)
    if record.result_of is None:  # it held the result: the cached copies go with it
        store.release_primary(record.cache_key, record.key)
        cache.delete(result_cache_key(record.cache_key, True), result_cache_key(record.cache_key, False))
        return
    source = store.get(record.result_of)
    if source is not None and source.deleted and not store.followers(source.key):
        delete_document(store, cache, source)  # the last follower of a deleted primary takes it along


def sweep_expired(store: DocumentStore, cache: Cache, now: datetime, batch: int = 100) -> int:
    """Delete the documents whose retention has run out; returns how many."""
    removed = 0
    for record in store.expired(now, limit=batch):
        try:
            delete_document(store, cache, record)
            removed += 1
        except Exception as error:  # one broken record must not stop the sweep; the next one retries
            log.warning("retention: could not delete %s: %s", record.key, error)
    return removed

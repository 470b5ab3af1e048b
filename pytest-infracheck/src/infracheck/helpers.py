"""Helpers a Terratest user reaches for: unique names, retries, HTTP polling."""

from __future__ import annotations

import secrets
import string
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_ALPHABET = string.ascii_lowercase + string.digits


def unique_id(length: int = 6) -> str:
    """A short random id of lowercase letters and digits (Terratest's random.UniqueId), valid in
    bucket, queue, role and security-group names alike."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


class RetryError(AssertionError):
    """retry() ran out of time; the message names the last error or value."""


def retry(
    fn: Callable[[], T],
    timeout: float = 60.0,
    interval: float = 1.0,
    on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    until: Callable[[T], bool] | None = None,
    description: str | None = None,
) -> T:
    """Call `fn` until it returns without raising one of `on` (and, with `until`, until `until(value)`
    is true); return its value. Raises RetryError after `timeout` seconds, naming the last error.

        instance = retry(lambda: ec2.describe_instances()["Reservations"][0], timeout=30, on=IndexError)
    """
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    attempts, last = 0, "no attempt"
    while True:
        attempts += 1
        try:
            value = fn()
        except on as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if until is None or until(value):
                return value
            last = f"returned {value!r}"
        if time.monotonic() + interval > deadline:
            what = description or getattr(fn, "__name__", "call")
            raise RetryError(f"{what} did not succeed within {timeout}s ({attempts} attempts); last: {last}")
        time.sleep(interval)


def http_get_until(
    url: str,
    status: int = 200,
    body_contains: str | None = None,
    timeout: float = 60.0,
    interval: float = 1.0,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    """GET `url` until it answers `status` (and its body contains `body_contains`); return (status, body).

    Terratest's http_helper.HttpGetWithRetry. Connection errors and other statuses are retried until
    `timeout`, then RetryError names the last answer.
    """
    __tracebackhide__ = True

    def get() -> tuple[int, str]:
        request = urllib.request.Request(url, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=min(10.0, max(timeout, 1.0))) as response:
                return response.status, response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace")

    def good(answer: tuple[int, str]) -> bool:
        code, body = answer
        return code == status and (body_contains is None or body_contains in body)

    return retry(
        get,
        timeout=timeout,
        interval=interval,
        on=(OSError, urllib.error.URLError),
        until=good,
        description=f"GET {url} (want {status}" + (f" with {body_contains!r})" if body_contains else ")"),
    )


"""A Python client for the OCR service's HTTP API, synchronous (`Client`) and asynchronous (`AsyncClient`).

    from ocr_service.client import Client

    with Client("http://127.0.0.1:8000", api_key="...") as ocr:
        submission = ocr.submit("scan.pdf", pages="1-3", wait=20)
        if submission.result is None:  # not done within 20 s
            ocr.wait(submission.document_id)
        print(ocr.text(submission.document_id))

It needs only httpx: nothing of the server side is imported, so it works from any application.
The URL and the key default to the environment variables `OCR_URL` and `OCR_API_KEY`. Answers are
dataclasses; every error answer raises an `ApiError` subclass carrying the service's `code`, `message`
and the HTTP status. 503 and 429 answers are retried a bounded number of times, after `Retry-After`.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import httpx

DEFAULT_URL = "http://127.0.0.1:8000"
FINISHED = ("completed", "failed", "cancelled")
Format = Literal["json", "text", "hocr", "pdf"]
RETRY_STATUSES = (429, 503)


# -- answers ---------------------------------------------------------------------------------------

def _known(cls, data: dict[str, Any]) -> dict[str, Any]:
    names = cls.__dataclass_fields__.keys()
    return {k: v for k, v in data.items() if k in names and k != "raw"}


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    message: str

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> ErrorInfo | None:
        if not isinstance(data, dict):
            return None
        return cls(code=str(data.get("code", "")), message=str(data.get("message", "")))


@dataclass(frozen=True)
class DocumentStatus:
    """A document's state: `queued`, `processing`, `completed`, `failed` or `cancelled`."""

    document_id: str
    status: str
    pages_total: int = 0
    pages_done: int = 0
    created_at: str | None = None
    updated_at: str | None = None
    error: ErrorInfo | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # every field the service sent

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DocumentStatus:
        fields = _known(cls, data)
        fields["error"] = ErrorInfo.from_json(data.get("error"))
        return cls(**fields, raw=data)


@dataclass(frozen=True)
class Word:
    text: str
    bbox: list[float]
    confidence: float | None = None


@dataclass(frozen=True)
class Page:
    """One page's result; `number` is its number in the document (1-based)."""

    number: int
    text: str
    source: str
    confidence: float | None = None
    words: list[Word] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Page:
        fields = _known(cls, data)
        if data.get("words") is not None:
            fields["words"] = [Word(**_known(Word, w)) for w in data["words"]]
        return cls(**fields, raw=data)


@dataclass(frozen=True)
class Result:
    """A completed document's text, whole and per page."""

    document_id: str
    status: str
    text: str
    pages: list[Page]
    pages_total: int = 0
    created_at: str | None = None
    updated_at: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        fields = _known(cls, data)
        fields["pages"] = [Page.from_json(p) for p in data.get("pages", [])]
        fields.setdefault("text", "")
        return cls(**fields, raw=data)


@dataclass(frozen=True)
class Submission:
    """The answer to a submit: the document's id and status, and its result when `wait` sufficed."""

    document_id: str
    status: str
    content_sha256: str | None
    status_url: str | None
    result_url: str | None
    created: bool | None  # False when the same id, bytes and options were submitted before
    result: Result | None = None


@dataclass(frozen=True)
class DocumentList:
    documents: list[DocumentStatus]
    next_cursor: str | None


@dataclass(frozen=True)
class Health:
    status: str
    mode: str | None = None
    checks: dict[str, str] = field(default_factory=dict)
    http_status: int = 200

    @property
    def ok(self) -> bool:
        return self.http_status == 200 and self.status == "ok"


# -- errors ----------------------------------------------------------------------------------------

class OcrClientError(Exception):
    """Base of every error this client raises."""


class ServiceUnreachable(OcrClientError):
    """The service did not answer (refused, timed out, name not resolved)."""


class ApiError(OcrClientError):
    """The service answered with an error: `status_code`, and the `code` and `message` of its JSON body."""

    def __init__(self, status_code: int, code: str, message: str, body: Any = None,
                 retry_after: float | None = None):
        super().__init__(f"{message} ({code}, HTTP {status_code})")
        self.status_code, self.code, self.message, self.body = status_code, code, message, body
        self.retry_after = retry_after


class BadRequest(ApiError):
    """400, 413, 415, 422: the request or the document is not acceptable as it is."""


class Unauthorized(ApiError):
    """401/403: no API key, or a wrong one."""


class NotFound(ApiError):
    """404: no such document (or not this key's), or an unknown `sha256`."""


class Conflict(ApiError):
    """409: the document id exists with other content or options."""


class DocumentFailed(ApiError):
    """The document ended failed (or cancelled): `status` holds its state and `code` its error."""

    def __init__(self, status: DocumentStatus, status_code: int = 409):
        error = status.error or ErrorInfo(status.status, f"The document is {status.status}.")
        super().__init__(status_code, error.code, error.message, status.raw)
        self.status = status


class NotFinished(ApiError):
    """The result was asked for before the document finished: `status` holds its progress."""

    def __init__(self, status: DocumentStatus, retry_after: float | None = None):
        super().__init__(202, "not_finished", f"The document is still {status.status} "
                              f"({status.pages_done}/{status.pages_total} pages).", status.raw, retry_after)
        self.status = status


class RateLimited(ApiError):
    """429 after the retries ran out."""


class Unavailable(ApiError):
    """503 after the retries ran out: a dependency of the service is down."""


_ERRORS: dict[int, type[ApiError]] = {400: BadRequest, 401: Unauthorized, 403: Unauthorized, 404: NotFound,
                                      409: Conflict, 413: BadRequest, 415: BadRequest, 422: BadRequest,
                                      429: RateLimited, 503: Unavailable}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def error_from(response: httpx.Response) -> ApiError:
    """The typed error for an error answer (the body must have been read)."""
    body = _json(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        code, message = str(error.get("code", "http_error")), str(error.get("message", ""))
    else:  # not the service's shape: a proxy or a load balancer answered
        code, message = "http_error", (response.text.strip()[:200] or response.reason_phrase)
    cls = _ERRORS.get(response.status_code, ApiError)
    return cls(response.status_code, code, message, body, _retry_after(response))


# -- requests, shared by both clients ----------------------------------------------------------------

@dataclass
class _Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    headers: dict[str, str] | None = None
    file: Path | BinaryIO | bytes | None = None
    filename: str | None = None
    ok: tuple[int, ...] = (200,)  # answers that are not errors
    retry: bool = True
    wait_s: float = 0.0  # the server may hold the answer this long (Prefer: wait) before it answers

    def kwargs(self, opened: list[BinaryIO], timeout: float) -> dict[str, Any]:
        """httpx arguments, built afresh for every attempt (a retried upload is read from the start).
        A file this opens is appended to `opened`, for the caller to close after the attempt."""
        kwargs: dict[str, Any] = {"params": self.params, "headers": self.headers}
        if self.wait_s:
            kwargs["timeout"] = httpx.Timeout(timeout + self.wait_s, connect=min(timeout, 10.0))
        if self.data is not None:
            kwargs["data"] = self.data
        if self.file is not None:
            if isinstance(self.file, Path):
                content: BinaryIO | bytes = open(self.file, "rb")  # noqa: SIM115 - the caller closes it
                opened.append(content)
            elif isinstance(self.file, bytes):
                content = self.file
            else:
                self.file.seek(0)
                content = self.file
            kwargs["files"] = {"file": (self.filename or "document", content)}
        return kwargs


def _submit_call(file: str | os.PathLike | BinaryIO | bytes | None, *, sha256: str | None, document_id: str | None,
                 language: str | None, mode: str | None, pages: str | None, callback_url: str | None,
                 client_tag: str | None, min_quality: float | None, wait: float | None,
                 filename: str | None) -> _Call:
    if (file is None) == (sha256 is None):
        raise ValueError("pass either a file or a sha256")
    form = {"sha256": sha256, "document_id": document_id, "language": language, "mode": mode, "pages": pages,
            "callback_url": callback_url, "client_tag": client_tag,
            "min_quality": None if min_quality is None else f"{min_quality:g}"}
    data = {k: str(v) for k, v in form.items() if v is not None}
    headers = {"Prefer": f"wait={wait:g}"} if wait else None
    if isinstance(file, (str, os.PathLike)):
        file = Path(file)
        filename = filename or file.name
        if not file.is_file():  # before any request: a clear error, not a half-sent upload
            raise FileNotFoundError(f"No such file: {file}")
    elif file is not None and not isinstance(file, bytes):
        filename = filename or Path(getattr(file, "name", "document")).name
    return _Call("POST", "/extract", data=data, headers=headers, file=file, filename=filename, ok=(200, 202),
                 wait_s=wait or 0.0)


def _submission(response: httpx.Response, base_url: str) -> Submission:
    body = response.json()
    document_id = body["document_id"]
    created = response.headers.get("X-Created")
    result = Result.from_json(body) if response.status_code == 200 else None
    return Submission(
        document_id=document_id, status=body["status"], content_sha256=body.get("content_sha256"),
        status_url=body.get("status_url") or response.headers.get("Location")
        or f"{base_url}/check-status/{document_id}",
        result_url=body.get("result_url") or f"{base_url}/result/{document_id}",
        created=None if created is None else created == "true", result=result)


def _result_call(document_id: str, format: Format, words: bool) -> _Call:
    params: dict[str, Any] = {"format": format}
    if words:
        params["words"] = "true"
    # 202: not finished (the status body), 409: failed (the status body)
    return _Call("GET", f"/result/{document_id}", params=params, ok=(200, 202, 409))


def _check_result(response: httpx.Response) -> None:
    """Raise NotFinished or DocumentFailed for the 202 and 409 answers of GET /result."""
    if response.status_code == 200:
        return
    body = _json(response)
    if isinstance(body, dict) and "status" in body and "document_id" in body:
        status = DocumentStatus.from_json(body)
        if response.status_code == 202:
            raise NotFinished(status, _retry_after(response))
        raise DocumentFailed(status, response.status_code)
    raise error_from(response)


def _list_call(status: str | None, limit: int | None, cursor: str | None) -> _Call:
    params = {k: v for k, v in {"status": status, "limit": limit, "cursor": cursor}.items() if v is not None}
    return _Call("GET", "/documents", params=params)


def _document_list(body: dict[str, Any]) -> DocumentList:
    items = body.get("documents", body.get("items", []))
    return DocumentList([DocumentStatus.from_json(d) for d in items], body.get("next_cursor"))


def _health(response: httpx.Response) -> Health:
    body = _json(response)
    if not isinstance(body, dict) or "status" not in body:
        raise error_from(response)
    return Health(status=body["status"], mode=body.get("mode"), checks=body.get("checks") or {},
                  http_status=response.status_code)


def _status_or_none(response: httpx.Response) -> DocumentStatus | None:
    body = _json(response)
    return DocumentStatus.from_json(body) if isinstance(body, dict) and "document_id" in body else None


class _Base:
    def __init__(self, url: str | None, api_key: str | None, timeout: float, max_retries: int,
                 max_retry_wait_s: float):
        self.url = (url or os.environ.get("OCR_URL") or DEFAULT_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OCR_API_KEY") or None
        self.timeout, self.max_retries, self.max_retry_wait_s = timeout, max_retries, max_retry_wait_s
        headers = {"User-Agent": "ocr-service-client"}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        self._client_args = {"base_url": self.url, "headers": headers,
                             "timeout": httpx.Timeout(timeout, connect=min(timeout, 10.0))}

    def _delay(self, response: httpx.Response | None, attempt: int) -> float | None:
        """Seconds to wait before the next attempt, or None when this answer is final."""
        if response is None or response.status_code not in RETRY_STATUSES or attempt >= self.max_retries:
            return None
        after = _retry_after(response)
        return min(after if after is not None else 0.5 * 2 ** attempt, self.max_retry_wait_s)

    def _unreachable(self, error: httpx.TransportError) -> ServiceUnreachable:
        kind = "did not answer in time" if isinstance(error, httpx.TimeoutException) else "does not answer"
        return ServiceUnreachable(f"The OCR service at {self.url} {kind} ({type(error).__name__}).")


# -- the synchronous client --------------------------------------------------------------------------

class Client(_Base):
    """Synchronous client. Use as a context manager, or call `close()`."""

    def __init__(self, url: str | None = None, api_key: str | None = None, *, timeout: float = 120.0,
                 max_retries: int = 4, max_retry_wait_s: float = 30.0, transport: httpx.BaseTransport | None = None):
        super().__init__(url, api_key, timeout, max_retries, max_retry_wait_s)
        self._http = httpx.Client(transport=transport, **self._client_args)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: _Call, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            opened: list[BinaryIO] = []
            try:
                request = self._http.build_request(call.method, call.path, **call.kwargs(opened, self.timeout))
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as error:
                raise self._unreachable(error) from None
            finally:
                for f in opened:
                    f.close()
            delay = self._delay(response, attempt) if call.retry else None
            if delay is None:
                if response.status_code not in call.ok:
                    response.read()
                    response.close()
                    raise error_from(response)
                return response
            response.close()
            time.sleep(delay)
            attempt += 1

    # submit
    def submit(self, file: str | os.PathLike | BinaryIO | bytes | None = None, *, sha256: str | None = None,
               document_id: str | None = None, language: str | None = None, mode: str | None = None,
               pages: str | None = None, callback_url: str | None = None, client_tag: str | None = None,
               min_quality: float | None = None, wait: float | None = None,
               filename: str | None = None) -> Submission:
        """Upload a document (a path, an open binary file or bytes), or name one sent before by `sha256`.
        `pages` e.g. `1-3,7`; `wait` seconds (`Prefer: wait`): the result comes back in the answer
        (`Submission.result`) when the document completes within that time."""
        call = _submit_call(file, sha256=sha256, document_id=document_id, language=language, mode=mode,
                            pages=pages, callback_url=callback_url, client_tag=client_tag,
                            min_quality=min_quality, wait=wait, filename=filename)
        return _submission(self._send(call), self.url)

    # read
    def status(self, document_id: str) -> DocumentStatus:
        return DocumentStatus.from_json(self._send(_Call("GET", f"/check-status/{document_id}")).json())

    def wait(self, document_id: str, timeout: float | None = None, interval: float = 0.5,
             on_progress: Callable[[DocumentStatus], None] | None = None) -> DocumentStatus:
        """Poll until the document is finished (completed, failed or cancelled); returns its last status.
        Raises TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status(document_id)
            if on_progress:
                on_progress(status)
            if status.finished:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{document_id} is still {status.status} after {timeout:g} s")
            time.sleep(interval)

    def result(self, document_id: str, words: bool = False) -> Result:
        """The completed document's result. Raises NotFinished, DocumentFailed, NotFound."""
        response = self._send(_result_call(document_id, "json", words))
        _check_result(response)
        return Result.from_json(response.json())

    def text(self, document_id: str) -> str:
        response = self._send(_result_call(document_id, "text", False))
        _check_result(response)
        return response.text

    def hocr(self, document_id: str) -> str:
        response = self._send(_result_call(document_id, "hocr", False))
        _check_result(response)
        return response.text

    def pdf(self, document_id: str) -> bytes:
        """The searchable PDF in memory; `download` streams it to a file instead."""
        response = self._send(_result_call(document_id, "pdf", False))
        _check_result(response)
        return response.content

    def download(self, document_id: str, path: str | os.PathLike, format: Format = "pdf",
                 words: bool = False) -> Path:
        """Stream the result in `format` into `path` (written whole or not at all). Returns the path."""
        path = Path(path)
        response = self._send(_result_call(document_id, format, words), stream=True)
        try:
            if response.status_code != 200:
                response.read()
                _check_result(response)
            with _Replacing(path) as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        except httpx.TransportError as error:
            raise self._unreachable(error) from None
        finally:
            response.close()
        return path

    def documents(self, status: str | None = None, limit: int | None = None,
                  cursor: str | None = None) -> DocumentList:
        """One page of this key's documents; pass `next_cursor` back for the next page."""
        return _document_list(self._send(_list_call(status, limit, cursor)).json())

    def iter_documents(self, status: str | None = None, page_size: int | None = None) -> Iterator[DocumentStatus]:
        """Every document of this key, following the cursor from page to page."""
        cursor = None
        while True:
            page = self.documents(status, page_size, cursor)
            yield from page.documents
            if not page.next_cursor or not page.documents:
                return
            cursor = page.next_cursor

    # change
    def delete(self, document_id: str) -> None:
        """Delete the document, its result and its upload."""
        self._send(_Call("DELETE", f"/documents/{document_id}", ok=(200, 202, 204)))

    def cancel(self, document_id: str) -> DocumentStatus:
        """Stop a queued or processing document; returns its status."""
        response = self._send(_Call("POST", f"/documents/{document_id}/cancel", ok=(200, 202)))
        return _status_or_none(response) or self.status(document_id)

    # service
    def languages(self) -> list[str]:
        return list(self._send(_Call("GET", "/languages")).json()["languages"])

    def health(self) -> Health:
        """GET /health: dependencies included; a 503 comes back as a Health whose `ok` is False."""
        return _health(self._send(_Call("GET", "/health", ok=(200, 503), retry=False)))

    def live(self) -> Health:
        return _health(self._send(_Call("GET", "/health/live", ok=(200, 503), retry=False)))

    def ready(self) -> Health:
        return _health(self._send(_Call("GET", "/health/ready", ok=(200, 503), retry=False)))


# -- the asynchronous client -------------------------------------------------------------------------

class AsyncClient(_Base):
    """Asynchronous client (the same methods as `Client`, awaited). Use as an async context manager."""

    def __init__(self, url: str | None = None, api_key: str | None = None, *, timeout: float = 120.0,
                 max_retries: int = 4, max_retry_wait_s: float = 30.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        super().__init__(url, api_key, timeout, max_retries, max_retry_wait_s)
        self._http = httpx.AsyncClient(transport=transport, **self._client_args)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: _Call, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            opened: list[BinaryIO] = []
            try:
                request = self._http.build_request(call.method, call.path, **call.kwargs(opened, self.timeout))
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as error:
                raise self._unreachable(error) from None
            finally:
                for f in opened:
                    f.close()
            delay = self._delay(response, attempt) if call.retry else None
            if delay is None:
                if response.status_code not in call.ok:
                    await response.aread()
                    await response.aclose()
                    raise error_from(response)
                return response
            await response.aclose()
            await asyncio.sleep(delay)
            attempt += 1

    async def submit(self, file: str | os.PathLike | BinaryIO | bytes | None = None, *, sha256: str | None = None,
                     document_id: str | None = None, language: str | None = None, mode: str | None = None,
                     pages: str | None = None, callback_url: str | None = None, client_tag: str | None = None,
                     min_quality: float | None = None, wait: float | None = None,
                     filename: str | None = None) -> Submission:
        call = _submit_call(file, sha256=sha256, document_id=document_id, language=language, mode=mode,
                            pages=pages, callback_url=callback_url, client_tag=client_tag,
                            min_quality=min_quality, wait=wait, filename=filename)
        return _submission(await self._send(call), self.url)

    async def status(self, document_id: str) -> DocumentStatus:
        return DocumentStatus.from_json((await self._send(_Call("GET", f"/check-status/{document_id}"))).json())

    async def wait(self, document_id: str, timeout: float | None = None, interval: float = 0.5,
                   on_progress: Callable[[DocumentStatus], None] | None = None) -> DocumentStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = await self.status(document_id)
            if on_progress:
                on_progress(status)
            if status.finished:
                return status
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"{document_id} is still {status.status} after {timeout:g} s")
            await asyncio.sleep(interval)

    async def result(self, document_id: str, words: bool = False) -> Result:
        response = await self._send(_result_call(document_id, "json", words))
        _check_result(response)
        return Result.from_json(response.json())

    async def text(self, document_id: str) -> str:
        response = await self._send(_result_call(document_id, "text", False))
        _check_result(response)
        return response.text

    async def hocr(self, document_id: str) -> str:
        response = await self._send(_result_call(document_id, "hocr", False))
        _check_result(response)
        return response.text

    async def pdf(self, document_id: str) -> bytes:
        response = await self._send(_result_call(document_id, "pdf", False))
        _check_result(response)
        return response.content

    async def download(self, document_id: str, path: str | os.PathLike, format: Format = "pdf",
                       words: bool = False) -> Path:
        path = Path(path)
        response = await self._send(_result_call(document_id, format, words), stream=True)
        try:
            if response.status_code != 200:
                await response.aread()
                _check_result(response)
            with _Replacing(path) as out:
                async for chunk in response.aiter_bytes():
                    out.write(chunk)
        except httpx.TransportError as error:
            raise self._unreachable(error) from None
        finally:
            await response.aclose()
        return path

    async def documents(self, status: str | None = None, limit: int | None = None,
                        cursor: str | None = None) -> DocumentList:
        return _document_list((await self._send(_list_call(status, limit, cursor))).json())

    async def iter_documents(self, status: str | None = None,
                             page_size: int | None = None) -> AsyncIterator[DocumentStatus]:
        cursor = None
        while True:
            page = await self.documents(status, page_size, cursor)
            for document in page.documents:
                yield document
            if not page.next_cursor or not page.documents:
                return
            cursor = page.next_cursor

    async def delete(self, document_id: str) -> None:
        await self._send(_Call("DELETE", f"/documents/{document_id}", ok=(200, 202, 204)))

    async def cancel(self, document_id: str) -> DocumentStatus:
        response = await self._send(_Call("POST", f"/documents/{document_id}/cancel", ok=(200, 202)))
        return _status_or_none(response) or await self.status(document_id)

    async def languages(self) -> list[str]:
        return list((await self._send(_Call("GET", "/languages"))).json()["languages"])

    async def health(self) -> Health:
        return _health(await self._send(_Call("GET", "/health", ok=(200, 503), retry=False)))

    async def live(self) -> Health:
        return _health(await self._send(_Call("GET", "/health/live", ok=(200, 503), retry=False)))

    async def ready(self) -> Health:
        return _health(await self._send(_Call("GET", "/health/ready", ok=(200, 503), retry=False)))


class _Replacing:
    """A file written beside `path` and moved over it on success, so `path` is never half-written."""

    def __init__(self, path: Path):
        self.path = path

    def __enter__(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        self.file = os.fdopen(fd, "wb")
        return self.file

    def __exit__(self, exc_type, *exc) -> None:
        self.file.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            os.unlink(self.tmp)

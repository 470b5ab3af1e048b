"""`ocr-service serve | worker | keys` (the server and its keys) and `submit | status | result | delete | cancel`
(a client)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .client import (
    ApiError,
    AsyncClient,
    BadRequest,
    Client,
    Conflict,
    DocumentFailed,
    DocumentStatus,
    NotFinished,
    NotFound,
    OcrClientError,
    ServiceUnreachable,
    Unauthorized,
)
from .config import Backend, Settings


class ConfigurationError(Exception):
    """The environment does not describe a service that can start."""


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "port", None):
        overrides["port"] = args.port
    if getattr(args, "host", None):
        overrides["host"] = args.host
    if getattr(args, "ocr_workers", None):
        overrides["ocr_workers"] = args.ocr_workers
    if getattr(args, "no_workers", False):
        overrides["run_workers"] = False
    try:
        return Settings(**overrides)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc'])) or 'settings'}: {item['msg']}".removeprefix(
            "settings: Value error, ") for item in error.errors(include_input=False))
        raise ConfigurationError(problems) from None


def _observability(settings: Settings):
    """Logs through structlog, and a metrics directory shared with this process's OCR processes. Before
    anything imports prometheus-client (it picks its multiprocess mode on import). Returns what removes
    that directory when the service stops."""
    from .logs import configure, secrets_of
    from .metrics_dir import ensure_multiprocess_dir

    configure(settings.log_level, settings.log_format, secrets_of(settings))
    return ensure_multiprocess_dir()


def serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    remove_metrics = _observability(settings)

    import uvicorn

    from .api import create_app
    from .api.server import uvicorn_config

    runtime = _runtime(settings)
    try:
        # One server process: the OCR runs in the runtime's own process pool, not in uvicorn workers.
        # uvicorn's logging stays as configured above; the app writes its own line per request.
        # The app closes the runtime as it shuts down: uvicorn re-raises SIGTERM once it has stopped, so
        # nothing after the server's run is sure to run.
        config = uvicorn_config(create_app(settings, runtime, close_runtime=True), settings)
        uvicorn.Server(config).run()
    finally:
        runtime.close()  # idempotent: covers a start that failed before the app took it over
        remove_metrics()
    return 0


def _runtime(settings: Settings, run_workers: bool | None = None):
    from .runtime import NoApiKey, build_runtime

    try:
        return build_runtime(settings, run_workers=run_workers)
    except NoApiKey as error:
        raise ConfigurationError(str(error)) from None


def worker(args: argparse.Namespace) -> int:
    settings = _settings(args)
    remove_metrics = _observability(settings)
    if settings.backend is not Backend.PRODUCTION:
        print("ocr-service worker needs MONGO_CONNECTION_STRING and REDIS_HOST (production mode); "
              "in embedded mode `ocr-service serve` runs the workers itself.", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runtime = _runtime(settings, run_workers=True)
    logging.getLogger(__name__).info("worker ready (%d OCR processes)", settings.ocr_workers)
    stop.wait()
    runtime.close()
    remove_metrics()
    return 0


def keys(args: argparse.Namespace) -> int:
    """Manage API keys in the configured backend's store (run where the service's settings are)."""
    from .access import Access
    from .runtime import open_store

    store = open_store(_settings(args))
    try:
        if args.keys_command == "create":
            try:
                record, secret = Access(store, None, False).create_key(args.tenant)
            except ValueError as error:
                print(f"ocr-service keys create: {error}", file=sys.stderr)
                return 2
            print(secret)
            print(f"key {record.key_id} for tenant {record.tenant}: shown once, keep it now", file=sys.stderr)
        elif args.keys_command == "list":
            print(f"{'KEY ID':<14} {'TENANT':<24} {'CREATED':<26} REVOKED")
            for key in sorted(store.list_keys(), key=lambda key: key.created_at):
                revoked = key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "-"
                print(f"{key.key_id:<14} {key.tenant:<24} {key.created_at.isoformat(timespec='seconds'):<26} {revoked}")
        elif not store.revoke_key(args.key_id):
            print(f"ocr-service keys revoke: no key {args.key_id}", file=sys.stderr)
            return 1
        return 0
    finally:
        store.close()


# -- client verbs: submit, status, result, delete, cancel (over HTTP, through ocr_service.client) ------

DOCUMENT_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
EXTENSIONS = {"text": ".txt", "pdf": ".pdf", "hocr": ".hocr", "json": ".json"}
# Uploads this small ask for their result in the upload's own answer (Prefer: wait): one call, no polling.
SMALL_UPLOAD_BYTES = 2 * 1024 * 1024
SMALL_WAIT_S = 20


class CliError(Exception):
    """A mistake in the command line or its files, told in one line."""


@dataclass(frozen=True)
class _Job:
    source: Path
    output: Path
    label: str  # the input as the user named it (or found in a folder they named)


def _output_path(source: Path, relative: Path, out: Path | None, fmt: str) -> Path:
    target = (out / relative if out else source).with_suffix(EXTENSIONS[fmt])
    if target.resolve() == source.resolve():  # a searchable PDF beside its original: never over it
        target = target.with_name(f"{target.stem}.ocr{target.suffix}")
    return target


def _jobs(inputs: list[str], out: Path | None, fmt: str) -> list[_Job]:
    """Every document to submit: the files named, and the PDFs and images in the folders named."""
    jobs = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in DOCUMENT_SUFFIXES)
            if not found:
                raise CliError(f"{name}: the folder holds no PDF, PNG, JPEG or TIFF file")
            # Into --out, a folder's files keep their place below it, so equal names cannot collide.
            jobs += [_Job(p, _output_path(p, p.relative_to(path), out, fmt), str(p)) for p in found]
        elif path.is_file():
            jobs.append(_Job(path, _output_path(path, Path(path.name), out, fmt), name))
        elif path.exists():
            raise CliError(f"{name}: not a file")
        else:
            raise CliError(f"{name}: no such file or folder")
    outputs: dict[Path, str] = {}
    for job in jobs:
        other = outputs.setdefault(job.output.resolve(), job.label)
        if other != job.label:
            raise CliError(f"{other} and {job.label} would both be written to {job.output}; use --out")
    return jobs


def _describe(error: BaseException) -> str:
    if isinstance(error, Unauthorized):
        return f"{error.message} ({error.code}, HTTP {error.status_code}); pass --api-key or set OCR_API_KEY"
    if isinstance(error, ServiceUnreachable):
        return f"{error} Check --url or OCR_URL."
    if isinstance(error, ApiError):
        return f"{error.message} ({error.code}, HTTP {error.status_code})"
    if isinstance(error, OSError) and error.strerror:
        return f"{error.filename}: {error.strerror}" if error.filename else error.strerror
    return str(error) or type(error).__name__


def _fail(message: str) -> None:
    print(f"ocr-service: error: {message}", file=sys.stderr)


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def _client_verb(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a client verb; its errors end as one line on stderr and exit status 2, never a traceback."""
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except KeyboardInterrupt:
            _fail("interrupted")
            return 130
        except (OcrClientError, OSError, CliError, BaseExceptionGroup) as error:
            leaves = _leaves(error)
            if any(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
                _fail("interrupted")
                return 130
            known = [leaf for leaf in leaves if isinstance(leaf, (OcrClientError, OSError, CliError))]
            if not known:
                raise
            _fail(_describe(known[0]))
            return 2

    return run


def _client(args: argparse.Namespace) -> Client:
    return Client(args.url, args.api_key)


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


async def _follow(client: AsyncClient, document_id: str, on_progress: Callable[[DocumentStatus], None]) -> None:
    """Report a document's progress while its upload waits for the result (until cancelled)."""
    while True:
        await asyncio.sleep(0.5)
        try:
            on_progress(await client.status(document_id))
        except NotFound:  # the upload has not been stored yet
            pass


async def _process(client: AsyncClient, args: argparse.Namespace, job: _Job,
                   on_progress: Callable[[DocumentStatus], None]) -> str:
    """Submit one document, follow it to the end, write its result. Returns the document id."""
    wait = SMALL_WAIT_S if job.source.stat().st_size <= SMALL_UPLOAD_BYTES and not args.no_wait else None
    # The id is chosen here, so that the bar can follow the pages while the upload's answer waits.
    document_id = args.document_id or uuid.uuid4().hex
    follow = asyncio.create_task(_follow(client, document_id, on_progress)) if wait else None
    try:
        submission = await client.submit(job.source, document_id=document_id, language=args.language,
                                         mode=args.mode, pages=args.pages, wait=wait)
    finally:
        if follow is not None:
            follow.cancel()
    result = submission.result
    if args.no_wait:
        return document_id
    if result is None:
        status = await client.wait(document_id, on_progress=on_progress)
        if status.status != "completed":
            raise DocumentFailed(status)
    else:
        on_progress(DocumentStatus(document_id, result.status, result.pages_total, result.pages_total))
    if args.format == "json":
        result = result or await client.result(document_id)
        _write_text(job.output, json.dumps(result.raw, ensure_ascii=False, indent=2) + "\n")
    elif args.format == "text":
        _write_text(job.output, result.text if result else await client.text(document_id))
    else:
        await client.download(document_id, job.output, args.format)
    return document_id


async def _submit_all(args: argparse.Namespace, jobs: list[_Job]) -> list[tuple[_Job, str]]:
    """Submit the documents, `--concurrency` at a time, with a bar per document and one for them all
    (only on a terminal: in a pipe nothing but the result lines). Returns the failures. Errors that
    every document would meet (no answer, a wrong key) stop them all."""
    console = Console(stderr=True)
    progress = Progress(TextColumn("{task.description}", style="bold"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[unit]}"), TimeElapsedColumn(), console=console,
                        disable=not console.is_terminal, redirect_stdout=sys.stdout.isatty())
    failures: list[tuple[_Job, str]] = []
    slots = asyncio.Semaphore(args.concurrency)
    async with AsyncClient(args.url, args.api_key) as client:
        with progress:
            overall = progress.add_task("all files", total=len(jobs), unit="files") if len(jobs) > 1 else None

            async def one(job: _Job) -> None:
                async with slots:
                    bar = progress.add_task(job.label, total=None, unit="pages")

                    def on_progress(status: DocumentStatus) -> None:
                        progress.update(bar, total=status.pages_total or None, completed=status.pages_done)

                    try:
                        document_id = await _process(client, args, job, on_progress)
                        target = "submitted" if args.no_wait else str(job.output)
                        print(f"{job.label} -> {target} (document {document_id})", flush=True)
                    except (DocumentFailed, BadRequest, Conflict, NotFound, OSError) as error:
                        failures.append((job, _describe(error)))
                        print(f"ocr-service: {job.label}: {_describe(error)}", file=sys.stderr, flush=True)
                    finally:
                        progress.remove_task(bar)
                        if overall is not None:
                            progress.advance(overall)

            async with asyncio.TaskGroup() as group:
                for job in jobs:
                    group.create_task(one(job))
    return failures


@_client_verb
def submit(args: argparse.Namespace) -> int:
    if args.document_id and len(args.files) > 1:
        raise CliError("--document-id names one document: submit one file with it")
    jobs = _jobs(args.files, Path(args.out) if args.out else None, args.format)
    if args.document_id and len(jobs) > 1:
        raise CliError("--document-id names one document, but the folder holds several")
    failures = asyncio.run(_submit_all(args, jobs))
    if failures:
        names = ", ".join(job.label for job, _ in failures)
        print(f"ocr-service: {len(failures)} of {len(jobs)} failed: {names}", file=sys.stderr)
        return 1
    return 0


def _each(args: argparse.Namespace, act: Callable[[Client, str], None]) -> int:
    """Apply `act` to each document id; a document's error is reported and the others go on."""
    failed = []
    with _client(args) as client:
        for document_id in args.document_ids:
            try:
                act(client, document_id)
            except (DocumentFailed, NotFinished, BadRequest, Conflict, NotFound, OSError) as error:
                failed.append(document_id)
                print(f"ocr-service: {document_id}: {_describe(error)}", file=sys.stderr)
    if failed:
        if len(args.document_ids) > 1:
            print(f"ocr-service: {len(failed)} of {len(args.document_ids)} failed: {', '.join(failed)}",
                  file=sys.stderr)
        return 1
    return 0


@_client_verb
def status(args: argparse.Namespace) -> int:
    def show(client: Client, document_id: str) -> None:
        state = client.status(document_id)
        if args.json:
            print(json.dumps(state.raw, ensure_ascii=False))
            return
        line = f"{state.document_id}: {state.status}, {state.pages_done}/{state.pages_total} pages"
        if state.error:
            line += f" ({state.error.code}: {state.error.message})"
        print(line)

    return _each(args, show)


@_client_verb
def result(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else None
    if out is None and args.format == "pdf" and sys.stdout.isatty():
        raise CliError("a PDF is binary: write it with --out DIR, or redirect the output to a file")

    def fetch(client: Client, document_id: str) -> None:
        if args.wait:
            client.wait(document_id)
        if out is not None:
            target = client.download(document_id, out / f"{document_id}{EXTENSIONS[args.format]}", args.format)
            print(f"{document_id} -> {target}")
        elif args.format == "pdf":
            sys.stdout.buffer.write(client.pdf(document_id))
            sys.stdout.flush()
        elif args.format == "json":
            print(json.dumps(client.result(document_id).raw, ensure_ascii=False, indent=2))
        else:
            text = client.text(document_id) if args.format == "text" else client.hocr(document_id)
            print(text, end="" if text.endswith("\n") else "\n")

    return _each(args, fetch)


@_client_verb
def delete(args: argparse.Namespace) -> int:
    def remove(client: Client, document_id: str) -> None:
        client.delete(document_id)
        print(f"{document_id}: deleted")

    return _each(args, remove)


@_client_verb
def cancel(args: argparse.Namespace) -> int:
    def stop(client: Client, document_id: str) -> None:
        print(f"{document_id}: {client.cancel(document_id).status}")

    return _each(args, stop)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _add_client_verbs(commands) -> None:
    connection = argparse.ArgumentParser(add_help=False)
    connection.add_argument("--url", help="the service's base URL (default: $OCR_URL, else http://127.0.0.1:8000)")
    connection.add_argument("--api-key", help="the API key (default: $OCR_API_KEY)")

    p = commands.add_parser("submit", parents=[connection], help="OCR files and folders, write their results",
                            description="Upload documents (files, or the PDFs and images in folders), show their "
                                        "progress, and write each result beside its input (or into --out) as "
                                        "NAME.txt, .pdf (NAME.ocr.pdf beside a PDF), .hocr or .json.")
    p.add_argument("files", nargs="+", metavar="FILE", help="a PDF, PNG, JPEG or TIFF file, or a folder of them")
    p.add_argument("--language", help="Tesseract languages joined by '+', e.g. eng+fra (default: the service's)")
    p.add_argument("--mode", choices=["auto", "ocr", "text"], help="auto (default), ocr or text")
    p.add_argument("--pages", help="only these pages, e.g. 1-3,7")
    p.add_argument("--format", default="text", choices=list(EXTENSIONS), help="what to write (default: text)")
    p.add_argument("--out", metavar="DIR", help="write the results here instead of beside the inputs")
    p.add_argument("--concurrency", type=_positive, default=4, metavar="N", help="documents at once (default: 4)")
    p.add_argument("--document-id", help="your id for the document (one file only)")
    p.add_argument("--no-wait", action="store_true", help="only submit: print the document ids, write nothing")
    p.set_defaults(func=submit)

    for name, func, help_text in (("status", status, "show documents' status"),
                                  ("result", result, "print or save documents' results"),
                                  ("delete", delete, "delete documents and their results"),
                                  ("cancel", cancel, "cancel queued or processing documents")):
        p = commands.add_parser(name, parents=[connection], help=help_text)
        p.add_argument("document_ids", nargs="+", metavar="DOCUMENT_ID")
        p.set_defaults(func=func)
        if name == "status":
            p.add_argument("--json", action="store_true", help="print each status as a JSON line")
        if name == "result":
            p.add_argument("--format", default="text", choices=list(EXTENSIONS), help="default: text")
            p.add_argument("--out", metavar="DIR", help="write DOCUMENT_ID.EXT files here instead of to stdout")
            p.add_argument("--wait", action="store_true", help="wait for unfinished documents")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ocr-service", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("serve", help="run the HTTP API (and, by default, the workers)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--ocr-workers", type=int, help="OCR processes (default: one per core)")
    p.add_argument("--no-workers", action="store_true", help="production mode: API only")
    p.set_defaults(func=serve)

    p = commands.add_parser("worker", help="production mode: consume the Redis queue")
    p.add_argument("--ocr-workers", type=int, help="OCR processes (default: one per core)")
    p.set_defaults(func=worker)

    p = commands.add_parser("keys", help="manage API keys (one tenant each)")
    p.set_defaults(func=keys)
    key_commands = p.add_subparsers(dest="keys_command", required=True)
    create = key_commands.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--tenant", required=True, help="the tenant the key acts for")
    key_commands.add_parser("list", help="list keys (never the keys themselves)")
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")

    _add_client_verbs(commands)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigurationError as error:
        print(f"ocr-service: cannot start: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

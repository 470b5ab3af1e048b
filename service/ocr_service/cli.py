"""`ocr-service serve | worker | keys | submit | status | result`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path

from pydantic import ValidationError

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

    runtime = _runtime(settings)
    try:
        # One server process: the OCR runs in the runtime's own process pool, not in uvicorn workers.
        # uvicorn's logging stays as configured above; the app writes its own line per request.
        uvicorn.run(create_app(settings, runtime), host=settings.host, port=settings.port,
                    log_level=settings.log_level, timeout_graceful_shutdown=10, log_config=None, access_log=False)
    finally:
        runtime.close()
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


def _client(args: argparse.Namespace):
    import httpx

    return httpx.Client(base_url=args.url, timeout=120)


def submit(args: argparse.Namespace) -> int:
    with _client(args) as client, open(args.file, "rb") as f:
        data = {"language": args.language, "mode": args.mode}
        if args.document_id:
            data["document_id"] = args.document_id
        response = client.post("/extract", files={"file": (Path(args.file).name, f)}, data=data)
        print(json.dumps(response.json(), indent=2))
        if response.status_code != 202 or not args.wait:
            return 0 if response.status_code == 202 else 1
        document_id = response.json()["document_id"]
        while (status := client.get(f"/check-status/{document_id}").json())["status"] in ("queued", "processing"):
            progress = f"{status['status']}: {status['pages_done']}/{status['pages_total']} pages"
            print("\r" + progress, end="", file=sys.stderr)
            time.sleep(0.5)
        print(file=sys.stderr)
        print(client.get(f"/result/{document_id}", params={"format": "text"}).text)
        return 0 if status["status"] == "completed" else 1


def status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        response = client.get(f"/check-status/{args.document_id}")
        print(json.dumps(response.json(), indent=2))
        return 0 if response.status_code == 200 else 1


def result(args: argparse.Namespace) -> int:
    with _client(args) as client:
        response = client.get(f"/result/{args.document_id}", params={"format": args.format})
        if args.format == "pdf" and response.status_code == 200:
            sys.stdout.buffer.write(response.content)
        else:
            print(response.text)
        return 0 if response.status_code == 200 else 1


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

    for name, func, help_text in (("submit", submit, "upload a file"), ("status", status, "show a status"),
                                  ("result", result, "print a result")):
        p = commands.add_parser(name, help=help_text)
        p.add_argument("--url", default="http://127.0.0.1:8000", help="the service's base URL")
        p.set_defaults(func=func)
        if name == "submit":
            p.add_argument("file")
            p.add_argument("--document-id")
            p.add_argument("--language", default="eng")
            p.add_argument("--mode", default="auto", choices=["auto", "ocr", "text"])
            p.add_argument("--wait", action="store_true", help="wait and print the text")
        else:
            p.add_argument("document_id")
        if name == "result":
            p.add_argument("--format", default="json", choices=["json", "text", "hocr", "pdf"])

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigurationError as error:
        print(f"ocr-service: cannot start: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

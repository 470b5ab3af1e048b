"""`ocr-service serve | worker | submit | status | result`."""

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


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .api import create_app
    from .api.server import uvicorn_config

    settings = _settings(args)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One server process: the OCR runs in the runtime's own process pool, not in uvicorn workers.
    uvicorn.Server(uvicorn_config(create_app(settings), settings)).run()
    return 0


def worker(args: argparse.Namespace) -> int:
    from .runtime import build_runtime

    settings = _settings(args)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if settings.backend is not Backend.PRODUCTION:
        print("ocr-service worker needs MONGO_CONNECTION_STRING and REDIS_HOST (production mode); "
              "in embedded mode `ocr-service serve` runs the workers itself.", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runtime = build_runtime(settings, run_workers=True)
    logging.getLogger(__name__).info("worker ready (%d OCR processes)", settings.ocr_workers)
    stop.wait()
    runtime.close()
    return 0


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

"""A real headless Chromium (Debian's package) driven by Playwright, for the browser tests.

Playwright's own browser download cannot work on these machines, so the system binary is launched by
path (`CHROMIUM` overrides it). Every request a page makes passes a guard that lets only loopback
hosts through and records the rest, so a test can prove a page loads nothing from the internet.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        raise RuntimeError("Debian's chromium is not installed: run `make deps` (mk/ui.mk installs it)")
    return path


def launch(playwright):
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True  # never leaves the browser
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NetworkGuard:
    """Routes every request of a browser context: loopback ones go on, any other is aborted and kept
    in `outside`."""

    def __init__(self, context):
        self.outside: list[str] = []
        self.seen: list[str] = []
        context.route("**/*", self._route)

    def _route(self, route) -> None:
        url = route.request.url
        self.seen.append(url)
        if is_loopback(url):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort("blockedbyclient")


class PageProblems:
    """JavaScript exceptions and Content-Security-Policy refusals a page reports. A refusal is a
    request the policy stopped before it left the browser; a test may `allow` the ones it knows."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.allowed: list[re.Pattern] = []
        page.on("pageerror", lambda error: self.errors.append(f"pageerror: {error}"))
        page.on("console", self._console)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def _console(self, message) -> None:
        text = message.text
        if message.type == "error" and re.search(r"Content.Security.Policy|Refused to", text):
            if not any(p.search(text) for p in self.allowed):
                self.errors.append(f"console: {text}")


class Screenshots:
    """One PNG per state, kept as test artifacts under test-artifacts/browser/<test>/ (git-ignored;
    TEST_ARTIFACTS moves the root)."""

    def __init__(self, test_name: str):
        root = Path(os.environ.get("TEST_ARTIFACTS") or ROOT / "test-artifacts")
        self.folder = root / "browser" / re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir(parents=True)
        self.count = 0

    def take(self, page, state: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{state}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def keep(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

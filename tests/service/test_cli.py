"""The CLI's client verbs (`ocr-service submit | status | result | delete | cancel`) against the real
service over HTTP: in a pseudo-terminal (progress bars) and in a pipe (plain lines only)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pexpect
import pypdf
import pytest

from tests.support import samples
from tests.support.documents import Doc
from tests.support.servers import BIN, ServiceFactory, free_port

KEY = "cli-test-key"
CLI = str(BIN / "ocr-service")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # any control character but tab and newline


@pytest.fixture(scope="module")
def keyed(tmp_path_factory, redis_server, mongo_server):
    """An embedded service that needs an API key."""
    factory = ServiceFactory(tmp_path_factory.mktemp("cli-service"), redis_server, mongo_server)
    yield factory("embedded", name="cli-service", API_KEY=KEY)
    factory.stop_all()


@pytest.fixture(scope="module")
def docs() -> dict[str, Doc]:
    scan = [samples.sample_text(900, lines=4), samples.sample_text(901, lines=4)]
    digital = [samples.sample_text(910 + n, lines=4) for n in range(3)]
    return {"scan": Doc("scan-a.pdf", samples.scanned_pdf(scan, seed=900), scan),
            "digital": Doc("digital-b.pdf", samples.text_pdf(digital), digital)}


def _env(url: str | None, key: str | None = None, **extra: str) -> dict[str, str]:
    # Without the caller's OCR_* settings, nor variables that make rich draw on a pipe as on a terminal.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("OCR_") and k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    env.update({"OCR_URL": url} if url else {})
    env.update({"OCR_API_KEY": key} if key else {})
    return {**env, **extra}


def _run(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def _write(folder: Path, *documents: Doc) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for doc in documents:
        (folder / doc.name).write_bytes(doc.data)
        paths.append(folder / doc.name)
    return paths


def _assert_plain(*streams: str) -> None:
    for stream in streams:
        assert not CONTROL.search(stream), repr(stream)
        assert "Traceback" not in stream


def test_submit_in_a_pipe_writes_each_result_and_plain_lines_only(service, docs, tmp_path):
    paths = _write(tmp_path / "in", docs["scan"], docs["digital"])
    run = _run("submit", *map(str, paths), "--out", str(tmp_path / "out"), env=_env(service.url))
    assert run.returncode == 0, run.stderr
    _assert_plain(run.stdout, run.stderr)
    assert sorted(line.split(" -> ")[0] for line in run.stdout.splitlines()) == sorted(map(str, paths))
    scan_text = (tmp_path / "out" / "scan-a.txt").read_text()
    assert samples.cer("\n".join(docs["scan"].pages), scan_text) <= 0.02
    digital_text = (tmp_path / "out" / "digital-b.txt").read_text()
    assert samples.normalise_whitespace(digital_text) == samples.normalise_whitespace(" ".join(docs["digital"].pages))
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["digital-b.pdf", "scan-a.pdf"]  # inputs only


def test_submit_in_a_terminal_shows_a_bar_per_document_and_one_for_all(keyed, docs, tmp_path):
    paths = _write(tmp_path, docs["scan"], docs["digital"])
    child = pexpect.spawn(CLI, ["submit", *map(str, paths), "--concurrency", "2"], cwd=str(tmp_path),
                          env=_env(keyed.url, KEY, TERM="xterm-256color"), dimensions=(30, 120),
                          encoding="utf-8", timeout=240)
    child.expect(pexpect.EOF)
    child.close()
    screen = child.before
    assert child.exitstatus == 0, screen
    assert "\x1b[" in screen  # drawn and redrawn in place
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    # The scan's bar counts its pages (polled while the upload's answer waits for the result).
    assert re.search(r"scan-a\.pdf\W.*\b[0-2]/2 pages", text), text
    assert re.search(r"digital-b\.pdf\W.*pages", text)
    assert re.search(r"all files\W.*\b2/2 files", text)
    assert "Traceback" not in screen
    assert samples.cer("\n".join(docs["scan"].pages), (tmp_path / "scan-a.txt").read_text()) <= 0.02
    assert (tmp_path / "digital-b.txt").exists()


def test_a_folder_with_a_bad_file_writes_the_others_and_names_the_failure(keyed, docs, tmp_path):
    folder = tmp_path / "batch"
    _write(folder, docs["digital"])
    _write(folder / "sub", docs["scan"])
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a PDF")
    (folder / "notes.txt").write_text("not a document: skipped")
    run = _run("submit", str(folder), "--api-key", KEY, env=_env(keyed.url))
    assert run.returncode == 1
    _assert_plain(run.stdout, run.stderr)
    assert run.stderr.splitlines()[-1] == f"ocr-service: 1 of 3 failed: {folder / 'broken.pdf'}"
    assert (folder / "digital-b.txt").exists() and (folder / "sub" / "scan-a.txt").exists()
    assert not (folder / "broken.txt").exists()


def test_pdf_beside_the_input_and_json_of_a_page_range(keyed, docs, tmp_path):
    [path] = _write(tmp_path, docs["digital"])
    env = _env(keyed.url, KEY)
    run = _run("submit", str(path), "--format", "pdf", env=env)
    assert run.returncode == 0, run.stderr
    searchable = tmp_path / "digital-b.ocr.pdf"  # never over the original
    assert path.read_bytes() == docs["digital"].data
    assert len(pypdf.PdfReader(searchable).pages) == 3

    run = _run("submit", str(path), "--format", "json", "--pages", "2-3", "--out", str(tmp_path / "json"), env=env)
    assert run.returncode == 0, run.stderr
    result = json.loads((tmp_path / "json" / "digital-b.json").read_text())
    assert [page["number"] for page in result["pages"]] == [2, 3]
    assert samples.normalise_whitespace(result["pages"][0]["text"]) == samples.normalise_whitespace(
        docs["digital"].pages[1])


@pytest.mark.parametrize("case", ["wrong key", "no key", "no server", "missing file", "bad range"])
def test_errors_are_one_line_never_a_traceback(keyed, docs, tmp_path, case):
    [path] = _write(tmp_path, docs["digital"])
    url, key, args = keyed.url, KEY, ["submit", str(path)]
    if case == "wrong key":
        key = "not-the-key"
    elif case == "no key":
        key = None
    elif case == "no server":
        url = f"http://127.0.0.1:{free_port()}"
    elif case == "missing file":
        args = ["submit", str(tmp_path / "missing.pdf"), str(path)]
    else:
        args += ["--pages", "0-2"]
    run = _run(*args, env=_env(url, key))
    _assert_plain(run.stdout, run.stderr)
    expected = {"wrong key": "unauthorized", "no key": "unauthorized", "no server": "does not answer",
                "missing file": "missing.pdf: no such file", "bad range": "invalid_pages"}[case]
    if case == "bad range":  # the document's own failure: named, exit 1
        assert run.returncode == 1
        assert expected in run.stderr.splitlines()[0] and "'0-2'" in run.stderr
    else:  # nothing could be done at all: one line, exit 2
        assert run.returncode == 2 and run.stdout == ""
        assert len(run.stderr.splitlines()) == 1 and expected in run.stderr, run.stderr
    assert not (tmp_path / "digital-b.txt").exists()


def test_status_and_result_verbs(keyed, docs, tmp_path):
    [path] = _write(tmp_path, docs["scan"])
    env = _env(keyed.url, KEY)
    submitted = _run("submit", str(path), "--no-wait", "--document-id", "cli-status-1", env=env)
    assert submitted.returncode == 0, submitted.stderr
    assert "cli-status-1" in submitted.stdout and not (tmp_path / "scan-a.txt").exists()

    text = _run("result", "cli-status-1", "--wait", env=env)
    assert text.returncode == 0, text.stderr
    _assert_plain(text.stdout.replace("\f", ""), text.stderr)
    assert samples.cer("\n".join(docs["scan"].pages), text.stdout) <= 0.02

    status = _run("status", "cli-status-1", env=env)
    assert status.stdout.strip() == "cli-status-1: completed, 2/2 pages"
    as_json = json.loads(_run("status", "--json", "cli-status-1", env=env).stdout)
    assert as_json["status"] == "completed" and as_json["pages_total"] == 2

    saved = _run("result", "cli-status-1", "--format", "pdf", "--out", str(tmp_path / "pdfs"), env=env)
    assert saved.returncode == 0, saved.stderr
    reader = pypdf.PdfReader(tmp_path / "pdfs" / "cli-status-1.pdf")
    assert samples.cer(docs["scan"].pages[1], reader.pages[1].extract_text()) <= 0.05

    unknown = _run("status", "cli-status-1", "no-such-id", env=env)
    assert unknown.returncode == 1
    assert unknown.stdout.strip() == "cli-status-1: completed, 2/2 pages"
    assert "no-such-id" in unknown.stderr and "not_found" in unknown.stderr
    _assert_plain(unknown.stderr)


def test_cancel_and_delete_verbs(keyed, scanned_10, tmp_path):
    [path] = _write(tmp_path, scanned_10)
    env = _env(keyed.url, KEY)
    assert _run("submit", str(path), "--no-wait", "--document-id", "cli-cancel-1", "--mode", "ocr",
                env=env).returncode == 0
    cancelled = _run("cancel", "cli-cancel-1", env=env)
    assert cancelled.returncode == 0 and cancelled.stdout.strip() == "cli-cancel-1: cancelled"
    deleted = _run("delete", "cli-cancel-1", env=env)
    assert deleted.returncode == 0 and deleted.stdout.strip() == "cli-cancel-1: deleted"
    gone = _run("status", "cli-cancel-1", env=env)
    assert gone.returncode == 1 and "not_found" in gone.stderr

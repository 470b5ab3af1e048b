"""The searchable PDF of a long document is written as it is built: batches laid by pdfium are joined into
one file (pipeline/pdfjoin.py) whose first pages are on disk before the last are laid. The joined file
must be a valid PDF (pdfium and qpdf both read it, qpdf's check finds nothing) with every page of the
original in order: its size, rotation, image and text layer."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pikepdf
import pypdfium2 as pdfium
import pytest

from ocr_service.pipeline.outputs import (
    FRAMES_PER_BATCH,
    IN_PLACE_MAX_PAGES,
    PAGES_PER_BATCH,
    PageLines,
    write_output,
    write_searchable_pdf,
)
from ocr_service.pipeline.pdfjoin import StreamingJoin, renumber
from tests.support.big_documents import page_result, page_word
from tests.support.pdf_trees import NOTE, SHOWN, note_pdf, scanned_tree_pdf

WORDS = 6


def _shift(table: dict):
    def number(num: int, gen: int) -> int:
        table[num, gen] = num + 100
        return num + 100
    return number


def test_renumber_rewrites_references_and_nothing_inside_strings_names_or_comments():
    seen: dict = {}
    data = (rb"<< /A 1 0 R /B [ 2 0 R (1 0 R) (a (nested 3 0 R) \) 4 0 R) <31203020 52> ] /C1 5 0 R "
            rb"/N#201 6 0 R /Gen 9 2 R /D 7 0 Rx % 8 0 R" b"\n" rb"/E<</F 10 0 R>>/G[11 0 R 12 0 R]>>")
    assert renumber(data, _shift(seen)) == (
        rb"<< /A 101 0 R /B [ 102 0 R (1 0 R) (a (nested 3 0 R) \) 4 0 R) <31203020 52> ] /C1 105 0 R "
        rb"/N#201 106 0 R /Gen 109 0 R /D 7 0 Rx % 8 0 R" b"\n" rb"/E<</F 110 0 R>>/G[111 0 R 112 0 R]>>")
    assert sorted(seen) == [(1, 0), (2, 0), (5, 0), (6, 0), (9, 2), (10, 0), (11, 0), (12, 0)]


def _join(paths: list[Path], out) -> None:
    join = StreamingJoin(out)
    for path in paths:
        join.append(path)
    join.close()


def _check(path) -> None:
    with pikepdf.open(path) as pdf:
        assert pdf.check_pdf_syntax() == []


def test_strings_that_read_like_references_survive_the_join(tmp_path):
    note_pdf(tmp_path / "a.pdf")
    note_pdf(tmp_path / "b.pdf")
    _join([tmp_path / "a.pdf", tmp_path / "b.pdf"], open(tmp_path / "joined.pdf", "wb"))
    _check(tmp_path / "joined.pdf")
    with pikepdf.open(tmp_path / "joined.pdf") as joined:
        assert len(joined.pages) == 4
        for page in joined.pages:
            assert bytes(page.obj.Note) == NOTE
            (annotation,) = page.obj.Annots
            assert bytes(annotation.Contents) == NOTE and annotation.P.objgen == page.obj.objgen
    pdf = pdfium.PdfDocument(str(tmp_path / "joined.pdf"))
    try:
        assert [pdf[i].get_textpage().get_text_range().strip() for i in range(4)] == [SHOWN] * 4
    finally:
        pdf.close()


def _pages(path: Path) -> list[tuple]:
    """Each page's displayed size, rotation and a small greyscale render."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        found = []
        for index in range(len(pdf)):
            page = pdf[index]
            picture = np.asarray(page.render(scale=0.2, grayscale=True).to_pil().convert("L"))
            found.append((tuple(round(v, 2) for v in page.get_size()), page.get_rotation(), picture))
        return found
    finally:
        pdf.close()


def _assert_same_pages(original: list[tuple], joined: list[tuple]) -> None:
    assert len(joined) == len(original)
    for number, (before, after) in enumerate(zip(original, joined, strict=True), start=1):
        assert after[:2] == before[:2], number
        assert (after[2] < 64).mean() > 0.005, number  # the scanned image is there: it has ink
        assert np.abs(after[2].astype(int) - before[2].astype(int)).max() <= 8, number


def test_the_join_keeps_sizes_rotations_and_images_inherited_from_the_page_tree(tmp_path):
    scanned_tree_pdf(tmp_path / "a.pdf", 23)
    scanned_tree_pdf(tmp_path / "b.pdf", 12)
    with open(tmp_path / "joined.pdf", "wb") as out:
        _join([tmp_path / "a.pdf", tmp_path / "b.pdf"], out)
    _check(tmp_path / "joined.pdf")
    _assert_same_pages(_pages(tmp_path / "a.pdf") + _pages(tmp_path / "b.pdf"), _pages(tmp_path / "joined.pdf"))
    with pikepdf.open(tmp_path / "joined.pdf") as joined:
        assert joined.Root.Pages.objgen == (2, 0) and joined.Root.objgen == (1, 0)
        assert all("/MediaBox" in page.obj and "/Resources" in page.obj for page in joined.pages)


def test_each_file_is_on_disk_once_appended(tmp_path):
    """The output's bytes grow with each appended file, before the end is written (what the API sends
    while the later batches are laid)."""
    note_pdf(tmp_path / "a.pdf", pages=3)
    with open(tmp_path / "joined.pdf", "wb") as out:
        join = StreamingJoin(out)
        header = (tmp_path / "joined.pdf").read_bytes()
        assert header.startswith(b"%PDF-")
        join.append(tmp_path / "a.pdf")
        first = (tmp_path / "joined.pdf").read_bytes()
        assert first.startswith(header) and b"/Note (see 1 0 R " in first
        assert b"startxref" not in first
        join.append(tmp_path / "a.pdf")
        second = (tmp_path / "joined.pdf").read_bytes()
        assert second.startswith(first) and len(second) > len(first) and b"startxref" not in second
        join.close()
    _check(tmp_path / "joined.pdf")
    assert len(pdfium.PdfDocument(str(tmp_path / "joined.pdf"))) == 6


@pytest.fixture(scope="module")
def long_scan(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("long-scan") / "scan.pdf"
    scanned_tree_pdf(path, IN_PLACE_MAX_PAGES + 37)
    return path


def test_a_long_scanned_pdf_is_searchable_with_every_page_image_and_word(long_scan, tmp_path):
    total = IN_PLACE_MAX_PAGES + 37
    out = tmp_path / "searchable.pdf"
    write_searchable_pdf(long_scan, [page_result(n, WORDS) for n in range(1, total + 1)], out)
    _check(out)
    _assert_same_pages(_pages(long_scan), _pages(out))
    pdf = pdfium.PdfDocument(str(out))
    try:
        for index in range(total):
            words = pdf[index].get_textpage().get_text_range().split()
            assert sorted(words) == sorted(page_word(index + 1, i) for i in range(WORDS)), index + 1
    finally:
        pdf.close()


def test_pages_without_a_result_are_copied_as_they_are(long_scan, tmp_path):
    """Only some pages were OCR'd (a page selection): the others keep no text layer, every page is there."""
    chosen = {1, IN_PLACE_MAX_PAGES + 5}
    path = tmp_path / "some.pdf"
    write_searchable_pdf(long_scan, [page_result(n, WORDS) for n in sorted(chosen)], path)
    _check(path)
    pdf = pdfium.PdfDocument(str(path))
    try:
        assert len(pdf) == IN_PLACE_MAX_PAGES + 37
        for index in range(len(pdf)):
            text = pdf[index].get_textpage().get_text_range().split()
            assert bool(text) == (index + 1 in chosen), index + 1
    finally:
        pdf.close()


def _until(predicate, timeout: float = 300, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.05)


def test_the_first_pages_are_on_disk_while_the_later_pages_are_still_awaited(long_scan, tmp_path):
    """The renderer reads the pages as they come (PageLines); the first batch's pages are written out
    while the pages after it have not come yet."""
    total = IN_PLACE_MAX_PAGES + 37
    lines, out = tmp_path / "pages.jsonl", tmp_path / "out.pdf"
    lines.touch()
    failures: list[BaseException] = []

    def render() -> None:
        try:
            write_output(long_scan, "scan", PageLines(lines), "pdf", out)
        except BaseException as error:  # reported by the test
            failures.append(error)

    with open(lines, "a", encoding="utf-8") as feed:
        for number in range(1, PAGES_PER_BATCH + 1):
            feed.write(json.dumps(page_result(number, WORDS)) + "\n")
        feed.flush()
        builder = threading.Thread(target=render, daemon=True)
        builder.start()
        _until(lambda: out.exists() and out.read_bytes().count(b"/Type /Page ") >= PAGES_PER_BATCH or failures,
               what="the first batch's pages were never written")
        assert not failures and builder.is_alive()
        assert b"startxref" not in out.read_bytes()
        for number in range(PAGES_PER_BATCH + 1, total + 1):
            feed.write(json.dumps(page_result(number, WORDS)) + "\n")
        feed.write("\n")  # the end mark
    builder.join(timeout=600)
    assert not failures and not builder.is_alive()
    _check(out)
    pdf = pdfium.PdfDocument(str(out))
    try:
        assert len(pdf) == total
        for index in (0, PAGES_PER_BATCH, total - 1):
            words = pdf[index].get_textpage().get_text_range().split()
            assert sorted(words) == sorted(page_word(index + 1, i) for i in range(WORDS)), index + 1
    finally:
        pdf.close()


def test_a_many_frame_tiff_becomes_one_valid_pdf_with_every_frame_image_and_word(tmp_path):
    """Image documents are built a batch of frames at a time and joined the same way."""
    from PIL import Image, ImageDraw

    frames = []
    for index in range(FRAMES_PER_BATCH * 2 + 3):  # three batches, the last one short
        frame = Image.new("L", (850, 1100), 255)
        ImageDraw.Draw(frame).rectangle((100, 300 + 20 * index, 700, 400 + 20 * index), fill=0)
        frames.append(frame)
    tiff = tmp_path / "fax.tiff"
    frames[0].save(tiff, save_all=True, append_images=frames[1:], dpi=(100, 100), compression="tiff_deflate")
    out = tmp_path / "fax.pdf"
    write_searchable_pdf(tiff, [page_result(n, WORDS) for n in range(1, len(frames) + 1)], out)
    _check(out)
    pdf = pdfium.PdfDocument(str(out))
    try:
        assert len(pdf) == len(frames)
        for index in range(len(frames)):
            page = pdf[index]
            assert tuple(round(v) for v in page.get_size()) == (612, 792), index + 1
            picture = np.asarray(page.render(scale=100 / 72, grayscale=True).to_pil().convert("L"))
            band = picture[300 + 20 * index + 10:400 + 20 * index - 10, 110:690]
            assert band.mean() < 32 and picture[50:250].mean() > 223, index + 1  # the frame's own rectangle
            words = page.get_textpage().get_text_range().split()
            assert sorted(words) == sorted(page_word(index + 1, i) for i in range(WORDS)), index + 1
    finally:
        pdf.close()

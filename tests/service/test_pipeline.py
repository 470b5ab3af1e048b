"""The OCR pipeline on real documents: generated scans and born-digital PDFs, the real phototest scan,
bad input of every kind, mode semantics, engine reuse in worker processes, and timeouts.

Each OCR'd page costs ~0.3-1 s, so every page is recognised once (module-scoped fixtures) and pages
are small.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

import pytest

from ocr_service.pipeline import (
    DocumentError,
    Limits,
    PageOptions,
    available_languages,
    document_text,
    engine,
    inspect_document,
    process_page,
    validate_language,
)
from tests.support import samples
from tests.support.corpus import DATA

# shared/ sits beside the checkout (also in CI); OCR_TEST_CORPUS points elsewhere
CORPUS = DATA
SCAN_TEXT = samples.sample_text(seed=11, lines=8)
BORN_DIGITAL = [samples.sample_text(seed=12, lines=10), "A second page with a short line.\nAnd one more line."]
MIXED = [("text", samples.sample_text(seed=13, lines=4)), ("scan", samples.sample_text(seed=14, lines=4))]


@pytest.fixture(scope="module")
def docs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("docs")
    made = {
        "scan.pdf": samples.scanned_pdf([SCAN_TEXT]),
        "text.pdf": samples.text_pdf(BORN_DIGITAL),
        "mixed.pdf": samples.mixed_pdf(MIXED),
        "pages.tiff": samples.tiff_pages(
            ["First frame of the file.", "Second frame reads differently."], page_size=(400, 120), margin=24
        ),
    }
    paths = {}
    for name, data in made.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


@pytest.fixture(scope="module")
def scanned(docs) -> dict:
    return process_page(docs["scan.pdf"], 1, PageOptions(), Limits())


def test_scanned_page_is_ocrd_with_low_error_rate(scanned):
    assert scanned["source"] == "ocr"
    assert samples.cer(SCAN_TEXT, scanned["text"]) <= 0.02
    assert 80 <= scanned["confidence"] <= 100
    assert scanned["dpi"] == 300
    assert (scanned["width"], scanned["height"]) == (612.0, 792.0)
    assert json.loads(json.dumps(scanned)) == scanned


def test_words_come_from_the_same_pass_with_boxes_in_page_points(scanned):
    words = scanned["words"]
    assert " ".join(w["text"] for w in words).split() == scanned["text"].split()
    first = words[0]
    assert first["text"] == SCAN_TEXT.split()[0]
    x0, y0, x1, y1 = first["bbox"]
    # the text starts one inch (72 pt) from the left and top edges
    assert 70 <= x0 <= 75 and 70 <= y0 <= 80 and x1 > x0 and y1 > y0
    assert all(0 <= w["bbox"][0] < w["bbox"][2] <= 612 and 0 <= w["bbox"][1] < w["bbox"][3] <= 792 for w in words)
    assert all(0 <= w["confidence"] <= 100 for w in words)
    mean = sum(w["confidence"] for w in words) / len(words)
    assert scanned["confidence"] == pytest.approx(mean, abs=0.01)


def test_born_digital_pages_give_exact_text_without_ocr(docs):
    before = engine.engines_created
    calls = []
    original = engine.recognize
    engine.recognize = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        pages = [process_page(docs["text.pdf"], n, PageOptions(), Limits()) for n in (1, 2)]
    finally:
        engine.recognize = original
    assert calls == [] and engine.engines_created == before
    assert [p["text"] for p in pages] == BORN_DIGITAL
    assert all(p["source"] == "text-layer" and p["confidence"] is None for p in pages)
    assert [w["text"] for w in pages[0]["words"]] == BORN_DIGITAL[0].split()
    assert document_text(pages) == BORN_DIGITAL[0] + "\n\f" + BORN_DIGITAL[1] + "\n"


def test_real_scan_phototest_is_read_exactly():
    result = process_page(CORPUS / "phototest.tif", 1, PageOptions(), Limits())
    assert result["source"] == "ocr"
    assert (result["width"], result["height"]) == (640, 480)
    assert samples.cer((CORPUS / "phototest.txt").read_text(), result["text"]) == 0.0


def test_mixed_document_takes_each_page_its_own_way(docs):
    info = inspect_document(docs["mixed.pdf"], Limits())
    assert (info.kind, info.media_type, info.page_count) == ("pdf", "application/pdf", 2)
    text_page = process_page(docs["mixed.pdf"], 1, PageOptions(mode="auto"), Limits())
    assert (text_page["source"], text_page["text"]) == ("text-layer", MIXED[0][1])
    scan_page = process_page(docs["mixed.pdf"], 2, PageOptions(mode="auto"), Limits())
    assert scan_page["source"] == "ocr" and samples.cer(MIXED[1][1], scan_page["text"]) <= 0.02


def test_mode_text_never_ocrs_and_mode_ocr_always_does(docs):
    none = process_page(docs["mixed.pdf"], 2, PageOptions(mode="text"), Limits())
    assert (none["source"], none["text"], none["words"], none["confidence"]) == ("none", "", [], None)
    forced = process_page(docs["mixed.pdf"], 1, PageOptions(mode="ocr"), Limits())
    assert forced["source"] == "ocr" and forced["confidence"] > 50
    assert samples.cer(MIXED[0][1], forced["text"]) <= 0.02


def test_tiff_page_number_indexes_frames(docs):
    info = inspect_document(docs["pages.tiff"], Limits())
    assert (info.kind, info.media_type, info.page_count) == ("image", "image/tiff", 2)
    second = process_page(docs["pages.tiff"], 2, PageOptions(), Limits())
    assert second["text"].strip() == "Second frame reads differently."
    with pytest.raises(DocumentError) as err:
        process_page(docs["pages.tiff"], 3, PageOptions(), Limits())
    assert err.value.code == "no_pages"


# ---------------------------------------------------------------- bad input


def _garbage_pdf() -> bytes:
    return b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"


def _truncated_png() -> bytes:
    data = samples.png_page("Cut off", dpi=72, noise=False)
    return data[: len(data) // 2]


BAD_INPUTS = {
    "empty": (b"", "empty_file", 422),
    "plain text": (b"just some words, not a document\n", "unsupported_type", 415),
    "html named .pdf": (b"<!doctype html><html><body>hi</body></html>", "unsupported_type", 415),
    "zip": (b"PK\x03\x04" + b"\x00" * 100, "unsupported_type", 415),
    "truncated pdf": (samples.truncated_pdf(), "corrupt_document", 422),
    "garbage after pdf header": (_garbage_pdf(), "corrupt_document", 422),
    "header only": (b"%PDF-1.4\n", "corrupt_document", 422),
    "encrypted pdf": (samples.encrypted_pdf(), "encrypted_document", 422),
    "zero pages": (samples.zero_page_pdf(), "no_pages", 422),
    "truncated png": (_truncated_png(), "corrupt_document", 422),
    "png signature only": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "corrupt_document", 422),
    "jpeg signature only": (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "corrupt_document", 422),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_is_a_document_error_with_the_right_code(name, tmp_path):
    data, code, status = BAD_INPUTS[name]
    path = tmp_path / "upload.pdf"
    path.write_bytes(data)
    with pytest.raises(DocumentError) as err:
        inspect_document(path, Limits())
    assert (err.value.code, err.value.http_status) == (code, status)
    assert err.value.message.endswith(".") and len(err.value.message) > 15
    with pytest.raises(DocumentError) as err:  # a worker handed the same file fails the same way
        process_page(path, 1, PageOptions(), Limits())
    assert err.value.code == code


def test_too_many_pages(docs):
    with pytest.raises(DocumentError) as err:
        inspect_document(docs["text.pdf"], Limits(max_pages=1))
    assert err.value.code == "too_many_pages" and "1" in err.value.message


def test_oversized_page_is_rendered_smaller_when_legible_else_refused(docs):
    # Letter at 300 DPI is 8.4 Mpx; a 3 Mpx cap still allows ~180 DPI, a 0.4 Mpx cap only ~65 DPI.
    whole_page = PageOptions(mode="ocr", adaptive_dpi=False)  # no cropping to the text
    reduced = process_page(docs["mixed.pdf"], 1, whole_page, Limits(max_page_pixels=3_000_000))
    assert 150 <= reduced["dpi"] < 300 and samples.cer(MIXED[0][1], reduced["text"]) <= 0.02
    with pytest.raises(DocumentError) as err:
        process_page(docs["mixed.pdf"], 1, whole_page, Limits(max_page_pixels=400_000))
    assert err.value.code == "page_too_large"


def test_page_holding_an_image_over_the_pixel_cap_is_refused(docs):
    # pdfium decodes an embedded image whole, so its pixels count against the cap (the scan is 8.4 Mpx)
    with pytest.raises(DocumentError) as err:
        process_page(docs["mixed.pdf"], 2, PageOptions(), Limits(max_page_pixels=5_000_000))
    assert err.value.code == "page_too_large" and "2550x3300" in err.value.message


def test_oversized_image_is_refused_at_upload(docs):
    with pytest.raises(DocumentError) as err:
        inspect_document(docs["pages.tiff"], Limits(max_page_pixels=10_000))
    assert err.value.code == "page_too_large"


def test_languages():
    assert "eng" in available_languages() and "osd" not in available_languages()
    validate_language("eng")
    for bad in ("klingon", "eng+klingon", "", "eng+", "../eng", "osd"):
        with pytest.raises(DocumentError) as err:
            validate_language(bad)
        assert err.value.code == "unknown_language" and "eng" in err.value.message


def test_joined_languages_use_each_installed_model(tmp_path):
    # tesseract-ocr-fra comes with `make test` (mk/pipeline.mk)
    text = "Le garçon a reçu une lettre très étrange à Noël.\nÇa s'est passé près de la forêt, où l'hôtel était fermé."
    path = tmp_path / "french.png"
    path.write_bytes(samples.png_page(text, page_size=(612, 160)))
    assert {"eng", "fra"} <= set(available_languages())
    english = process_page(path, 1, PageOptions(language="eng"), Limits())
    french = process_page(path, 1, PageOptions(language="fra"), Limits())
    both = process_page(path, 1, PageOptions(language="eng+fra"), Limits())
    assert samples.cer(text, french["text"]) == 0.0
    assert samples.cer(text, english["text"]) > 0.03  # the English model drops the accents
    assert samples.cer(text, both["text"]) < samples.cer(text, english["text"])


def test_unknown_language_and_mode_fail_before_any_work(docs):
    with pytest.raises(DocumentError) as err:
        process_page(docs["scan.pdf"], 1, PageOptions(language="xx"), Limits())
    assert err.value.code == "unknown_language"
    with pytest.raises(DocumentError) as err:
        process_page(docs["scan.pdf"], 1, PageOptions(mode="fast"), Limits())
    assert err.value.code == "invalid_mode"


def test_values_cross_process_boundaries():
    options = PageOptions(language="eng", mode="ocr", dpi=200)
    assert pickle.loads(pickle.dumps(options)) == options
    assert PageOptions(**json.loads(json.dumps(asdict(options)))) == options
    error = pickle.loads(pickle.dumps(DocumentError("ocr_timeout", "Too slow.")))
    assert (error.code, error.message, error.http_status) == ("ocr_timeout", "Too slow.", 422)


# ---------------------------------------------------------------- workers


def _engines_in_this_process() -> tuple[int, int]:

    return os.getpid(), engine.engines_created


def _page(path, number, options, limits):

    return os.getpid(), process_page(path, number, options, limits)


def test_one_engine_per_worker_process_reused_across_pages_and_documents(docs):
    phototest = CORPUS / "phototest.tif"
    # spawn, as the service's pools do: a fresh process with no engine yet
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        first = pool.submit(_page, phototest, 1, PageOptions(), Limits()).result()
        second = pool.submit(_page, docs["pages.tiff"], 1, PageOptions(), Limits()).result()
        pid, created = pool.submit(_engines_in_this_process).result()
    assert first[0] == second[0] == pid
    assert created == 1
    assert second[1]["text"].strip() == "First frame of the file."


def test_timeout_is_an_ocr_timeout_error_and_the_engine_survives_it():
    phototest = CORPUS / "phototest.tif"
    with pytest.raises(DocumentError) as err:
        process_page(phototest, 1, PageOptions(), Limits(page_timeout_s=0.001))
    assert err.value.code == "ocr_timeout" and err.value.http_status == 422
    # the deadline inside Tesseract's recognition itself (ETEXT_DESC), after layout analysis
    busy_page = samples.text_image(samples.sample_text(seed=3, lines=20), noise=False)
    with pytest.raises(DocumentError) as err:
        engine.recognize(busy_page, "eng", 300, 0.05)
    assert err.value.code == "ocr_timeout"
    again = process_page(phototest, 1, PageOptions(), Limits())
    assert samples.cer((CORPUS / "phototest.txt").read_text(), again["text"]) == 0.0


@pytest.mark.filterwarnings("ignore")  # Pillow warns about the corrupt EXIF/TIFF data it is fed
def test_mutated_documents_only_ever_raise_document_errors(tmp_path):
    """Hostile bytes: random edits of valid small documents (seeded, ~2 s). Whatever pdfium, Pillow
    or Tesseract make of them, the caller sees a result or a DocumentError, never another exception."""
    import random

    rng = random.Random(7)
    seeds = [
        samples.text_pdf(["Hello world\nline two"]),
        samples.scanned_pdf(["Tiny scan"], dpi=72, noise=False),
        samples.png_page("Hi", dpi=72, noise=False, page_size=(200, 100)),
        samples.jpeg_page("Hi", dpi=72, page_size=(200, 100)),
        samples.tiff_pages(["a", "b"], dpi=72, page_size=(200, 100)),
        samples.encrypted_pdf(),
    ]
    outcomes = set()
    for index in range(300):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 12)):
            if not data:
                break
            at, roll = rng.randrange(len(data)), rng.random()
            if roll < 0.5:
                data[at] = rng.randrange(256)
            elif roll < 0.7:
                del data[at : at + rng.randint(1, 200)]
            elif roll < 0.85:
                data[at:at] = rng.randbytes(rng.randint(1, 50))
            elif roll < 0.9:
                del data[at:]
            else:
                data[at : at + 4] = rng.choice([b"9999", b"-1 0", b"\xff\xff\xff\x7f", b"0 0 R"])
        path = tmp_path / f"fuzz{index}"
        path.write_bytes(bytes(data))
        try:
            info = inspect_document(path, Limits())
            for number in range(1, min(info.page_count, 2) + 1):
                process_page(
                    path, number, PageOptions(mode=rng.choice(["auto", "text", "ocr"])), Limits(page_timeout_s=5)
                )
            outcomes.add("ok")
        except DocumentError as error:
            outcomes.add(error.code)
    assert {"ok", "corrupt_document", "unsupported_type"} <= outcomes

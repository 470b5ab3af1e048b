"""Opening documents: type detection from the bytes, validation, and per-page access.

Everything pypdfium2 or Pillow can raise on hostile input is turned into DocumentError here, so
callers see either a DocumentError or a genuine bug.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

from .errors import DEFAULT_LIMITS, DocumentError, DocumentInfo, Limits

PDF_MEDIA_TYPE = "application/pdf"
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)
_PILLOW_FORMATS = {"image/png": {"PNG"}, "image/jpeg": {"JPEG", "MPO"}, "image/tiff": {"TIFF"}}


def sniff_media_type(path: Path) -> str:
    """The document's media type from its first bytes (never its name)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
    except OSError as exc:
        raise DocumentError("corrupt_document", f"The uploaded file cannot be read ({exc.strerror}).") from exc
    if not head:
        raise DocumentError("empty_file", "The uploaded file is empty; send a PDF or an image (PNG, JPEG, TIFF).")
    if b"%PDF-" in head:  # the spec tolerates junk before the header
        return PDF_MEDIA_TYPE
    for signature, media_type in _IMAGE_SIGNATURES:
        if head.startswith(signature):
            return media_type
    raise DocumentError(
        "unsupported_type",
        "The file is not a PDF or a supported image; send a PDF, PNG, JPEG or TIFF document.",
    )


def inspect_document(path: Path, limits: Limits = DEFAULT_LIMITS) -> DocumentInfo:
    """Fast upload-time validation: type, integrity, encryption, page count. Raises only DocumentError."""
    path = Path(path)
    media_type = sniff_media_type(path)
    try:
        if media_type == PDF_MEDIA_TYPE:
            count = _inspect_pdf(path)
            kind = "pdf"
        else:
            count = _inspect_image(path, media_type, limits)
            kind = "image"
    except DocumentError:
        raise
    except MemoryError as exc:
        raise DocumentError("page_too_large", "The document needs too much memory to open.") from exc
    except Exception as exc:  # hostile bytes can make any parser raise anything
        raise DocumentError(
            "corrupt_document", f"The document is damaged and cannot be read ({type(exc).__name__})."
        ) from exc
    if count == 0:
        raise DocumentError("no_pages", "The document has no pages.")
    if count > limits.max_pages:
        raise DocumentError(
            "too_many_pages", f"The document has {count} pages; at most {limits.max_pages} are accepted per document."
        )
    return DocumentInfo(kind=kind, media_type=media_type, page_count=count)


# ---------------------------------------------------------------- PDF


def _has_eof_marker(path: Path) -> bool:
    """A complete PDF ends with %%EOF (give or take trailing junk); a truncated upload does not."""
    with open(path, "rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 4096))
        return b"%%EOF" in f.read()


def open_pdf(path: Path):
    """pypdfium2 document, with pdfium's load errors turned into DocumentError."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        # pdfium's last-error code is process-global and not reset by a later load that fails without
        # setting it (an empty page tree does that), so confirm it against the bytes.
        code = getattr(exc, "err_code", None)
        data = Path(path).read_bytes()
        if re.search(rb"/Count\s*0(?![0-9])", data) and not re.search(rb"/Type\s*/Page(?![a-zA-Z])", data):
            raise DocumentError("no_pages", "The PDF has no pages.") from exc
        if code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY) and b"/Encrypt" in data:
            raise DocumentError(
                "encrypted_document",
                "The PDF is password-protected; remove the password (or send an unencrypted copy) and upload it again.",
            ) from exc
        raise DocumentError(
            "corrupt_document", "The PDF is damaged or truncated and cannot be opened; upload a complete copy."
        ) from exc


def _inspect_pdf(path: Path) -> int:
    pdf = open_pdf(path)
    try:
        if not _has_eof_marker(path):
            raise DocumentError(
                "corrupt_document", "The PDF is truncated (it has no end-of-file marker); upload a complete copy."
            )
        count = len(pdf)
        for index in {0, count - 1} if count else ():
            try:
                page = pdf[index]
            except Exception as exc:
                raise DocumentError(
                    "corrupt_document", f"Page {index + 1} of the PDF is damaged and cannot be loaded."
                ) from exc
            page.close()
        return count
    finally:
        pdf.close()


class _PdfCache:
    """Keeps the last opened PDF per process: consecutive pages of one document skip re-parsing."""

    def __init__(self):
        self.key = None
        self.pdf = None

    def get(self, path: Path):
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if key != self.key:
            self.close()
            self.pdf = open_pdf(path)
            self.key = key
        return self.pdf

    def close(self):
        if self.pdf is not None:
            try:
                self.pdf.close()
            finally:
                self.pdf, self.key = None, None


pdf_cache = _PdfCache()


def _forget_in_child() -> None:
    # a forked child must not share the parent's open file position: drop (not close) the handle
    pdf_cache.key = pdf_cache.pdf = None


os.register_at_fork(after_in_child=_forget_in_child)


# ---------------------------------------------------------------- images


def _open_image(path: Path, media_type: str | None = None):
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except Image.DecompressionBombError as exc:
            raise DocumentError("page_too_large", "The image has too many pixels to process safely.") from exc
        except Exception as exc:
            raise DocumentError("corrupt_document", "The image is damaged and cannot be opened.") from exc
    if media_type and image.format not in _PILLOW_FORMATS[media_type]:
        image.close()
        raise DocumentError("corrupt_document", "The image's contents do not match its format header.")
    return image


def _check_pixels(image, limits: Limits, page_number: int) -> None:
    if image.width * image.height > limits.max_page_pixels or image.width <= 0 or image.height <= 0:
        raise DocumentError(
            "page_too_large",
            f"Page {page_number} is {image.width}x{image.height} pixels, over the limit of "
            f"{limits.max_page_pixels:,} pixels per page; send it at a lower resolution.",
        )


def _inspect_image(path: Path, media_type: str, limits: Limits) -> int:
    image = _open_image(path, media_type)
    try:
        count = getattr(image, "n_frames", 1)
        if count > limits.max_pages:
            return count
        for index in range(count):
            image.seek(index)
            _check_pixels(image, limits, index + 1)
        image.seek(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image.load()  # decodes the first frame: catches truncated files cheaply
        return count
    finally:
        image.close()


def load_image_page(path: Path, page_number: int, limits: Limits):
    """Frame `page_number` (1-based) of an image file as an upright greyscale PIL image, and its DPI if known."""
    from PIL import Image, ImageOps

    image = _open_image(path)
    try:
        count = getattr(image, "n_frames", 1)
        if not 1 <= page_number <= count:
            raise DocumentError("no_pages", f"The image has {count} page(s); page {page_number} does not exist.")
        image.seek(page_number - 1)
        _check_pixels(image, limits, page_number)
        dpi = image.info.get("dpi")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image.load()
                frame = ImageOps.exif_transpose(image) if image.format in ("JPEG", "MPO") else image
                if frame.mode in ("RGBA", "LA", "PA") or (frame.mode == "P" and "transparency" in frame.info):
                    rgba = frame.convert("RGBA")
                    background = Image.new("RGBA", rgba.size, "white")
                    frame = Image.alpha_composite(background, rgba)
                grey = frame.convert("L")
        except DocumentError:
            raise
        except Exception as exc:
            raise DocumentError(
                "corrupt_document", f"Page {page_number} of the image is damaged and cannot be decoded."
            ) from exc
        try:
            dpi_value = float(dpi[0]) if dpi else None
        except (TypeError, ValueError, IndexError):
            dpi_value = None
        return grey, (dpi_value if dpi_value and dpi_value > 1 else None)
    finally:
        image.close()

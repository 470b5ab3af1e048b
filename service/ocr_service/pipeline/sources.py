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


def header_size(path: Path, media_type: str) -> tuple[int, int] | None:
    """(width, height) a PNG or JPEG declares in its header, read without decoding anything; None for
    other types or when the header is not where it should be (the decoder then refuses the file)."""
    import struct

    with open(path, "rb") as f:
        if media_type == "image/png":
            head = f.read(24)
            if len(head) == 24 and head[12:16] == b"IHDR":
                return struct.unpack(">II", head[16:24])
            return None
        if media_type != "image/jpeg":
            return None
        f.seek(2)
        while True:  # walk the marker segments up to the first start-of-frame
            marker = f.read(2)
            if len(marker) < 2 or marker[0] != 0xFF:
                return None
            kind = marker[1]
            if kind == 0xFF:
                f.seek(-1, 1)  # fill byte
                continue
            if kind in (0x01, *range(0xD0, 0xD8)):
                continue  # markers without a length
            length = f.read(2)
            if len(length) < 2:
                return None
            size = struct.unpack(">H", length)[0]
            if 0xC0 <= kind <= 0xCF and kind not in (0xC4, 0xC8, 0xCC):
                frame = f.read(5)
                if len(frame) < 5:
                    return None
                height, width = struct.unpack(">HH", frame[1:5])
                return width, height
            f.seek(size - 2, 1)


def _refuse_pixels(width: int, height: int, limit: int, what: str) -> None:
    if width <= 0 or height <= 0 or width * height > limit:
        raise DocumentError(
            "page_too_large",
            f"{what} is {width}x{height} pixels, over the limit of {limit:,} pixels; send it at a lower resolution.",
        )


def open_image(path: Path, media_type: str | None = None, limits: Limits = DEFAULT_LIMITS):
    """The image, opened lazily (nothing decoded), after its header's pixel count was checked."""
    from PIL import Image

    media_type = media_type or sniff_media_type(path)
    size = header_size(path, media_type)
    if size is not None:
        _refuse_pixels(*size, limits.max_image_pixels, "The image")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(path)
        except Image.DecompressionBombError as exc:
            raise DocumentError("page_too_large", "The image has too many pixels to process safely.") from exc
        except Exception as exc:
            raise DocumentError("corrupt_document", "The image is damaged and cannot be opened.") from exc
    if image.format not in _PILLOW_FORMATS[media_type]:
        image.close()
        raise DocumentError("corrupt_document", "The image's contents do not match its format header.")
    return image


def check_image_frame(image, limits: Limits, page_number: int) -> None:
    """Refuse the current frame (its size is known from its header) before it is decoded."""
    _refuse_pixels(image.width, image.height, min(limits.max_page_pixels, limits.max_image_pixels),
                   f"Page {page_number}")


def _frame_count(image, limits: Limits) -> int:
    count = getattr(image, "n_frames", 1)
    if count > limits.max_frames:
        raise DocumentError(
            "too_many_pages", f"The image has {count} frames; at most {limits.max_frames} are accepted.")
    return count


def _inspect_image(path: Path, media_type: str, limits: Limits) -> int:
    image = open_image(path, media_type, limits)
    try:
        count = _frame_count(image, limits)
        if count > limits.max_pages:
            return count
        for index in range(count):
            image.seek(index)
            check_image_frame(image, limits, index + 1)
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

    image = open_image(path, limits=limits)
    try:
        count = _frame_count(image, limits)
        if not 1 <= page_number <= count:
            raise DocumentError("no_pages", f"The image has {count} page(s); page {page_number} does not exist.")
        image.seek(page_number - 1)
        check_image_frame(image, limits, page_number)
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

"""Deterministic sample documents with known text, generated in memory (tests and benchmarks only).

Heavy or test-only libraries (numpy, Pillow, pypdf, rapidfuzz, fpdf2) are imported inside the
functions, so importing this module costs nothing at service run time.
"""

from __future__ import annotations

import io
import random
import textwrap

_SENTENCES = (
    "The supplier shall deliver the goods to the warehouse within thirty days of the order.",
    "Payment is due on receipt of the invoice unless both parties agree otherwise in writing.",
    "Our quarterly report shows that revenue grew by 12 percent compared with last year.",
    "Please sign both copies of this agreement and return one of them to our office.",
    "The meeting was moved to Thursday morning because the projector in room four is broken.",
    "All employees must complete the safety training before the end of the month.",
    "The tenant is responsible for minor repairs, while the landlord covers structural damage.",
    "We would like to thank you for your patience while we reviewed the application.",
    "The library will be closed on public holidays and open late on the first Friday.",
    "Shipping costs are calculated from the weight of the parcel and the distance travelled.",
    "A copy of the signed contract has been sent to the legal department for review.",
    "The committee approved the budget after a long discussion about travel expenses.",
    "Customers can return any item within two weeks if it is unused and in its box.",
    "The new bridge across the river should reduce the morning traffic in the old town.",
    "Our records show that the account was opened in March and closed in September.",
    "Each chapter of the book begins with a short summary of the main arguments.",
    "The engineer checked the pressure in every valve before the system was restarted.",
    "Interest will be charged on late payments at a rate of two percent per month.",
    "The museum holds a large collection of maps drawn by sailors in the last century.",
    "Applicants should include a cover letter, a short resume and two references.",
    "The train to the coast leaves at half past eight and arrives just before noon.",
    "Any change to the schedule must be approved by the project manager in advance.",
    "The price includes delivery, installation and a service visit after six months.",
    "Weather conditions may delay the construction work during the winter season.",
    "The board thanked the volunteers who organised the annual charity dinner.",
    "This warranty does not cover damage caused by misuse, accidents or neglect.",
    "The survey asked residents how often they use the park and what they would change.",
    "Invoice number 4821 lists three items with a total value of 1,250 dollars.",
    "The clinic is open from nine to five and accepts patients without an appointment.",
    "Students must hand in their essays no later than the last day of the term.",
    "The old factory near the station will be turned into offices and small shops.",
    "A detailed map of the site is attached to the back of this letter.",
    "The driver reported that the brakes made a strange noise on the steep road.",
    "We regret to inform you that the product you ordered is no longer available.",
    "The farmers market takes place every Saturday in the square behind the church.",
    "Both parties agree to keep the terms of this settlement strictly confidential.",
    "The results of the experiment were recorded in a notebook and checked twice.",
    "Visitors are asked to leave their coats and bags at the desk near the entrance.",
    "The software update fixes several problems with printing and saving documents.",
    "Our office will move to a larger building on the north side of the city in June.",
)

FONT = "DejaVuSans.ttf"  # from fonts-dejavu-core; Pillow finds it under /usr/share/fonts
LETTER = (612.0, 792.0)  # US Letter in points


def sample_text(seed: int = 0, lines: int = 12, width: int = 60) -> str:
    """`lines` lines of realistic English prose (at most `width` characters each), same for the same seed."""
    rng = random.Random(seed)
    words: list[str] = []
    while len(words) < lines * width // 4:
        words.extend(rng.choice(_SENTENCES).split())
    wrapped = textwrap.wrap(" ".join(words), width=width, break_long_words=False)
    return "\n".join(wrapped[:lines])


def _font(size_px: float, font: str = FONT):
    from PIL import ImageFont

    return ImageFont.truetype(font, max(4, round(size_px)))


def text_image(
    text: str,
    dpi: int = 300,
    page_size: tuple[float, float] = LETTER,
    font_size: float = 12.0,
    columns: int = 1,
    margin: float = 72.0,
    noise: bool = True,
    blur: float = 0.0,
    skew: float = 0.0,
    rotate: int = 0,
    seed: int = 0,
    font: str = FONT,
):
    """A greyscale 'scan' of `text` (lines as given) on a page of `page_size` points at `dpi`.

    columns=2 puts the first half of the lines in the left column (reading order = ground truth);
    skew turns the content by that many degrees counter-clockwise; rotate (0/90/180/270) turns the
    whole sheet clockwise, as a page fed sideways into a scanner.
    """
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    px = dpi / 72.0
    width, height = round(page_size[0] * px), round(page_size[1] * px)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    face = _font(font_size * px, font)
    line_height = font_size * 1.45 * px
    lines = text.split("\n")
    per_column = -(-len(lines) // columns)
    gap = 24 * px
    column_width = (width - 2 * margin * px - (columns - 1) * gap) / columns
    for index, line in enumerate(lines):
        column, row = divmod(index, per_column)
        x = margin * px + column * (column_width + gap)
        y = margin * px + row * line_height
        draw.text((x, y), line, fill=0, font=face)
    if skew:
        image = image.rotate(skew, resample=Image.BICUBIC, fillcolor=255)
    if blur:
        image = image.filter(ImageFilter.GaussianBlur(blur * px / (300 / 72)))
    if noise:
        # Scanner-like noise that still compresses: grain near the ink (where it matters for OCR),
        # flat paper elsewhere, and a sprinkle of dust specks.
        rng = np.random.default_rng(seed)
        coarse = image.reduce(8).point(lambda v: 255 if v < 250 else 0)  # 8x8 cells holding ink
        near_ink = np.asarray(coarse.resize(image.size, Image.NEAREST)) > 0
        array = np.asarray(image, dtype=np.float32) * 0.9 + 16  # paper is never pure white
        grain = rng.normal(0, 14, array.shape).astype(np.float32)
        array = np.where(near_ink, array + grain, np.round(array))
        specks = rng.random(array.shape) < 0.0002
        array[specks] = 30
        image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "L")
    if rotate % 360:
        image = image.rotate(-(rotate % 360), expand=True)  # PIL turns counter-clockwise
    return image


def _new_pdf():
    import pypdfium2 as pdfium

    return pdfium.PdfDocument.new()


def _save(pdf) -> bytes:
    buffer = io.BytesIO()
    pdf.save(buffer)
    pdf.close()
    return buffer.getvalue()


def add_image_page(
    pdf, image, page_size: tuple[float, float], placement: tuple[float, float, float, float] | None = None
):
    """Append a page of `page_size` points showing `image` at placement (x, y, w, h points,
    origin bottom-left; default: the whole page). The image is stored losslessly (Flate)."""
    import pypdfium2 as pdfium

    page = pdf.new_page(*page_size)
    x, y, w, h = placement or (0.0, 0.0, *page_size)
    obj = pdfium.PdfImage.new(pdf)
    bitmap = pdfium.PdfBitmap.from_pil(image)
    obj.set_bitmap(bitmap, pages=[page])
    obj.set_matrix(pdfium.PdfMatrix().scale(w, h).translate(x, y))
    page.insert_obj(obj)
    page.gen_content()
    bitmap.close()
    page.close()


def scanned_pdf(page_texts: list[str], dpi: int = 300, noise: bool = True, seed: int = 0, **image_options) -> bytes:
    """An image-only PDF: each text rendered as a greyscale scan at `dpi`, one page per text.
    The page measures the scanned sheet (so rotate=90 gives a landscape page with sideways text)."""
    pdf = _new_pdf()
    for index, text in enumerate(page_texts):
        image = text_image(text, dpi=dpi, noise=noise, seed=seed + index, **image_options)
        add_image_page(pdf, image, (image.width * 72.0 / dpi, image.height * 72.0 / dpi))
    return _save(pdf)


def add_text_page(
    pdf,
    text: str,
    page_size: tuple[float, float] = LETTER,
    font_size: float = 12.0,
    font: str = "Helvetica",
    margin: float = 72.0,
):
    """Append a born-digital page: one text object per line in a standard font (real text layer)."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    page = pdf.new_page(*page_size)
    for row, line in enumerate(text.split("\n")):
        if not line:
            continue
        obj = pdfium_c.FPDFPageObj_NewTextObj(pdf, font.encode(), ctypes.c_float(font_size))
        encoded = (line + "\x00").encode("utf-16-le")
        pdfium_c.FPDFText_SetText(obj, ctypes.cast(ctypes.c_char_p(encoded), pdfium_c.FPDF_WIDESTRING))
        y = page_size[1] - margin - font_size - row * font_size * 1.45
        pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, margin, y)
        pdfium_c.FPDFPage_InsertObject(page, obj)
    page.gen_content()
    page.close()


def text_pdf(page_texts: list[str], **options) -> bytes:
    """A born-digital PDF whose pages carry `page_texts` as a real text layer (Helvetica)."""
    pdf = _new_pdf()
    for text in page_texts:
        add_text_page(pdf, text, **options)
    return _save(pdf)


def mixed_pdf(pages: list[tuple[str, str]], dpi: int = 300, seed: int = 0) -> bytes:
    """Pages of both kinds in one PDF: `pages` is a list of ("text" | "scan", text)."""
    pdf = _new_pdf()
    for index, (kind, text) in enumerate(pages):
        if kind == "text":
            add_text_page(pdf, text)
        elif kind == "scan":
            image = text_image(text, dpi=dpi, seed=seed + index)
            add_image_page(pdf, image, (image.width * 72.0 / dpi, image.height * 72.0 / dpi))
        else:
            raise ValueError(f"unknown page kind {kind!r}")
    return _save(pdf)


DEJAVU_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _rot13_cmap(data: bytes) -> bytes:
    """Point every letter of a ToUnicode CMap at the letter 13 places on (glyphs stay right)."""
    import re

    def shift(match):
        code = int(match.group(2), 16)
        for base in (0x41, 0x61):
            if base <= code < base + 26:
                code = base + (code - base + 13) % 26
        return match.group(1) + b"<%04X>" % code

    return re.sub(rb"(<[0-9A-Fa-f]{4}> )<([0-9A-Fa-f]{4})>", shift, data)


def embedded_font_pdf(page_texts: list[str], to_unicode: str = "none", font_size: float = 12.0) -> bytes:
    """Born-digital pages set in an embedded TrueType font (DejaVu Sans, fpdf2). The glyphs look
    right; what a text extractor gets depends on `to_unicode`: "keep" (correct text), "none" (the
    font's Unicode map is removed: extractors see glyph ids), "scrambled" (the map points at wrong
    letters, as broken producers do)."""
    from fpdf import FPDF
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import NameObject

    document = FPDF(unit="pt", format="letter")
    document.add_font("DejaVu", fname=DEJAVU_PATH)
    document.set_font("DejaVu", size=font_size)
    for text in page_texts:
        document.add_page()
        for row, line in enumerate(text.split("\n")):
            document.text(72, 72 + font_size + row * font_size * 1.45, line)
    data = bytes(document.output())
    if to_unicode == "keep":
        return data
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for page in writer.pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            if "/ToUnicode" not in font:
                continue
            if to_unicode == "none":
                del font[NameObject("/ToUnicode")]
            else:
                stream = font["/ToUnicode"].get_object()
                stream.set_data(_rot13_cmap(stream.get_data()))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def partial_text_pdf(
    scan_text: str, header: str = "Scanned by the records office, page 1", dpi: int = 300, seed: int = 0
) -> bytes:
    """A scanned page (image) that also carries a short born-digital header line: its text layer
    covers only a small part of what is visible."""
    import ctypes

    import pypdfium2.raw as pdfium_c

    pdf = _new_pdf()
    image = text_image("\n" * 2 + scan_text, dpi=dpi, seed=seed)
    add_image_page(pdf, image, LETTER)
    page = pdf[0]
    obj = pdfium_c.FPDFPageObj_NewTextObj(pdf, b"Helvetica", ctypes.c_float(9))
    encoded = (header + "\x00").encode("utf-16-le")
    pdfium_c.FPDFText_SetText(obj, ctypes.cast(ctypes.c_char_p(encoded), pdfium_c.FPDF_WIDESTRING))
    pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 72, LETTER[1] - 40)
    pdfium_c.FPDFPage_InsertObject(page, obj)
    page.gen_content()
    page.close()
    return _save(pdf)


def photo_page_pdf(text: str, seed: int = 0) -> bytes:
    """A born-digital page (real text layer) with a large photo-like image covering most of it."""
    import numpy as np
    import pypdfium2 as pdfium
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    blobs = Image.fromarray((rng.random((60, 60)) * 255).astype(np.uint8)).resize((1200, 1200), Image.BICUBIC)
    blobs = np.asarray(blobs.filter(ImageFilter.GaussianBlur(8)), dtype=np.float32)
    photo = Image.fromarray(np.clip((blobs - 128) * 3 + 128, 0, 255).astype(np.uint8), "L")
    pdf = _new_pdf()
    add_text_page(pdf, text)
    page = pdf[0]
    obj = _image_object(pdf, page, photo)
    obj.set_matrix(pdfium.PdfMatrix().scale(560, 560).translate(26, 20))
    page.insert_obj(obj)
    page.gen_content()
    page.close()
    return _save(pdf)


def _image_object(pdf, page, image):
    import pypdfium2 as pdfium

    obj = pdfium.PdfImage.new(pdf)
    bitmap = pdfium.PdfBitmap.from_pil(image)
    obj.set_bitmap(bitmap, pages=[page])
    return obj


def poster_pdf(
    text: str,
    poster_size: tuple[float, float] = (1728.0, 2592.0),
    scan_dpi: int = 400,
    font_size: float = 7.0,
    seed: int = 0,
    **image_options,
) -> bytes:
    """A small-print scan (a Letter sheet of `font_size` pt text scanned at `scan_dpi`) placed at its
    real size in the top-left corner of a poster-sized page (24x36 in by default)."""
    pdf = _new_pdf()
    image = text_image(text, dpi=scan_dpi, font_size=font_size, seed=seed, **image_options)
    w, h = image.width * 72.0 / scan_dpi, image.height * 72.0 / scan_dpi
    add_image_page(pdf, image, poster_size, placement=(36.0, poster_size[1] - 36.0 - h, w, h))
    return _save(pdf)


def set_rotation(pdf_bytes: bytes, degrees: int) -> bytes:
    """The same PDF with /Rotate set on every page (viewers turn the page clockwise by it)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(pdf_bytes)
    for index in range(len(pdf)):
        page = pdf[index]
        page.set_rotation(degrees)
        page.close()
    return _save(pdf)


def encrypted_pdf(text: str = "Confidential", password: str = "secret") -> bytes:
    """A PDF that needs a user password to open (pypdf, RC4-128)."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(text_pdf([text]))))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def truncated_pdf(text: str = "This upload was cut off half way.") -> bytes:
    """The first half of a valid PDF, as an interrupted upload leaves it."""
    data = scanned_pdf([text], dpi=100, noise=False)
    return data[: len(data) // 2]


def zero_page_pdf() -> bytes:
    """A well-formed PDF whose page tree is empty."""
    from pypdf import PdfWriter

    buffer = io.BytesIO()
    PdfWriter().write(buffer)
    return buffer.getvalue()


def _image_bytes(image, fmt: str, dpi: int | None, **save_options) -> bytes:
    buffer = io.BytesIO()
    if dpi:
        save_options["dpi"] = (dpi, dpi)
    image.save(buffer, format=fmt, **save_options)
    return buffer.getvalue()


def png_page(text: str, dpi: int = 300, noise: bool = True, seed: int = 0, **image_options) -> bytes:
    """A scanned page as a greyscale PNG (with its DPI recorded)."""
    return _image_bytes(text_image(text, dpi=dpi, noise=noise, seed=seed, **image_options), "PNG", dpi)


def jpeg_page(
    text: str, dpi: int = 300, noise: bool = True, seed: int = 0, quality: int = 90, **image_options
) -> bytes:
    """A scanned page as a JPEG."""
    return _image_bytes(
        text_image(text, dpi=dpi, noise=noise, seed=seed, **image_options), "JPEG", dpi, quality=quality
    )


def tiff_pages(page_texts: list[str], dpi: int = 300, noise: bool = True, seed: int = 0, **image_options) -> bytes:
    """A multi-page TIFF (deflate), one frame per text."""
    images = [text_image(t, dpi=dpi, noise=noise, seed=seed + i, **image_options) for i, t in enumerate(page_texts)]
    return _image_bytes(
        images[0], "TIFF", dpi, save_all=True, append_images=images[1:], compression="tiff_adobe_deflate"
    )


def normalise_whitespace(text: str) -> str:
    return " ".join(text.split())


def cer(expected: str, actual: str) -> float:
    """Character error rate: Levenshtein distance over whitespace-normalised text / expected length."""
    from rapidfuzz.distance import Levenshtein

    reference, hypothesis = normalise_whitespace(expected), normalise_whitespace(actual)
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return Levenshtein.distance(reference, hypothesis) / len(reference)


# ---------------------------------------------------------------- quality corpus (tests and benchmark)


class QualityCase:
    """One page of the accuracy corpus: the document the service gets, its ground truth, and the
    image plain `tesseract` gets for comparison (the scan's own pixels, or the page rendered at 300
    DPI when the page is not a scan)."""

    def __init__(self, name: str, truth: str, build, expect: dict | None = None, suffix: str = ".pdf"):
        self.name, self.truth, self._build, self.expect, self.suffix = name, truth, build, expect or {}, suffix

    def build(self):
        """(document bytes, baseline PIL image, baseline DPI)."""
        return self._build()


def _scan_case_at(text: str, dpi: int = 300, seed: int = 0, rotate_page: int = 0, **image_options):
    def build():
        image = text_image(text, dpi=dpi, seed=seed, **image_options)
        pdf = _new_pdf()
        add_image_page(pdf, image, (image.width * 72.0 / dpi, image.height * 72.0 / dpi))
        data = _save(pdf)
        return (set_rotation(data, rotate_page) if rotate_page else data), image, dpi

    return build


def _poster_case(text: str, seed: int = 0):
    def build():
        image = text_image(text, dpi=400, font_size=7.0, seed=seed)
        pdf = _new_pdf()
        w, h = image.width * 72.0 / 400, image.height * 72.0 / 400
        add_image_page(pdf, image, (1728.0, 2592.0), placement=(36.0, 2592.0 - 36.0 - h, w, h))
        return _save(pdf), image, 400

    return build


def _born_digital_case_at(text: str, to_unicode: str, font_size: float = 12.0):
    def build():
        import pypdfium2 as pdfium

        data = embedded_font_pdf([text], to_unicode, font_size=font_size)
        pdf = pdfium.PdfDocument(data)
        image = pdf[0].render(scale=300 / 72, grayscale=True).to_pil()
        pdf.close()
        return data, image, 300

    return build


def quality_corpus(
    lines: int = 12, seed: int = 0, names: list[str] | None = None, font_size: float = 12.0
) -> list[QualityCase]:
    """The accuracy corpus: upright 300 DPI; rotated 90/180/270; skewed +-3 degrees;
    scanned at 150 and 600 DPI; small print on a poster-sized page; light noise and blur; two columns;
    text layers with no / wrong Unicode mapping; a genuine born-digital page. `font_size` sets the
    text size of every page but the poster (a smaller size makes the corpus harder)."""

    def _scan_case(text: str, **options):
        return _scan_case_at(text, font_size=font_size, **options)

    def _born_digital_case(text: str, to_unicode: str):
        return _born_digital_case_at(text, to_unicode, font_size)

    text = sample_text(seed, lines=lines)
    columns_text = sample_text(seed + 1, lines=2 * lines, width=30)
    poster_text = sample_text(seed + 2, lines=2 * lines)
    cases = [
        QualityCase("upright-300dpi", text, _scan_case(text), {"rotation": 0}),
        QualityCase("rotated-90", text, _scan_case(text, rotate=90), {"rotation": 270}),
        QualityCase("rotated-180", text, _scan_case(text, rotate=180), {"rotation": 180}),
        QualityCase("rotated-270", text, _scan_case(text, rotate=270), {"rotation": 90}),
        QualityCase("pdf-rotate-90", text, _scan_case(text, rotate_page=90), {"rotation": 270}),
        QualityCase("skewed+3", text, _scan_case(text, skew=3.0), {"skew": 3.0}),
        QualityCase("skewed-3", text, _scan_case(text, skew=-3.0), {"skew": -3.0}),
        QualityCase("scan-150dpi", text, _scan_case(text, dpi=150)),
        QualityCase("scan-600dpi", text, _scan_case(text, dpi=600)),
        QualityCase("poster-small-print", poster_text, _poster_case(poster_text, seed)),
        QualityCase("noise-blur", text, _scan_case(text, blur=0.8, seed=seed + 3)),
        QualityCase("two-column", columns_text, _scan_case(columns_text, columns=2)),
        QualityCase("unmapped-font", text, _born_digital_case(text, "none"), {"source": "ocr"}),
        QualityCase("wrong-unicode-map", text, _born_digital_case(text, "scrambled"), {"source": "ocr"}),
        QualityCase("born-digital", text, _born_digital_case(text, "keep"), {"source": "text-layer"}),
    ]
    return [c for c in cases if names is None or c.name in names]


# ---------------------------------------------------------------- hostile documents


def with_marker(data: bytes, marker: str) -> bytes:
    """The document with a comment appended after its end: readers ignore it, the sandbox's test hook
    (OCR_SANDBOX_FAULT) recognises the document by it."""
    return data + f"\n%{marker}\n".encode()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def zeros_png(width: int, height: int, rows: int | None = None) -> bytes:
    """An RGBA PNG of `width` x `height` black pixels, as zlib of zeros (a few hundred KB for hundreds
    of MB decoded: a decompression bomb). `rows` limits the rows actually stored (a header that claims
    gigapixels with little behind it)."""
    import struct
    import zlib

    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width * 4)  # filter byte + pixels
    parts = [compressor.compress(row) for _ in range(height if rows is None else rows)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(parts))
            + _png_chunk(b"IEND", b""))


def tiff_with_huge_frame(huge: tuple[int, int], index: int = 2, small: tuple[int, int] = (200, 200),
                         frames: int = 3) -> bytes:
    """A multi-frame TIFF whose frame `index` (0-based) is a blank `huge` image (deflate keeps it small
    on disk) and whose other frames are small."""
    from PIL import Image

    images = [Image.new("L", huge if n == index else small, 255) for n in range(frames)]
    return _image_bytes(images[0], "TIFF", 300, save_all=True, append_images=images[1:],
                        compression="tiff_adobe_deflate")


def many_frame_tiff(frames: int, size: tuple[int, int] = (1700, 2200), dpi: int = 200) -> bytes:
    """A bilevel (1 bit per pixel) multi-frame TIFF of mostly blank pages, as a fax or book scanner
    makes: tiny on disk, `size` pixels per frame once decoded."""
    from PIL import Image, ImageDraw

    images = []
    for n in range(frames):
        image = Image.new("1", size, 1)
        ImageDraw.Draw(image).rectangle((100 + n % 50, 100, 400 + n % 50, 160), fill=0)
        images.append(image)
    return _image_bytes(images[0], "TIFF", dpi, save_all=True, append_images=images[1:], compression="group4")


def glyph_over_image_pdf(pixels: tuple[int, int], text: str = "x") -> bytes:
    """One born-digital glyph (a real text layer) over a blank image of `pixels` covering the page:
    the text layer makes `mode=auto` look at the page before OCR, the image is what a render decodes."""
    import pypdfium2 as pdfium
    from PIL import Image

    pdf = _new_pdf()
    add_text_page(pdf, text)
    page = pdf[0]
    obj = _image_object(pdf, page, Image.new("L", pixels, 255))
    obj.set_matrix(pdfium.PdfMatrix().scale(*LETTER))
    page.insert_obj(obj)
    page.gen_content()
    page.close()
    return _save(pdf)


# ---------------------------------------------------------------- text layers that lie (hand-written PDFs)
#
# Office exports and form tools write fonts whose codes are not Unicode: a TrueType subset whose codes
# run 33, 34, 35... in order of first use and no ToUnicode (extractors read '"7+%-' for "Phone"), a
# symbolic TrueType reached through its (3,0) cmap, a Type3 font drawn with paths, a ToUnicode that
# points at wrong letters, and /ActualText spans (honest or not). These are built here object by object
# so each file holds exactly the construct under test; the glyphs are DejaVu Sans outlines.

FONT_CASE_KINDS = (
    "truetype-no-tounicode",  # simple TrueType, WinAnsi codes reassigned, no ToUnicode
    "symbolic-30",  # symbolic TrueType, (3,0) cmap at 0xF000 + code, no Encoding, no ToUnicode
    "type3",  # Type3 glyphs drawn as paths, names /g33... with no meaning, no ToUnicode
    "wrong-tounicode",  # the TrueType subset with a ToUnicode that maps every letter 13 places on
    "actualtext-honest",  # unmapped TrueType inside /Span /ActualText spans giving the right text
    "actualtext-lying",  # a well-mapped font inside /ActualText spans that say something else
    "mixed-fonts",  # a form: labels in Helvetica (real text), values in the unmapped TrueType
    "good-truetype",  # control: the TrueType subset with a correct ToUnicode
)


def _pdf_string(text: str) -> bytes:
    """A PDF text string as UTF-16BE hex with its byte-order mark."""
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode() + b">"


class _RawPdf:
    """Just enough of a PDF writer: numbered objects, one page per call, a classic xref table."""

    def __init__(self):
        self.objects: list[bytes | None] = []

    def reserve(self) -> int:
        self.objects.append(None)
        return len(self.objects)

    def add(self, body: bytes, number: int | None = None) -> int:
        if number is None:
            number = self.reserve()
        self.objects[number - 1] = body
        return number

    def stream(self, data: bytes, extra: bytes = b"") -> int:
        import zlib

        packed = zlib.compress(data)
        return self.add(b"<< /Length %d /Filter /FlateDecode %s >>\nstream\n" % (len(packed), extra) + packed
                        + b"\nendstream")

    def output(self, pages: list[int], pages_number: int) -> bytes:
        kids = b" ".join(b"%d 0 R" % p for p in pages)
        self.add(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(pages)), pages_number)
        catalog = self.add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_number)
        out = io.BytesIO()
        out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for index, body in enumerate(self.objects, start=1):
            offsets.append(out.tell())
            out.write(b"%d 0 obj\n" % index + body + b"\nendobj\n")
        xref = out.tell()
        out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.objects) + 1))
        for offset in offsets:
            out.write(b"%010d 00000 n \n" % offset)
        out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
                  % (len(self.objects) + 1, catalog, xref))
        return out.getvalue()


class _SubsetFont:
    """DejaVu Sans glyphs for the characters of `text`, given codes 33, 34, ... in order of first use
    (space keeps 32), as subsetting producers do."""

    def __init__(self, text: str):
        from fontTools.ttLib import TTFont

        self.font = TTFont(DEJAVU_PATH)
        cmap = self.font.getBestCmap()
        self.codes: dict[str, int] = {" ": 32}
        for ch in text:
            if ch not in self.codes and not ch.isspace() and ord(ch) in cmap:
                self.codes[ch] = 33 + len(self.codes) - 1
        if max(self.codes.values()) > 255:
            raise ValueError("too many distinct characters for a simple font")
        self.glyphs = {code: cmap[ord(ch)] for ch, code in self.codes.items()}
        self.upem = self.font["head"].unitsPerEm
        self.first, self.last = 32, max(self.codes.values())

    def encode(self, line: str) -> bytes:
        return b"<" + bytes(self.codes[c] for c in line if c in self.codes).hex().upper().encode() + b">"

    def widths(self) -> bytes:
        hmtx = self.font["hmtx"]
        values = []
        for code in range(self.first, self.last + 1):
            glyph = self.glyphs.get(code)
            values.append(round(hmtx[glyph][0] * 1000 / self.upem) if glyph else 0)
        return b"[" + b" ".join(b"%d" % v for v in values) + b"]"

    def truetype_program(self, symbolic: bool) -> bytes:
        """The subset font whose cmap maps the codes to the glyphs: (3,1) at the WinAnsi character of
        each code, or (3,0) at 0xF000 + code for a symbolic font."""
        from fontTools import subset
        from fontTools.ttLib.tables._c_m_a_p import CmapSubtable

        options = subset.Options()
        options.notdef_outline = True
        options.name_IDs = ["*"]
        options.glyph_names = True
        options.drop_tables += ["FFTM"]  # FontForge's timestamps: nothing to subset, and it says so
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=[ord(c) for c in self.codes])
        from fontTools.ttLib import TTFont

        copy = TTFont(DEJAVU_PATH)
        subsetter.subset(copy)
        table = CmapSubtable.newSubtable(4)
        table.platformID, table.platEncID, table.language = 3, (0 if symbolic else 1), 0
        table.cmap = {(0xF000 + code if symbolic else code): glyph for code, glyph in self.glyphs.items()}
        copy["cmap"].tables = [table]
        buffer = io.BytesIO()
        copy.save(buffer)
        return buffer.getvalue()

    def type3_procs(self, pdf: _RawPdf) -> bytes:
        """CharProcs drawing each glyph's outline (cubic Béziers) in a 1000-unit glyph space."""
        from fontTools.pens.basePen import BasePen

        scale = 1000 / self.upem

        class PdfPen(BasePen):
            def __init__(self, glyphset):
                super().__init__(glyphset)
                self.ops: list[str] = []

            def _moveTo(self, p):
                self.ops.append(f"{p[0] * scale:.1f} {p[1] * scale:.1f} m")

            def _lineTo(self, p):
                self.ops.append(f"{p[0] * scale:.1f} {p[1] * scale:.1f} l")

            def _curveToOne(self, p1, p2, p3):
                self.ops.append(" ".join(f"{v * scale:.1f}" for p in (p1, p2, p3) for v in p) + " c")

            def _closePath(self):
                self.ops.append("h")

        glyphset = self.font.getGlyphSet()
        entries = []
        for code, glyph in sorted(self.glyphs.items()):
            pen = PdfPen(glyphset)
            glyphset[glyph].draw(pen)
            width = round(self.font["hmtx"][glyph][0] * scale)
            body = f"{width} 0 -100 -250 1400 1000 d1\n" + "\n".join(pen.ops) + ("\nf" if pen.ops else "")
            entries.append(b"/g%d %d 0 R" % (code, pdf.stream(body.encode())))
        return b"<< " + b" ".join(entries) + b" >>"


def _to_unicode_cmap(codes: dict[str, int], shift: int = 0) -> bytes:
    """A ToUnicode CMap for a one-byte font; `shift` moves every ASCII letter that many places on."""

    def target(ch: str) -> str:
        for base in ("A", "a"):
            if base <= ch <= chr(ord(base) + 25):
                return chr(ord(base) + (ord(ch) - ord(base) + shift) % 26)
        return ch

    lines = [f"<{code:02X}> <{ord(target(ch)):04X}>" for ch, code in sorted(codes.items(), key=lambda i: i[1])]
    body = "\n".join(lines)
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<00> <FF>\nendcodespacerange\n"
        f"{len(lines)} beginbfchar\n{body}\nendbfchar\nendcmap\n"
        "CMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode()


def font_case_pdf(lines: list[str], kind: str, font_size: float = 14.0, labels: list[str] | None = None) -> bytes:
    """A one-page born-digital PDF showing `lines` (one per line) in a font of the given `kind`
    (FONT_CASE_KINDS). The page always looks right; what its text layer decodes to depends on the kind.
    mixed-fonts puts `labels[i]` (Helvetica, real text) before each line's value."""
    if kind not in FONT_CASE_KINDS:
        raise ValueError(f"unknown font case {kind!r}")
    text = "".join(lines) + ("".join(labels) if labels else "")
    font = _SubsetFont(text)
    pdf = _RawPdf()
    pages_number = pdf.reserve()
    descriptor_common = (b"/FontName /ABCDEF+DejaVuSans /FontBBox [-1021 -463 1793 1232] /ItalicAngle 0 "
                         b"/Ascent 928 /Descent -236 /CapHeight 729 /StemV 80")
    if kind == "type3":
        procs = font.type3_procs(pdf)
        differences = b" ".join(b"%d /g%d" % (code, code) for code in sorted(font.glyphs))
        font_object = pdf.add(
            b"<< /Type /Font /Subtype /Type3 /FontBBox [-100 -250 1400 1000] /FontMatrix [0.001 0 0 0.001 0 0] "
            b"/CharProcs %s /Encoding << /Type /Encoding /Differences [%s] >> /FirstChar %d /LastChar %d "
            b"/Widths %s /Resources << >> >>" % (procs, differences, font.first, font.last, font.widths())
        )
    else:
        symbolic = kind == "symbolic-30"
        program = font.truetype_program(symbolic)
        file_object = pdf.stream(program, b"/Length1 %d" % len(program))
        descriptor = pdf.add(b"<< /Type /FontDescriptor %s /Flags %d /FontFile2 %d 0 R >>"
                             % (descriptor_common, 4 if symbolic else 32, file_object))
        extra = b"" if symbolic else b"/Encoding /WinAnsiEncoding "
        if kind in ("wrong-tounicode", "good-truetype", "actualtext-lying"):
            shift = 13 if kind == "wrong-tounicode" else 0
            extra += b"/ToUnicode %d 0 R " % pdf.stream(_to_unicode_cmap(font.codes, shift))
        font_object = pdf.add(
            b"<< /Type /Font /Subtype /TrueType /BaseFont /ABCDEF+DejaVuSans /FirstChar %d /LastChar %d "
            b"/Widths %s /FontDescriptor %d 0 R %s>>" % (font.first, font.last, font.widths(), descriptor, extra)
        )
    helvetica = pdf.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    content = []
    leading = font_size * 1.6
    for row, line in enumerate(lines):
        y = LETTER[1] - 72 - font_size - row * leading
        x = 72.0
        if kind == "mixed-fonts" and labels:
            label = labels[row]
            content.append(f"BT /H {font_size:g} Tf {x:.2f} {y:.2f} Td ({label}) Tj ET".encode())
            x += 150
        shown = b"BT /F %g Tf %.2f %.2f Td %s Tj ET" % (font_size, x, y, font.encode(line))
        if kind == "actualtext-honest":
            shown = b"/Span << /ActualText %s >> BDC " % _pdf_string(line) + shown + b" EMC"
        elif kind == "actualtext-lying":
            lie = " ".join(reversed(line.split())) or line
            shown = b"/Span << /ActualText %s >> BDC " % _pdf_string(lie[::-1]) + shown + b" EMC"
        content.append(shown)
    contents = pdf.stream(b"\n".join(content))
    page = pdf.add(
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %g %g] /Resources << /Font << /F %d 0 R /H %d 0 R >> >> "
        b"/Contents %d 0 R >>" % (pages_number, LETTER[0], LETTER[1], font_object, helvetica, contents)
    )
    return pdf.output([page], pages_number)


# ---------------------------------------------------------------- tables


def table_rows(seed: int = 0, rows: int = 5, cols: int = 4) -> list[list[str]]:
    """A header row and `rows - 1` rows of invoice-like cells (words, numbers, amounts)."""
    rng = random.Random(seed)
    items = ["Paper", "Toner", "Stapler", "Folders", "Envelopes", "Labels", "Pens", "Binders", "Ink", "Tape",
             "Markers", "Notebooks", "Scissors", "Glue", "Clips"]
    header = ["Item", "Quantity", "Unit price", "Total"][:cols]
    body = []
    for _ in range(rows - 1):
        quantity, price = rng.randint(1, 40), rng.randint(100, 9999) / 100
        row = [rng.choice(items), str(quantity), f"{price:.2f}", f"{quantity * price:.2f}"]
        body.append(row[:cols])
    return [header, *body]


def table_image(
    cells: list[list[str]],
    before: str = "",
    after: str = "",
    ruled: bool = True,
    dpi: int = 300,
    font_size: float = 12.0,
    seed: int = 0,
    noise: bool = True,
):
    """A scanned Letter page: `before` text, a table of `cells` (ruled: a full grid of lines; else
    borderless columns), then `after` text. Returns the greyscale image."""
    import numpy as np
    from PIL import Image, ImageDraw

    px = dpi / 72.0
    width, height = round(LETTER[0] * px), round(LETTER[1] * px)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    face = _font(font_size * px)
    line_height = font_size * 1.45 * px
    x0, y = 72 * px, 72 * px
    for line in before.split("\n") if before else []:
        draw.text((x0, y), line, fill=0, font=face)
        y += line_height
    y += line_height
    col_width = (width - 2 * x0) / len(cells[0])
    row_height = line_height * 1.6
    top = y
    for r, row in enumerate(cells):
        for c, text in enumerate(row):
            draw.text((x0 + c * col_width + 12 * px / 4, top + r * row_height + (row_height - font_size * px) / 2 - 4),
                      text, fill=0, font=face)
    bottom = top + len(cells) * row_height
    if ruled:
        stroke = max(2, round(px / 2))
        for r in range(len(cells) + 1):
            draw.line([(x0, top + r * row_height), (width - x0, top + r * row_height)], fill=0, width=stroke)
        for c in range(len(cells[0]) + 1):
            draw.line([(x0 + c * col_width, top), (x0 + c * col_width, bottom)], fill=0, width=stroke)
    y = bottom + line_height
    for line in after.split("\n") if after else []:
        draw.text((x0, y), line, fill=0, font=face)
        y += line_height
    if noise:
        rng = np.random.default_rng(seed)
        array = np.asarray(image, dtype=np.float32) * 0.9 + 16 + rng.normal(0, 6, (height, width))
        image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "L")
    return image


def table_pdf(cells: list[list[str]], before: str = "", after: str = "", ruled: bool = True, seed: int = 0) -> bytes:
    """table_image as a one-page image-only PDF at 300 DPI."""
    pdf = _new_pdf()
    add_image_page(pdf, table_image(cells, before, after, ruled=ruled, seed=seed), LETTER)
    return _save(pdf)


# ---------------------------------------------------------------- other languages (language=auto)

_SENTENCES_FRA = (
    "Le fournisseur doit livrer les marchandises à l'entrepôt dans un délai de trente jours.",
    "Le paiement est dû à la réception de la facture, sauf accord écrit des deux parties.",
    "Notre rapport trimestriel montre que le chiffre d'affaires a augmenté de douze pour cent.",
    "Veuillez signer les deux exemplaires du contrat et nous en renvoyer un à notre bureau.",
    "La réunion a été déplacée à jeudi matin parce que le projecteur de la salle est en panne.",
    "Tous les employés doivent suivre la formation à la sécurité avant la fin du mois.",
    "Le locataire est responsable des petites réparations, le propriétaire des dégâts structurels.",
    "Nous vous remercions de votre patience pendant l'examen de votre demande.",
    "La bibliothèque sera fermée les jours fériés et ouverte tard le premier vendredi.",
    "Les frais d'expédition sont calculés selon le poids du colis et la distance parcourue.",
    "Une copie du contrat signé a été envoyée au service juridique pour vérification.",
    "Le comité a approuvé le budget après une longue discussion sur les frais de voyage.",
)
_SENTENCES_DEU = (
    "Der Lieferant muss die Waren innerhalb von dreißig Tagen an das Lager liefern.",
    "Die Zahlung ist bei Erhalt der Rechnung fällig, sofern beide Parteien nichts anderes vereinbaren.",
    "Unser Quartalsbericht zeigt, dass der Umsatz um zwölf Prozent gestiegen ist.",
    "Bitte unterschreiben Sie beide Exemplare des Vertrags und senden Sie eines an unser Büro zurück.",
    "Die Besprechung wurde auf Donnerstag verschoben, weil der Beamer im Raum defekt ist.",
    "Alle Mitarbeiter müssen die Sicherheitsschulung vor dem Ende des Monats abschließen.",
    "Der Mieter ist für kleine Reparaturen zuständig, der Vermieter für Schäden am Gebäude.",
    "Wir danken Ihnen für Ihre Geduld, während wir Ihren Antrag geprüft haben.",
    "Die Bibliothek bleibt an Feiertagen geschlossen und ist am ersten Freitag länger geöffnet.",
    "Die Versandkosten richten sich nach dem Gewicht des Pakets und der zurückgelegten Strecke.",
    "Eine Kopie des unterschriebenen Vertrags wurde zur Prüfung an die Rechtsabteilung geschickt.",
    "Der Ausschuss genehmigte den Haushalt nach einer langen Diskussion über Reisekosten.",
)
_SENTENCES_BY_LANGUAGE = {"eng": _SENTENCES, "fra": _SENTENCES_FRA, "deu": _SENTENCES_DEU}


def sample_text_in(language: str, seed: int = 0, lines: int = 12, width: int = 60) -> str:
    """Like sample_text, in English (eng), French (fra) or German (deu)."""
    rng = random.Random(seed)
    sentences = _SENTENCES_BY_LANGUAGE[language]
    words: list[str] = []
    while len(words) < lines * width // 4:
        words.extend(rng.choice(sentences).split())
    wrapped = textwrap.wrap(" ".join(words), width=width, break_long_words=False)
    return "\n".join(wrapped[:lines])


# ---------------------------------------------------------------- quality calibration

CALIBRATION_CONDITIONS = (
    "clean", "light-noise", "noise-75", "noise-100", "noise-150",
    "blur-3", "blur-4", "blur-4.5", "blur-6", "wrong-language",
)


def degraded_scan(text: str, condition: str, seed: int = 0):
    """A 300 DPI scan of `text` under one of CALIBRATION_CONDITIONS (wrong-language is a clean scan:
    the caller reads it in the wrong language; noise-N is grain of standard deviation N grey levels
    around the letters, blur-N a Gaussian blur of N pixels). Returns the greyscale image."""
    import numpy as np
    from PIL import Image

    if condition in ("clean", "wrong-language"):
        return text_image(text, noise=False, seed=seed)
    if condition == "light-noise":
        return text_image(text, seed=seed)
    if condition.startswith("blur-"):
        return text_image(text, blur=float(condition.split("-")[1]), seed=seed)
    if condition.startswith("noise-"):
        # strong grain on and around the letters (a poor photocopy), flat paper elsewhere: noise spread
        # over the whole page would only measure how long Tesseract takes to give up on it
        rng = np.random.default_rng(seed)
        image = text_image(text, noise=False, seed=seed)
        coarse = image.reduce(8).point(lambda v: 255 if v < 250 else 0)
        near_ink = np.asarray(coarse.resize(image.size, Image.NEAREST)) > 0
        array = np.asarray(image, dtype=np.float32) * 0.75 + 40
        array = np.where(near_ink, array + rng.normal(0, float(condition.split("-")[1]), array.shape), array)
        return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "L")
    raise ValueError(f"unknown condition {condition!r}")


FONT_CASE_LINES = ["Phone", "The supplier shall deliver the goods to the warehouse", "Invoice 4821 is due on receipt"]
FONT_CASE_LABELS = ["Contact:", "Terms:", "Payment:"]


def write_font_cases(folder) -> None:
    """The files in tests/data/fonts: one per FONT_CASE_KINDS (its text FONT_CASE_LINES, with
    FONT_CASE_LABELS on mixed-fonts) and a one-word form page per unmapped kind."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for kind in FONT_CASE_KINDS:
        labels = FONT_CASE_LABELS if kind == "mixed-fonts" else None
        (folder / f"{kind}.pdf").write_bytes(font_case_pdf(FONT_CASE_LINES, kind, labels=labels))
    for kind in ("truetype-no-tounicode", "wrong-tounicode"):
        (folder / f"{kind}-short.pdf").write_bytes(font_case_pdf(["Phone"], kind))

"""PDFs built object by object with pikepdf, for the PDF join: a "scanned" document whose page tree has
intermediate nodes and attributes the pages inherit (size, crop box, rotation, resources with the page
image), and a page whose dictionaries hold strings that read like object references."""

from __future__ import annotations

import zlib
from pathlib import Path

SIDE = 64  # the scanned images are SIDE x SIDE grey pixels
PAGES_PER_NODE = 10
IMAGE_CONTENT = b"q 300 0 0 300 100 150 cm /Im0 Do Q"  # the image over most of the page
# Text in strings that a blind pattern would take for references (nested and escaped parentheses).
NOTE = b"see 1 0 R (and 2 0 R) \\) then 3 0 R"
SHOWN = "1 0 R"  # shown on the page by its content stream


def _image(pdf, shade: int, stripe: int):
    """A grey image, `shade` with one black stripe `stripe` rows from the top: ink a render can find."""
    import pikepdf

    rows = bytearray([shade]) * (SIDE * SIDE)
    for row in range(stripe, min(SIDE, stripe + 8)):
        rows[row * SIDE:(row + 1) * SIDE] = bytes(SIDE)
    return pdf.make_indirect(pikepdf.Stream(
        pdf, zlib.compress(bytes(rows)), Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Image, Width=SIDE,
        Height=SIDE, ColorSpace=pikepdf.Name.DeviceGray, BitsPerComponent=8, Filter=pikepdf.Name.FlateDecode))


def scanned_tree_pdf(path: Path, pages: int) -> None:
    """`pages` image pages under intermediate nodes of PAGES_PER_NODE. The root gives the size and the
    resources (a shared image); nodes give rotations (0, 90, 180, 270 in turn) and some a crop box; some
    pages have a size, a rotation or an image (resources) of their own."""
    import pikepdf

    pdf = pikepdf.new()
    shared = _image(pdf, 160, 8)
    root = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Pages, Count=pages, Kids=pikepdf.Array(), MediaBox=[0, 0, 612, 792],
        Resources=pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=shared))))
    node = None
    for index in range(pages):
        if index % PAGES_PER_NODE == 0:
            count = min(PAGES_PER_NODE, pages - index)
            node = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Pages, Parent=root, Count=count,
                                                        Kids=pikepdf.Array()))
            serial = index // PAGES_PER_NODE
            node.Rotate = (0, 90, 180, 270)[serial % 4]
            if serial % 3 == 1:
                node.CropBox = [20, 30, 590, 770]
            root.Kids.append(node)
        page = pikepdf.Dictionary(Type=pikepdf.Name.Page, Parent=node, Contents=pdf.make_stream(IMAGE_CONTENT))
        if index % 7 == 3:
            page.MediaBox = [0, 0, 420, 595]
        if index % 5 == 2:
            page.Rotate = 90
        if index % 6 == 4:
            page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=_image(pdf, 96, 8 + index % 48)))
        node.Kids.append(pdf.make_indirect(page))
    pdf.Root.Pages = root
    pdf.save(path)


def note_pdf(path: Path, pages: int = 2) -> None:
    """Pages whose dictionary (/Note) and annotation (/Contents) hold NOTE, and whose content shows SHOWN
    with a literal string."""
    import pikepdf

    pdf = pikepdf.new()
    font = pdf.make_indirect(pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                                                BaseFont=pikepdf.Name.Helvetica))
    for _ in range(pages):
        content = pdf.make_stream(b"BT /F1 24 Tf 72 700 Td (" + SHOWN.encode() + b") Tj ET")
        page = pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Page, MediaBox=[0, 0, 612, 792], Contents=content, Note=pikepdf.String(NOTE),
            Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))))
        annotation = pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Text, Rect=[72, 72, 96, 96],
            Contents=pikepdf.String(NOTE), P=page))
        page.Annots = pikepdf.Array([annotation])
        pdf.pages.append(pikepdf.Page(page))
    pdf.save(path)

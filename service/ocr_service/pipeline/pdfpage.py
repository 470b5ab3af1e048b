"""What a PDF page holds, in the coordinates of the page as displayed (its /Rotate applied,
origin top-left, points): its images (placement and native resolution) and its content's extent."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import DocumentError, Limits
from .textlayer import to_display

MAX_FORM_DEPTH = 16  # images nested in form XObjects deeper than this are not looked for (pdfium's own cap)


@dataclass
class PlacedImage:
    box: list[float]  # [x0, y0, x1, y1] on the displayed page
    pixels: tuple[int, int]
    px_per_pt: float  # native resolution: image pixels per point of placement (x 72 = DPI)

    @property
    def area(self) -> float:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def _clip(box, width, height):
    x0, y0, x1, y1 = box
    return [max(0.0, x0), max(0.0, y0), min(width, x1), min(height, y1)]


def page_geometry(page):
    """(images, content_box): the page's images and the union of all its objects' bounds, both on the
    displayed page. Objects inside form XObjects count through their form's bounds."""
    import pypdfium2 as pdfium

    width, height = page.get_size()
    rotation = page.get_rotation() % 360
    cropbox = page.get_cropbox()
    images: list[PlacedImage] = []
    content = None
    for obj in page.get_objects(max_depth=1):
        try:
            box = _clip(to_display(obj.get_bounds(), cropbox, rotation), width, height)
        except Exception:  # an object pdfium cannot measure takes no part
            continue
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        content = (
            box
            if content is None
            else [min(content[0], box[0]), min(content[1], box[1]), max(content[2], box[2]), max(content[3], box[3])]
        )
        if not isinstance(obj, pdfium.PdfImage):
            continue
        try:
            px_w, px_h = obj.get_px_size()
            m = obj.get_matrix()
            placed_w, placed_h = math.hypot(m.a, m.b), math.hypot(m.c, m.d)
        except Exception:
            continue
        if px_w <= 0 or px_h <= 0 or placed_w <= 0 or placed_h <= 0:
            continue
        ppp = math.sqrt((px_w / placed_w) * (px_h / placed_h))
        images.append(PlacedImage(box=box, pixels=(px_w, px_h), px_per_pt=ppp))
    return images, content


def check_page_images(page, limits: Limits, page_number: int) -> None:
    """Refuse the page if any image on it (inside form XObjects too) has more pixels than allowed. Reads
    each image's declared size only: pdfium decodes an image whole whatever the render scale, so this
    must come before the page is rendered at all."""
    import pypdfium2 as pdfium

    limit = min(limits.max_page_pixels, limits.max_image_pixels)
    for obj in page.get_objects(filter=(pdfium.raw.FPDF_PAGEOBJ_IMAGE,), max_depth=MAX_FORM_DEPTH):
        try:
            width, height = obj.get_px_size()
        except Exception:  # pdfium cannot read its size: it will not decode it either
            continue
        if width * height > limit:
            raise DocumentError(
                "page_too_large",
                f"Page {page_number} holds a {width}x{height} pixel image, over the limit of {limit:,} pixels "
                "per image.",
            )


def uncovered_ink(page, images: list[PlacedImage], words: list[dict]) -> float | None:
    """Share of the dark pixels inside the page's images that no text-layer word box covers, from a
    36 DPI render; None when images cover less than half the page (then it is not a scan) or when
    their ink does not look like text."""
    import numpy as np

    width, height = page.get_size()
    if sum(i.area for i in images) < 0.5 * width * height:
        return None
    scale = 0.5
    bitmap = page.render(scale=scale, grayscale=True)
    pixels = np.asarray(bitmap.to_pil())
    bitmap.close()
    in_images = np.zeros(pixels.shape, dtype=bool)
    for image in images:
        x0, y0, x1, y1 = (int(v * scale) for v in image.box)
        in_images[y0 : y1 + 1, x0 : x1 + 1] = True
    covered = np.zeros(pixels.shape, dtype=bool)
    for word in words:
        x0, y0, x1, y1 = word["bbox"]
        covered[
            max(0, int((y0 - 3) * scale)) : int((y1 + 3) * scale) + 1,
            max(0, int((x0 - 3) * scale)) : int((x1 + 3) * scale) + 1,
        ] = True
    dark = pixels < 128
    ink = dark & in_images
    total = int(ink.sum())
    if total < 30:
        return 0.0
    # Text at this size is strokes a pixel or two wide: nearly every dark pixel touches a light one
    # (measured 0.99-1.0 on scans of 8-24 pt text, 0.31 on a photo). Mostly solid dark areas are
    # photos or graphics, which no text layer is expected to cover.
    light = ~dark
    edge = np.zeros_like(dark)
    edge[1:, :] |= light[:-1, :]
    edge[:-1, :] |= light[1:, :]
    edge[:, 1:] |= light[:, :-1]
    edge[:, :-1] |= light[:, 1:]
    if int((ink & edge).sum()) < 0.6 * total:
        return None
    return float((ink & ~covered).sum()) / total

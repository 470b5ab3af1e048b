"""Page image geometry before OCR: orientation (Tesseract OSD), skew and text size (projection
profiles with numpy), and the one affine resample that applies them, with the mapping back to the
page so word boxes stay in page coordinates."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import engine

OSD_MIN_CONFIDENCE = 2.0  # measured: right verdicts on 1-2 line pages score 1.5-5, wrong ones (no text) ~0.2
MAX_SKEW = 6.0  # degrees searched either way
MIN_SKEW = 0.25  # smaller tilts are not worth a resample
# Text size. Tesseract 5's LSTM normalises each text line's height itself, so resampling a scan up
# only adds interpolation blur (measured: a 150 DPI scan read at its own resolution 0.0% CER, upsampled
# to 300 DPI 1.2%). Huge text is brought down (faster, and no worse); only tiny text is enlarged.
TARGET_LINE_HEIGHT = 38.0  # px of a text line (ascender to descender) of 12 pt text at 300 DPI
SMALL_LINE_HEIGHT = 20.0  # tiny text is enlarged to this
LINE_HEIGHT_OK = (10.0, 70.0)  # within this band the image keeps its scale
MAX_UPSCALE = 4.0


@dataclass
class Layout:
    skew: float  # degrees the text lines rise to the right (counter-clockwise tilt)
    line_height: float | None  # median text line height in pixels, None when no lines were found
    sideways: bool = False  # the lines run up or down the image (a page turned by 90 or 270 degrees)
    lines: int = 0  # rows of ink shaped like text lines (a whole-width count: columns side by side count once)


def _ink(image, max_side: int = 1600):
    """Coordinates of dark pixels on a copy reduced to at most `max_side`, and that reduction factor."""
    factor = max(1, math.ceil(max(image.size) / max_side))
    small = image.reduce(factor) if factor > 1 else image
    array = np.asarray(small, dtype=np.uint8)
    threshold = _otsu(array)
    ys, xs = np.nonzero(array < threshold)
    return xs.astype(np.float32), ys.astype(np.float32), small.size, factor


def _otsu(array: np.ndarray) -> int:
    histogram = np.bincount(array.ravel(), minlength=256).astype(np.float64)
    total = histogram.sum()
    levels = np.arange(256)
    weight_bg = np.cumsum(histogram)
    weight_fg = total - weight_bg
    mean_bg = np.cumsum(histogram * levels)
    mean_all = mean_bg[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean_all * weight_bg - mean_bg * total) ** 2 / (weight_bg * weight_fg)
    between[~np.isfinite(between)] = 0
    return int(np.argmax(between))


def _profile(xs, ys, angle_deg: float, height: int):
    """Row histogram of ink after turning the page clockwise by angle (undoing a tilt of +angle)."""
    theta = math.radians(angle_deg)
    rows = ys * math.cos(theta) + xs * math.sin(theta)
    rows = rows - rows.min()
    return np.bincount(rows.astype(np.int64), minlength=height)


def _level(xs, ys, height: int) -> tuple[float, float, np.ndarray]:
    """The tilt that makes the ink's rows sharpest: (angle, sharpness, row profile at that angle)."""

    def score(angle):
        profile = _profile(xs, ys, angle, height).astype(np.float64)
        return float(np.sum(np.diff(profile) ** 2))  # sharp line edges when lines are level

    best = max(np.arange(-MAX_SKEW, MAX_SKEW + 1e-6, 0.5), key=score)
    best = max(np.arange(best - 0.5, best + 0.5 + 1e-6, 0.05), key=score)
    return float(best), score(best), _profile(xs, ys, best, height)


def analyse(image, both_axes: bool = False) -> Layout:
    """Skew angle and text line height of a page image. With both_axes, also try lines running
    up/down the image, and report a sideways page when those are clearly the sharper ones."""
    xs, ys, (width, height), factor = _ink(image)
    if len(xs) < 200:
        return Layout(0.0, None)
    if len(xs) > 150_000:  # a random sample keeps each profile cheap
        pick = np.random.default_rng(0).choice(len(xs), 150_000, replace=False)
        xs, ys = xs[pick], ys[pick]
    skew, sharpness, profile = _level(xs, ys, height)
    if both_axes:
        _, sharpness_v, profile_v = _level(ys, xs, width)  # columns taken as rows
        if sharpness_v > 1.3 * sharpness:
            return Layout(0.0, _line_height(profile_v, factor), sideways=True, lines=len(_line_runs(profile_v)))
    return Layout(skew=round(skew, 2), line_height=_line_height(profile, factor), lines=len(_line_runs(profile)))


def _line_runs(profile: np.ndarray) -> np.ndarray:
    """Heights of the runs of inked rows (text lines) in a level page's row profile."""
    if profile.max() <= 0:
        return np.zeros(0, dtype=np.int64)
    inked = profile > max(2, 0.08 * np.percentile(profile[profile > 0], 90))
    edges = np.diff(np.concatenate(([0], inked.astype(np.int8), [0])))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    runs = ends - starts
    return runs[runs >= 3]  # specks, rules and dust are not lines


def _line_height(profile: np.ndarray, factor: int) -> float | None:
    """Median height of the runs of inked rows (text lines) in a level page's row profile."""
    runs = _line_runs(profile)
    if len(runs) < 2:
        return None
    return float(np.median(runs) * factor)


def detect_rotation(image, dpi: int, line_height: float | None = None) -> tuple[int, float]:
    """Clockwise rotation (0/90/180/270) that makes the page upright, with OSD's confidence.
    OSD reads a reduced page as well and faster, but only while the text stays 12 pt-at-300-DPI
    sized: reducing small print makes it guess."""
    factor = max(1, round((line_height or 0) / TARGET_LINE_HEIGHT))
    small = image.reduce(factor) if factor > 1 else image
    found = engine.detect_orientation(small, max(70, dpi // factor))
    if not found:
        return 0, 0.0
    content_rotation, confidence = found  # how far the content is turned clockwise
    if confidence < OSD_MIN_CONFIDENCE:
        return 0, confidence
    return (360 - content_rotation) % 360, confidence


def rescale_factor(line_height: float | None) -> float:
    """Factor that brings text lines to a height Tesseract reads well (1.0 when already fine)."""
    if not line_height:
        return 1.0
    low, high = LINE_HEIGHT_OK
    if line_height > high:
        return max(1 / MAX_UPSCALE, TARGET_LINE_HEIGHT / line_height)
    if line_height < low:
        return min(MAX_UPSCALE, SMALL_LINE_HEIGHT / line_height)
    return 1.0


class Transform:
    """Maps points of the OCR'd image back to the rendered page image (pixels, top-left origin).

    The OCR'd image is the rendered one turned clockwise by `rotation`, then scaled by `scale`
    and turned clockwise by `skew` degrees about its centre (canvas expanded, white fill)."""

    def __init__(self, size: tuple[int, int], rotation: int, scale: float, skew: float):
        self.size = size
        self.rotation = rotation
        self.scale = scale
        self.skew = skew
        width, height = size if rotation in (0, 180) else size[::-1]
        self.upright_size = (width, height)
        sw, sh = width * scale, height * scale
        theta = math.radians(skew)
        cos, sin = math.cos(theta), math.sin(theta)
        out_w = abs(sw * cos) + abs(sh * sin)
        out_h = abs(sw * sin) + abs(sh * cos)
        self.output_size = (max(1, round(out_w)), max(1, round(out_h)))
        self._cos, self._sin = cos, sin
        self._centre_in = (sw / 2, sh / 2)
        self._centre_out = (self.output_size[0] / 2, self.output_size[1] / 2)

    def apply(self, image):
        """Produce the image Tesseract reads."""
        from PIL import Image

        if self.rotation:
            # PIL transposes counter-clockwise: ROTATE_270 turns the page 90 degrees clockwise
            image = image.transpose({90: Image.ROTATE_270, 180: Image.ROTATE_180, 270: Image.ROTATE_90}[self.rotation])
        if self.scale == 1.0 and self.skew == 0.0:
            return image
        # output -> input (scaled upright) affine for Image.transform: undo the clockwise turn, then the scale
        cx, cy = self._centre_out
        ix, iy = self._centre_in
        cos, sin, s = self._cos, self._sin, self.scale
        # input = R(-skew)... written out: a clockwise turn by skew maps input d to
        # (cos*dx - sin*dy, sin*dx + cos*dy); its inverse is (cos*dx + sin*dy, -sin*dx + cos*dy).
        a, b = cos / s, sin / s
        d, e = -sin / s, cos / s
        c = (ix - (cos * cx + sin * cy)) / s
        f = (iy - (-sin * cx + cos * cy)) / s
        return image.transform(
            self.output_size, Image.AFFINE, (a, b, c, d, e, f), resample=Image.BICUBIC, fillcolor=255
        )

    def to_upright(self, x: float, y: float) -> tuple[float, float]:
        cx, cy = self._centre_out
        ix, iy = self._centre_in
        dx, dy = x - cx, y - cy
        ux = self._cos * dx + self._sin * dy + ix
        uy = -self._sin * dx + self._cos * dy + iy
        return ux / self.scale, uy / self.scale

    def to_rendered(self, x: float, y: float) -> tuple[float, float]:
        """A point of the OCR'd image -> the same point on the rendered page image."""
        ux, uy = self.to_upright(x, y)
        width, height = self.size
        if self.rotation == 90:  # upright = rendered turned clockwise: (x, y) <- (y, H - x)
            return uy, height - ux
        if self.rotation == 180:
            return width - ux, height - uy
        if self.rotation == 270:
            return width - uy, ux
        return ux, uy

    def box_to_rendered(self, box) -> list[float]:
        x0, y0, x1, y1 = box
        points = [self.to_rendered(x, y) for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        return [min(xs), min(ys), max(xs), max(ys)]

    def box_to_page(self, box, scale: float, offset: tuple[float, float]) -> list[float]:
        """A box of the OCR'd image -> page units, for a rendered image of `scale` pixels per page unit
        whose top-left corner is at `offset` on the page."""
        x0, y0, x1, y1 = self.box_to_rendered(box)
        ox, oy = offset
        return [round(ox + x0 / scale, 2), round(oy + y0 / scale, 2), round(ox + x1 / scale, 2),
                round(oy + y1 / scale, 2)]

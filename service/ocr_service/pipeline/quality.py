"""The quality gate: was a page read well enough to trust? Per page a verdict from its word confidences,
per document the worst page.

Thresholds were calibrated on clean, noisy, blurred and wrong-language scans (docs/quality-calibration.md):
clean and lightly noisy pages read at a mean word confidence of 90+ with almost no word under 60; heavy
blur, heavy noise and a page read in the wrong language fall clearly below on one or the other measure.
"""

from __future__ import annotations

LOW_WORD_CONFIDENCE = 60.0  # a word Tesseract is less sure of than this is probably misread
MIN_MEAN_CONFIDENCE = 85.0  # a page whose mean word confidence is below this is poor
MAX_LOW_SHARE = 0.10  # a page with a larger share of low-confidence words is poor
# Tesseract drops lines it cannot segment (heavy blur) and is confident about the rest, so confidences
# alone miss a page read only in part: compare the text lines read with the rows of ink seen.
MIN_LINES_READ = 0.6
LEVELS = ("none", "flag", "fail")


def page_quality(source: str, words: list[dict], lines_seen: int = 0) -> dict:
    """{"verdict": "good"|"poor", "reason", "mean_confidence", "low_confidence_share"} of one page.
    `lines_seen`: rows of ink shaped like text lines on the page image (0: none or not measured); no
    word at all, or far fewer lines read, is then a failure to read, not an empty page."""
    scored = [w["confidence"] for w in words if w.get("confidence") is not None]
    if source in ("text-layer", "none"):
        reason = "text layer" if source == "text-layer" else "not read (mode=text)"
        return {"verdict": "good", "reason": reason, "mean_confidence": None, "low_confidence_share": None}
    if not scored:
        if lines_seen:
            return {"verdict": "poor", "reason": "the page shows lines of text but no word could be read",
                    "mean_confidence": None, "low_confidence_share": None}
        return {"verdict": "good", "reason": "no text on the page", "mean_confidence": None,
                "low_confidence_share": None}
    mean = sum(scored) / len(scored)
    low = sum(c < LOW_WORD_CONFIDENCE for c in scored) / len(scored)
    result = {"mean_confidence": round(mean, 2), "low_confidence_share": round(low, 3)}
    if mean < MIN_MEAN_CONFIDENCE:
        return {"verdict": "poor", "reason": f"mean word confidence {mean:.0f} is below {MIN_MEAN_CONFIDENCE:.0f}",
                **result}
    lines_read = len({w.get("line") for w in words if w.get("confidence") is not None})
    if lines_seen >= 3 and lines_read < MIN_LINES_READ * lines_seen:
        return {"verdict": "poor", "reason": f"only {lines_read} of the {lines_seen} text lines on the page "
                                             "could be read", **result}
    if low > MAX_LOW_SHARE:
        return {"verdict": "poor", "reason": f"{low:.0%} of the words were read with a confidence below "
                                             f"{LOW_WORD_CONFIDENCE:.0f} (at most {MAX_LOW_SHARE:.0%} allowed)",
                **result}
    return {"verdict": "good", "reason": "word confidences are high", **result}


def document_quality(pages: list[dict]) -> dict:
    """The document's verdict is its worst page's: {"verdict", "worst_page", "poor_pages"}."""
    rated = [p for p in pages if isinstance(p.get("quality"), dict)]
    poor = sorted(p["number"] for p in rated if p["quality"].get("verdict") == "poor")

    def badness(page):
        quality = page["quality"]
        mean = quality.get("mean_confidence")
        return (quality.get("verdict") == "poor", -(mean if mean is not None else 100.0), -page["number"])

    worst = max(rated, key=badness, default=None)
    return {"verdict": "poor" if poor else "good", "worst_page": worst["number"] if worst else None,
            "poor_pages": poor}

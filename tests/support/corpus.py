"""The real scans in tests/data (see its README for their source and license)."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
PHOTOTEST = DATA / "phototest.tif"
PHOTOTEST_ROTATED = DATA / "phototest-rotated-R.png"
PHOTOTEST_TEXT = (DATA / "phototest.txt").read_text()

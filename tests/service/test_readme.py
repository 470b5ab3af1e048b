"""The README's configuration table names every setting, with its real default and description."""

from __future__ import annotations

import re
from pathlib import Path

from ocr_service.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def _table_rows() -> dict[str, tuple[str, str]]:
    section = README.read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]*) \| ([^|]*) \|$", section, re.MULTILINE)
    return {name: (default.strip(), meaning.strip()) for name, default, meaning in rows}


def test_configuration_table_matches_settings():
    rows = _table_rows()
    assert set(rows) == {name.upper() for name in Settings.model_fields}
    for name, field in Settings.model_fields.items():
        default, meaning = rows[name.upper()]
        assert meaning == field.description, name
        if field.default_factory is None:
            expected = "(none)" if field.default is None else str(field.default)
            assert default == expected, name

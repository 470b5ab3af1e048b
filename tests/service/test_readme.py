"""The README: its configuration table names every setting, with its real default and description, and
its walk-through works when pasted in order."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from ocr_service.config import Settings
from tests.support import samples
from tests.support.servers import BIN

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


def _walk_through() -> str:
    section = README.read_text().split("## Walk-through", 1)[1].split("\n## ", 1)[0]
    return section.split("```sh\n", 1)[1].split("```", 1)[0]


def test_the_walk_through_runs_pasted_in_order(start_service):
    """Every command of the README's walk-through, in order, in one shell, against a live service (the
    test starts it where the walk-through says `make run`)."""
    service = start_service("embedded", name="walk-through")
    port = service.url.rsplit(":", 1)[1]
    lines = [line for line in _walk_through().splitlines() if not line.startswith("make run")]
    script = "\n".join(lines).replace("localhost:8000", f"localhost:{port}").replace(
        ".venv/bin/ocr-service submit", f"{BIN / 'ocr-service'} submit --url http://127.0.0.1:{port}")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=README.parent, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    truth = (README.parent / "examples" / "scan.txt").read_text()
    assert done.stdout.count('"status":"ok"') >= 1
    # the by-hash upload's answer carries the result (Prefer: wait): one JSON object among the outputs
    by_hash, _ = json.JSONDecoder().raw_decode(done.stdout, done.stdout.index('{"document_id":"scan-3"'))
    assert samples.cer(truth, by_hash["text"]) <= 0.02
    assert samples.normalise_whitespace(truth)[:40] in samples.normalise_whitespace(done.stdout.rsplit("}", 1)[-1])

"""Small readers for what the image suite inspects: systemd unit files, env files, a rootfs snapshot."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values]}}; keys may repeat (ExecStartPre), and lines
    ending in a backslash continue."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    logical, pending = [], ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        logical.append(line)
    for line in logical:
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        else:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(" ".join(value.split()))
    return sections


def parse_env(text: str) -> dict[str, str]:
    """KEY=value lines (docker --env-file / systemd EnvironmentFile); comments skipped."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key] = value
    return env


def snapshot(root: Path, trees: list[str], entries: list[str]) -> dict[str, tuple]:
    """Mode, owner and content hash of every file under `trees` and of each path in `entries`."""
    result = {}

    def record(path: Path) -> None:
        st = path.lstat()
        if stat.S_ISREG(st.st_mode):
            content = hashlib.sha256(path.read_bytes()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            content = os.readlink(path)
        else:
            content = ""
        result["/" + str(path.relative_to(root))] = (oct(st.st_mode), st.st_uid, st.st_gid, content)

    for tree in trees:
        base = root / tree.lstrip("/")
        for dirpath, dirnames, filenames in os.walk(base):
            for name in dirnames + filenames:
                record(Path(dirpath) / name)
    for entry in entries:
        path = root / entry.lstrip("/")
        if path.exists():
            record(path)
    return result

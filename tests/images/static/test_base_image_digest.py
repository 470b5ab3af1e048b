"""`make base-image-digest` compares the Dockerfile's pinned base digest with what a registry serves
for the tag. No registry is reachable here, so the registry client is a stand-in on PATH that prints
a manifest: the target must hash it as the registry's index digest, say which digest differs, and
never report a match it did not see."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MANIFEST = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}'


def pinned() -> tuple[str, str]:
    ref = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", (REPO / "Dockerfile").read_text(), re.M).group(1)
    tag, digest = ref.split("@")
    return tag, digest


@pytest.fixture
def run(tmp_path):
    """make base-image-digest with a `skopeo` on PATH that serves MANIFEST for the Dockerfile's tag."""
    tag, _ = pinned()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "manifest").write_bytes(MANIFEST)
    skopeo = bin_dir / "skopeo"
    skopeo.write_text(f'#!/bin/sh\n[ "$*" = "inspect --raw docker://{tag}" ] || exit 1\ncat {tmp_path}/manifest\n')
    skopeo.chmod(0o755)

    def make(dockerfile: Path) -> subprocess.CompletedProcess:
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        return subprocess.run(["make", "-s", "--no-print-directory", "base-image-digest", f"DOCKERFILE={dockerfile}"],
                              cwd=REPO, env=env, capture_output=True, text=True)

    return make


def test_a_digest_the_registry_does_not_serve_fails_naming_both(run):
    _, digest = pinned()
    served = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
    result = run(REPO / "Dockerfile")
    assert result.returncode != 0, result.stdout + result.stderr
    assert f"the registry serves {served}, the Dockerfile pins {digest}" in result.stderr


def test_the_digest_the_registry_serves_passes(run, tmp_path):
    tag, digest = pinned()
    served = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text((REPO / "Dockerfile").read_text().replace(digest, served))
    result = run(dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{tag}: the registry serves the pinned {served}" in result.stdout


def test_no_answer_from_a_registry_is_no_verdict(run, tmp_path):
    (tmp_path / "manifest").unlink()  # the stand-in now fails, as skopeo does without a registry
    result = run(REPO / "Dockerfile")
    assert result.returncode != 0 and "no digest" in result.stderr, result.stdout + result.stderr
    assert "serves" not in result.stdout + result.stderr

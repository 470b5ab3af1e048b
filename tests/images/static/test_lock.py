"""The lock file: every dependency of the service pinned with hashes, in step with pyproject.toml,
past the known CVEs; what the Dockerfile and the Packer provisioning install from."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[3]
LOCK = REPO / "requirements.lock"
# Python 3.11 on Linux: the image's interpreter (python:3.11-slim-bookworm, Debian bookworm).
IMAGE_PYTHON = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.2",
                "sys_platform": "linux", "platform_system": "Linux"}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def entries() -> list[tuple[str, str, str, list[str]]]:
    """(name, version, marker, hashes) per pinned requirement of the lock."""
    text = LOCK.read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)==(\S+)\s*(?:;\s*([^-]*?))?\s*((?:--hash=\S+\s*)*)$", line.strip())
        if match:
            hashes = re.findall(r"sha256:[0-9a-f]{64}", line)
            found.append((normalise(match[1]), match[2], (match[3] or "").strip(), hashes))
    return found


def pins_for_the_image() -> dict[str, Version]:
    pins = {}
    for name, version, marker, _ in entries():
        if not marker or Requirement(f"x; {marker}").marker.evaluate(IMAGE_PYTHON):
            pins[name] = Version(version)
    return pins


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_pin_carries_hashes():
    found = entries()
    assert len(found) >= 20
    pinned_lines = [line for line in LOCK.read_text().splitlines() if re.match(r"^[A-Za-z0-9_.-]+==", line)]
    assert len(pinned_lines) == len(found), "a pinned line the reader did not understand"
    assert all(hashes for *_, hashes in found), [name for name, *_, hashes in found if not hashes]


@pytest.mark.parametrize("spec", project()["project"]["dependencies"] + project()["build-system"]["requires"])
def test_lock_satisfies_pyproject(spec):
    """`make lock` regenerates the lock from pyproject.toml: a dependency added or raised there
    and not locked fails here."""
    requirement = Requirement(spec)
    pins = pins_for_the_image()
    name = normalise(requirement.name)
    assert name in pins, f"{requirement.name} is not in requirements.lock: run make lock"
    assert requirement.specifier.contains(pins[name], prereleases=True), f"{name} {pins[name]} does not satisfy {spec}"


@pytest.mark.parametrize(
    "package,minimum",
    [("fastapi", "0.115.3"), ("starlette", "0.40.0"), ("python-multipart", "0.0.18"), ("pymongo", "4.6.3")],
)
def test_minimums_past_known_cves(package, minimum):
    specs = {normalise(Requirement(s).name): Requirement(s).specifier for s in project()["project"]["dependencies"]}
    if package in specs:
        assert not specs[package].contains(_just_below(minimum)), f"pyproject.toml admits {package} < {minimum}"
    assert pins_for_the_image()[package] >= Version(minimum)


def _just_below(version: str) -> Version:
    parts = [int(p) for p in version.split(".")]
    parts[-1] -= 1
    if parts[-1] < 0:
        parts[-1] = 0
        parts[-2] -= 1
    return Version(".".join(map(str, parts)))


def test_image_and_provisioning_install_from_the_lock_with_hashes():
    script = (REPO / "packer/scripts/install-ocr-runtime.sh").read_text()
    assert re.search(r"pip_install --require-hashes --no-deps --only-binary=:all: -r \"\$lock\"", script)
    assert "--no-index --no-build-isolation" in script  # the service itself adds nothing unhashed
    assert "deps /src/requirements.lock" in (REPO / "Dockerfile").read_text()


def test_make_lock_regenerates_from_pyproject():
    make = (REPO / "mk/images.mk").read_text()
    assert re.search(r"^lock:", make, re.M)
    recipe = make[make.index("LOCK_ARGS ="):]
    assert "--generate-hashes" in recipe and "pip compile" in recipe and "pyproject.toml" in recipe
    assert "https://pypi.org/simple" in recipe
    assert LOCK.read_text().splitlines()[1].strip() == "#    make lock"

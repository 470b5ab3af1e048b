"""The Dockerfile built for real (buildah, on a local Debian base standing in for the pinned python
image) and the built image run: as its non-root user, confined as the systemd unit confines it
(read-only root, sized /tmp, memory and pids limits, no capabilities), answering /health, reading a
scanned page, its HEALTHCHECK passing; and holding no compiler and no test extras.

Needs root and Debian's buildah (make test-images installs it); the base image and the build layers
are cached in $OCR_IMAGE_CACHE/containers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import tomllib
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement

from tests.support import buildah, samples
from tests.support.servers import free_port

REPO = buildah.REPO
UNIT = REPO / "packer/files/systemd/ocr-service.service"
SERVICE_UID = 10001
DATA_DIR = "/var/lib/ocr-service"


@pytest.fixture(scope="module")
def image() -> str:
    if os.geteuid() != 0 or not shutil.which("buildah"):
        pytest.fail("the container build needs root and Debian's buildah (make test-images installs it)")
    return buildah.build_service_image()


@pytest.fixture(scope="module")
def config(image) -> dict:
    """The image's Docker config: Env, User, Entrypoint, Cmd, Healthcheck, WorkingDir."""
    return buildah.inspect(image)["Docker"]["config"]


@pytest.fixture(scope="module")
def container(image):
    """A working container of the image, and its root file system mounted on the host."""
    name = buildah.buildah("from", "--pull=false", image).stdout.strip()
    try:
        yield name, Path(buildah.buildah("mount", name).stdout.strip())
    finally:
        buildah.buildah("umount", name, check=False)
        buildah.buildah("rm", name, check=False)


def run_in(container_name: str, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`buildah run --isolation chroot` as the image's USER with the image's environment."""
    flags = [item for key, value in (env or {}).items() for item in ("--env", f"{key}={value}")]
    return buildah.buildah("run", "--isolation", "chroot", *flags, container_name, "--", *argv, check=False)


def test_user_entrypoint_and_command(config):
    assert config["User"] == f"{SERVICE_UID}:{SERVICE_UID}"
    assert config["Entrypoint"] == ["ocr-service"] and config["Cmd"] == ["serve"]


def test_runs_as_the_service_user(container):
    name, _ = container
    result = run_in(name, "id", "-u")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(SERVICE_UID)


def test_no_compiler_in_the_image(container):
    _, root = container
    compilers = [f"usr/bin/{name}" for name in ("gcc", "cc", "c++", "g++", "clang", "make", "x86_64-linux-gnu-gcc")]
    present = [path for path in compilers if (root / path).exists() or (root / path).is_symlink()]
    assert not present, present
    dpkg_status = (root / "var/lib/dpkg/status").read_text()
    installed = set(re.findall(r"^Package: (\S+)\nStatus: install ok installed", dpkg_status, re.M))
    # gcc-12-base is the runtime's libgcc, no compiler.
    toolchain = r"(gcc|g\+\+|cpp|clang)(-\d+)?|build-essential|libc6-dev|binutils|make"
    assert not {p for p in installed if re.fullmatch(toolchain, p)}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions(root: Path) -> dict[str, str]:
    site = next((root / "opt/ocr-service/venv/lib").glob("python3*/site-packages"))
    found = {}
    for info in site.glob("*.dist-info"):
        text = (info / "METADATA").read_text(errors="replace")
        name = re.search(r"^Name: (.+)$", text, re.M).group(1).strip()
        version = re.search(r"^Version: (.+)$", text, re.M).group(1).strip()
        found[normalise(name)] = version
    return found


def test_venv_holds_the_locked_dependencies_and_no_test_extras(container):
    _, root = container
    installed = installed_distributions(root)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runtime = {normalise(Requirement(spec).name) for spec in project["dependencies"]}
    extras = {
        normalise(Requirement(spec).name)
        for group in ("test", "images", "bench")
        for spec in project["optional-dependencies"][group]
    }
    locked: dict[str, set[str]] = {}
    for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (REPO / "requirements.lock").read_text(), re.M):
        locked.setdefault(normalise(name), set()).add(version)
    # The extras' packages that the service does not need itself (pytest, httpx, moto, ...).
    test_only = extras - runtime - locked.keys()
    assert {"pytest", "rapidfuzz", "moto"} <= test_only
    assert not test_only & installed.keys(), "test extras in the image"
    assert runtime <= installed.keys()
    for name, version in installed.items():
        if name in ("ocr-service", "pip"):
            continue
        assert version in locked.get(name, ()), f"{name} {version} is installed but not locked"


@pytest.fixture(scope="module")
def confined_service(container, config, tmp_path_factory):
    """The image's ENTRYPOINT and CMD run confined as the unit's `docker run` confines them, with
    the image's environment, on a free loopback port."""
    _, root = container
    limits = buildah.unit_limits(UNIT.read_text())
    assert "read-only" in limits and limits["cap-drop"] == "ALL" and limits["security-opt"] == "no-new-privileges"
    tmpfs_target, _, tmpfs_options = limits["tmpfs"].partition(":")
    assert tmpfs_target == "/tmp"
    tmpfs_size = dict(o.partition("=")[::2] for o in tmpfs_options.split(","))["size"]
    data = tmp_path_factory.mktemp("volume")
    os.chown(data, SERVICE_UID, SERVICE_UID)
    port = free_port()
    env = dict(item.split("=", 1) for item in config["Env"])
    env.update({"PORT": str(port), "HOST": "127.0.0.1", "OCR_WORKERS": "1", "HOME": DATA_DIR})
    proc = buildah.Confined(
        root,
        config["Entrypoint"] + config["Cmd"],
        env,
        config["User"],
        volumes={data: DATA_DIR},
        tmpfs_size=tmpfs_size,
        memory=limits["memory"],
        pids=limits["pids-limit"],
        log_path=tmp_path_factory.mktemp("confined") / "service.log",
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.process.poll() is None, f"the service exited:\n{proc.log()}"
            assert time.monotonic() < deadline, f"no answer on {port}:\n{proc.log()}"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", port, proc, limits, data
    finally:
        proc.stop()


def test_service_answers_health_as_the_non_root_user(confined_service):
    url, _, proc, _, _ = confined_service
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200
    uids = {
        int(re.search(r"^Uid:\s+(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M).group(1))
        for pid in proc.pids()
        if Path(f"/proc/{pid}/status").exists() and "ocr-service" in Path(f"/proc/{pid}/cmdline").read_text()
    }
    assert uids == {SERVICE_UID}, uids


def test_confinement_holds(confined_service):
    """The limits are in force on the service's processes, and its root file system is read-only."""
    _, _, proc, limits, _ = confined_service
    memory_cg, pids_cg = proc.cgroups
    assert int((memory_cg / "memory.limit_in_bytes").read_text()) == buildah.to_bytes(limits["memory"])
    assert (pids_cg / "pids.max").read_text().strip() == limits["pids-limit"]
    pid = proc.pids()[-1]
    status = Path(f"/proc/{pid}/status").read_text()
    assert re.search(r"^NoNewPrivs:\s+1", status, re.M)
    assert re.search(r"^CapEff:\s+0+$", status, re.M) and re.search(r"^CapBnd:\s+0+$", status, re.M)
    mounts = Path(f"/proc/{pid}/mounts").read_text().splitlines()
    root_mount = [m.split() for m in mounts if m.split()[1] == "/"][-1]
    assert "ro" in root_mount[3].split(",")
    tmp_mount = [m.split() for m in mounts if m.split()[1] == "/tmp"][-1]
    assert tmp_mount[2] == "tmpfs" and "noexec" in tmp_mount[3].split(",")


def test_scanned_page_is_read_within_the_limits(confined_service):
    url, _, proc, _, data = confined_service
    truth = samples.sample_text(3, lines=10)
    pdf = samples.scanned_pdf([truth])
    with httpx.Client(base_url=url, timeout=60) as client:
        accepted = client.post("/extract", files={"file": ("scan.pdf", pdf, "application/pdf")}, data={"mode": "ocr"})
        assert accepted.status_code == 202, accepted.text
        document_id = accepted.json()["document_id"]
        deadline = time.monotonic() + 180
        while (status := client.get(f"/check-status/{document_id}").json())["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline, f"still {status} after 180 s:\n{proc.log()}"
            time.sleep(0.5)
        assert status["status"] == "completed", (status, proc.log())
        result = client.get(f"/result/{document_id}").json()
    assert result["pages"][0]["source"] == "ocr"
    assert samples.cer(truth, result["text"]) <= 0.02, result["text"]
    # Embedded mode kept its state in the volume, the only writable path besides /tmp.
    assert any(data.rglob("*")), "nothing written to the data volume"


def test_healthcheck_command_passes_while_the_service_runs_and_fails_without_it(container, config,
                                                                                confined_service):
    name, _ = container
    _, port, _, _, _ = confined_service
    check = config["Healthcheck"]
    assert check["Test"][0] == "CMD"
    assert run_in(name, *check["Test"][1:], env={"PORT": str(port)}).returncode == 0
    closed = free_port()
    failed = run_in(name, *check["Test"][1:], env={"PORT": str(closed)})
    assert failed.returncode != 0


def test_healthcheck_timing(config):
    check = config["Healthcheck"]
    # Docker stores durations in nanoseconds.
    assert check["Interval"] == 30 * 10**9 and check["Timeout"] == 5 * 10**9 and check["Retries"] == 3
    assert json.dumps(check["Test"]).count("/health") == 1

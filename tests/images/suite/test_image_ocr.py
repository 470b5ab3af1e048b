"""The OCR image: its settings, the unit that runs the service container, and (in the rootfs) the
container's recipe run for real: tesseract, the service user, the service answering and OCRing."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import httpx
import pytest
from checks import parse_env, parse_unit
from dockerfile_parse import DockerfileParser
from PIL import Image, ImageDraw, ImageFont

from tests.support import rootfs as rootfs_build
from tests.support.servers import free_port

pytestmark = pytest.mark.role("ocr")

REPO = Path(__file__).resolve().parents[3]
UNIT = "/etc/systemd/system/ocr-service.service"
SERVICE_UID = 10001
TESSDATA = "/usr/share/tesseract-ocr/5/tessdata"
FILES_DIR = "/run/ocr-service/files"


def test_settings_directory_and_defaults(host):
    directory = host.file("/etc/ocr-service")
    assert directory.is_directory and directory.user == "root" and directory.mode == 0o755
    defaults = parse_env(host.file("/etc/ocr-service/defaults.env").content_string)
    assert defaults["PORT"] == "8000"
    assert defaults["REDIS_PORT"] == "6379"
    assert defaults["OMP_THREAD_LIMIT"] == "1"
    assert defaults["MONGO_DB_NAME"] and defaults["MONGO_COLLECTION_NAME"]
    # Without REDIS_HOST and MONGO_CONNECTION_STRING the service runs embedded: an instance booted
    # without user data still answers the load balancer's health check.
    assert not {"REDIS_HOST", "MONGO_CONNECTION_STRING"} & defaults.keys()


def test_no_secret_is_baked_into_the_settings(host):
    for path in ("/etc/ocr-service/defaults.env", "/etc/ocr-service/image.env"):
        env = parse_env(host.file(path).content_string)
        assert not {"REDIS_PASSWORD", "MONGO_CONNECTION_STRING"} & env.keys(), path
    assert not host.file("/run/ocr-service").exists


def test_image_reference_recorded_for_the_unit(host):
    env = parse_env(host.file("/etc/ocr-service/image.env").content_string)
    assert env["OCR_IMAGE"]


def test_unit_runs_the_service_container(host):
    unit = parse_unit(host.file(UNIT).content_string)
    service = unit["Service"]
    assert service["EnvironmentFile"] == [
        "/etc/ocr-service/image.env",
        "/etc/ocr-service/defaults.env",
        "-/etc/ocr-service/service.env",
    ]
    assert service["ExecStartPre"][0].split()[1:] == [
        "--files-dir",
        FILES_DIR,
        "/etc/ocr-service/ssm-parameters",
        "/run/ocr-service/secrets.env",
    ]
    run = service["ExecStart"][0].split()
    assert run[:3] == ["/usr/bin/docker", "run", "--rm"]
    # Later env files win: defaults, then user data's settings, then the secrets.
    env_files = [run[i + 1] for i, arg in enumerate(run) if arg == "--env-file"]
    assert env_files == [
        "/etc/ocr-service/defaults.env",
        "/etc/ocr-service/service.env",
        "/run/ocr-service/secrets.env",
    ]
    assert "${PORT}:${PORT}" in run
    assert "/var/lib/ocr-service:/var/lib/ocr-service" in run
    assert run[-2:] == ["${OCR_IMAGE}", "serve"]
    # The agent's Prometheus target is written before the container starts.
    assert service["ExecStartPre"][1].split() == [
        "/usr/local/libexec/ocr-image/prometheus-targets",
        "${PORT}",
        "/run/ocr-image/prometheus-targets.json",
    ]


def test_unit_confines_the_container(host):
    """Read-only root with the writable paths named (the data volume, a sized /tmp), memory and
    pids limits, no capabilities, no privilege gain. tests/images/container runs the image so."""
    service = parse_unit(host.file(UNIT).content_string)["Service"]
    run = service["ExecStart"][0].split()
    assert "--read-only" in run
    volumes = [run[i + 1] for i, arg in enumerate(run) if arg == "--volume"]
    # The PEM files fetch-ssm-secrets writes (the CA of Redis's certificate), read-only, same path.
    assert volumes == ["/var/lib/ocr-service:/var/lib/ocr-service", f"{FILES_DIR}:{FILES_DIR}:ro"]
    assert [run[i + 1] for i, arg in enumerate(run) if arg == "--tmpfs"] == [
        "/tmp:rw,nosuid,nodev,noexec,size=${CONTAINER_TMPFS_SIZE}"
    ]
    assert run[run.index("--memory") + 1] == run[run.index("--memory-swap") + 1] == "${CONTAINER_MEMORY}"
    assert run[run.index("--pids-limit") + 1] == "${CONTAINER_PIDS_LIMIT}"
    assert run[run.index("--cap-drop") + 1] == "ALL"
    assert run[run.index("--security-opt") + 1] == "no-new-privileges"
    assert "--privileged" not in run and "--cap-add" not in run
    defaults = dict(item.split("=") for line in service["Environment"] for item in line.split())
    assert defaults["CONTAINER_MEMORY"].endswith("m") and int(defaults["CONTAINER_MEMORY"][:-1]) >= 1024
    assert int(defaults["CONTAINER_PIDS_LIMIT"]) >= 64
    # /tmp holds staged uploads and counts against the memory limit: smaller than it.
    assert int(defaults["CONTAINER_TMPFS_SIZE"][:-1]) < int(defaults["CONTAINER_MEMORY"][:-1])
    # The fetch may wait for the CA the Redis instance publishes: the start timeout leaves room for it.
    script = host.file("/usr/local/libexec/ocr-image/fetch-ssm-secrets").content_string
    wait = int(re.search(r"FILE_WAIT_SECONDS:-(\d+)", script).group(1))
    assert int(service["TimeoutStartSec"][0]) > wait + 30
    # Secrets live under /run only (tmpfs), private to root.
    assert service["RuntimeDirectory"] == ["ocr-service"] and service["RuntimeDirectoryMode"] == ["0700"]


@pytest.mark.real_instance("the service image is pre-pulled by the Docker daemon of the build instance")
def test_service_image_pre_pulled(host):
    image = parse_env(host.file("/etc/ocr-service/image.env").content_string)["OCR_IMAGE"]
    assert host.run(f"docker image inspect {image}").rc == 0
    langs = host.run(f"docker run --rm --entrypoint tesseract {image} --list-langs")
    assert {"eng", "osd"} <= set(langs.stdout.split())


@pytest.mark.real_instance("starts the service container under systemd")
def test_service_container_answers_health(host):
    assert host.run("systemctl start ocr-service.service").rc == 0
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if host.run("curl -sf http://127.0.0.1:8000/health").rc == 0:
                break
            time.sleep(2)
        else:
            pytest.fail(host.run("journalctl -u ocr-service --no-pager -n 50").stdout)
    finally:
        host.run("systemctl stop ocr-service.service")


# --- the container's recipe (install-ocr-runtime.sh), run in the Debian rootfs -------------------

RECIPE = "the container's recipe is checked in the Debian rootfs; on an instance it lives in the image"


@pytest.mark.rootfs_only(RECIPE)
def test_tesseract_with_english_and_osd(host):
    for pkg in ("tesseract-ocr", "tesseract-ocr-eng", "tesseract-ocr-osd"):
        assert host.package(pkg).is_installed, pkg
    for lang in ("eng", "osd"):
        assert host.file(f"{TESSDATA}/{lang}.traineddata").is_file


@pytest.mark.rootfs_only(RECIPE)
def test_service_user(host):
    user = host.user("ocr")
    assert user.uid == SERVICE_UID and user.gid == SERVICE_UID
    assert user.shell == "/usr/sbin/nologin"
    assert user.home == "/var/lib/ocr-service"


@pytest.mark.rootfs_only(RECIPE)
def test_recipe_matches_the_dockerfile():
    dockerfile = DockerfileParser(str(REPO / "Dockerfile"))
    runs = [i["value"] for i in dockerfile.structure if i["instruction"] == "RUN"]
    assert any("install-ocr-runtime.sh app" in run for run in runs)
    assert any("install-ocr-runtime.sh system" in run for run in runs)
    env = dockerfile.envs
    assert env["OMP_THREAD_LIMIT"] == "1"
    assert env["TESSDATA_PREFIX"] == TESSDATA
    assert dockerfile.json  # parses
    users = [i["value"] for i in dockerfile.structure if i["instruction"] == "USER"]
    assert users[-1] == f"{SERVICE_UID}:{SERVICE_UID}"


def sample_pdf(text: str) -> bytes:
    """A one-page scanned-looking PDF: the text drawn into an image, no text layer."""
    image = Image.new("L", (2480, 1200), 255)
    try:
        font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 64)
    except OSError:
        font = ImageFont.load_default(size=64)
    ImageDraw.Draw(image).text((150, 500), text, fill=0, font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PDF", resolution=300)
    return buffer.getvalue()


@pytest.fixture
def service_in_rootfs(start_in_rootfs, mounted_rootfs):
    """`ocr-service serve` inside the rootfs as the service user, with the Dockerfile's environment."""
    port = free_port()
    env = dict(DockerfileParser(str(REPO / "Dockerfile")).envs)
    env.update(
        {
            "PATH": f"/opt/ocr-service/venv/bin:{rootfs_build.CHROOT_PATH}",
            "HOME": "/var/lib/ocr-service",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "OCR_WORKERS": "1",
        }
    )
    proc = start_in_rootfs(["ocr-service", "serve"], env, user=f"{SERVICE_UID}:{SERVICE_UID}")
    proc.wait_for_port(port, timeout=60)
    return f"http://127.0.0.1:{port}", proc


@pytest.mark.rootfs_only("starts the service inside the rootfs")
def test_service_answers_health_and_ocrs_a_pdf(service_in_rootfs):
    url, proc = service_in_rootfs
    with httpx.Client(base_url=url, timeout=30) as client:
        health = client.get("/health")
        assert health.status_code == 200, health.text
        pdf = sample_pdf("Invoice 4711 total due")
        accepted = client.post("/extract", files={"file": ("scan.pdf", pdf, "application/pdf")}, data={"mode": "ocr"})
        assert accepted.status_code == 202, accepted.text
        document_id = accepted.json()["document_id"]
        deadline = time.monotonic() + 90
        while (status := client.get(f"/check-status/{document_id}").json())["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline, f"still {status} after 90 s:\n{proc.log()}"
            time.sleep(0.5)
        assert status["status"] == "completed", status
        result = client.get(f"/result/{document_id}").json()
    assert result["pages"][0]["source"] == "ocr"
    words = result["text"].split()
    assert {"Invoice", "4711", "total", "due"} <= set(words), result["text"]

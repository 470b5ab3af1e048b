"""The OCR image's side of Redis's TLS certificate: the unit's fetch-ssm-secrets waits for the CA
certificate the Redis instance publishes to SSM, writes it where the container reads it and names it
in REDIS_TLS_CA_FILE; the service, started in the rootfs with what was fetched, verifies a real
TLS redis-server with it (and refuses one whose certificate another CA signed)."""

from __future__ import annotations

import re
import secrets
import subprocess
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from checks import parse_env
from dockerfile_parse import DockerfileParser

from tests.support import rootfs as rootfs_build
from tests.support.servers import ServerProcess, free_port, redis_binary

pytestmark = pytest.mark.role("ocr")

REPO = Path(__file__).resolve().parents[3]
SERVICE_UID = 10001
CA_PARAMETER = "/image-test/redis-tls-ca"
# The unit passes --files-dir /run/ocr-service/files; the tests keep to the fixture's work directory.
FILES = "/tmp/fetch-test/files"
OUT = "/tmp/fetch-test/secrets.env"
FETCH = "runs the image's fetch-ssm-secrets inside the rootfs against moto's SSM"
# The service user's rights on the Redis image, as fetch-ssm-secrets writes them.
SERVICE_ACL = re.search(r'^REDIS_SERVICE_ACL="([^"]+)"', (REPO / "packer/files/bin/fetch-ssm-secrets").read_text(),
                        re.M).group(1)
PLACEHOLDER = "pending: the Redis instance publishes its CA certificate here when it starts"


def openssl(*args) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> Path:
    """A CA as redis-tls-setup makes one at first boot: P-256, CA:TRUE."""
    directory.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", directory / "ca.key", "-out", directory / "ca.crt")
    return directory / "ca.crt"


@pytest.fixture
def tls_redis(tmp_path):
    """A real redis-server on the host's loopback, TLS only, its certificate signed by a fresh CA; the
    default user off and the service's user with a password. Yields (port, password, CA PEM)."""
    ca = make_ca(tmp_path / "ca", "image-test redis CA")
    (tmp_path / "ext").write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=redis",
            "-keyout", tmp_path / "server.key", "-out", tmp_path / "server.csr")
    openssl("x509", "-req", "-in", tmp_path / "server.csr", "-CA", ca, "-CAkey", tmp_path / "ca/ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", tmp_path / "ext", "-out", tmp_path / "server.crt")
    port, password = free_port(), secrets.token_urlsafe(16)
    server = ServerProcess(
        "redis-tls",
        [redis_binary(), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path), "--tls-cert-file", str(tmp_path / "server.crt"),
         "--tls-key-file", str(tmp_path / "server.key"), "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no",
         "--user", "default", "off", "--user", "ocr", "on", f">{password}", *SERVICE_ACL.split()],
        port,
        tmp_path,
    ).start()
    yield port, password, ca.read_text()
    server.stop()


@pytest.mark.rootfs_only(FETCH)
def test_fetch_waits_for_the_published_ca_and_writes_it_for_the_container(ssm, fetch_secrets, mounted_rootfs,
                                                                            tmp_path):
    """The OCR instance may boot before Redis: the parameter still holds Terraform's placeholder, and
    the fetch waits until the PEM is there."""
    _, ssm_client = ssm
    pem = make_ca(tmp_path, "published CA").read_text()
    ssm_client.put_parameter(Name=CA_PARAMETER, Value=PLACEHOLDER, Type="String", Overwrite=True)
    publish = threading.Timer(
        3, lambda: ssm_client.put_parameter(Name=CA_PARAMETER, Value=pem, Type="String", Overwrite=True)
    )
    publish.start()
    try:
        fetched = fetch_secrets(f"REDIS_TLS_CA_FILE={CA_PARAMETER}\n", OUT, "--files-dir", FILES,
                                env={"FILE_POLL_SECONDS": "1", "FILE_WAIT_SECONDS": "60"})
    finally:
        publish.join()
    assert fetched.returncode == 0, fetched.stderr
    out = mounted_rootfs / OUT.lstrip("/")
    assert parse_env(out.read_text()) == {"REDIS_TLS_CA_FILE": f"{FILES}/REDIS_TLS_CA_FILE"}
    assert out.stat().st_mode & 0o777 == 0o600
    written = mounted_rootfs / FILES.lstrip("/") / "REDIS_TLS_CA_FILE"
    assert written.read_text().strip() == pem.strip()
    # The container runs as uid 10001: the file and its directory are readable to it.
    assert (written.stat().st_mode & 0o777, written.stat().st_uid) == (0o644, 0)
    assert written.parent.stat().st_mode & 0o777 == 0o755


@pytest.mark.rootfs_only(FETCH)
def test_fetch_gives_up_while_nothing_is_published(ssm, fetch_secrets, mounted_rootfs):
    """Bounded: after FILE_WAIT_SECONDS the unit fails (systemd starts it again later), and nothing
    half-written is left for the container."""
    _, ssm_client = ssm
    ssm_client.put_parameter(Name=CA_PARAMETER, Value=PLACEHOLDER, Type="String", Overwrite=True)
    started = time.monotonic()
    fetched = fetch_secrets(f"REDIS_TLS_CA_FILE={CA_PARAMETER}\n", OUT, "--files-dir", FILES,
                            env={"FILE_POLL_SECONDS": "1", "FILE_WAIT_SECONDS": "2"})
    assert fetched.returncode != 0 and time.monotonic() - started < 60
    assert f"parameter {CA_PARAMETER} holds no PEM" in fetched.stderr
    assert not (mounted_rootfs / OUT.lstrip("/")).exists()
    assert list((mounted_rootfs / FILES.lstrip("/")).iterdir()) == []


@pytest.mark.rootfs_only(FETCH)
def test_a_file_parameter_needs_a_files_directory(ssm, fetch_secrets, mounted_rootfs):
    fetched = fetch_secrets(f"REDIS_TLS_CA_FILE={CA_PARAMETER}\n", OUT)
    assert fetched.returncode != 0 and "--files-dir" in fetched.stderr
    assert not (mounted_rootfs / OUT.lstrip("/")).exists()


def start_service(start_in_rootfs, fetched_env: dict[str, str], redis_port: int, mongo_port: int) -> str:
    """`ocr-service serve` in the rootfs as the container runs it: the Dockerfile's environment, user
    data's settings (Redis over TLS with its ACL user), then what fetch-ssm-secrets wrote."""
    port = free_port()
    env = dict(DockerfileParser(str(REPO / "Dockerfile")).envs)
    env.update({
        "PATH": f"/opt/ocr-service/venv/bin:{rootfs_build.CHROOT_PATH}",
        "HOME": "/var/lib/ocr-service",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "OCR_WORKERS": "1",
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(redis_port),
        "REDIS_TLS": "true",
        "REDIS_USERNAME": "ocr",
        "MONGO_CONNECTION_STRING": f"mongodb://127.0.0.1:{mongo_port}",
        "MONGO_DB_NAME": f"ocr_{uuid.uuid4().hex[:12]}",
        "MONGO_TIMEOUT_MS": "1500",
        "ALLOW_ANONYMOUS": "true",
        **fetched_env,
    })
    proc = start_in_rootfs(["ocr-service", "serve"], env, user=f"{SERVICE_UID}:{SERVICE_UID}")
    proc.wait_for_port(port, timeout=90)
    return f"http://127.0.0.1:{port}"


def readiness(url: str, store: str, redis: str) -> tuple[int, dict]:
    """/health/ready's status code and body once MongoDB (store) and Redis (cache, queue) are in the
    states wanted, or its last answer after 60 s: Redis is connected lazily, and on a loaded machine
    a probe may miss its short timeout once."""
    wanted = {"store": store, "cache": redis, "queue": redis}
    deadline = time.monotonic() + 60
    while True:
        answer = httpx.get(f"{url}/health/ready", timeout=15)
        if answer.json().get("checks") == wanted or time.monotonic() > deadline:
            return answer.status_code, answer.json()
        time.sleep(1)


@pytest.mark.rootfs_only("starts the service inside the rootfs against a TLS redis-server")
def test_service_verifies_redis_with_the_published_ca(ssm, fetch_secrets, tls_redis, mongo_server, start_in_rootfs,
                                                      mounted_rootfs, tmp_path):
    _, ssm_client = ssm
    redis_port, password, pem = tls_redis
    ssm_client.put_parameter(Name=CA_PARAMETER, Value=pem, Type="String", Overwrite=True)
    ssm_client.put_parameter(Name="/image-test/redis-password", Value=password, Type="SecureString", Overwrite=True)
    parameters = f"REDIS_PASSWORD=/image-test/redis-password\nREDIS_TLS_CA_FILE={CA_PARAMETER}\n"
    fetched = fetch_secrets(parameters, OUT, "--files-dir", FILES)
    assert fetched.returncode == 0, fetched.stderr
    fetched_env = parse_env((mounted_rootfs / OUT.lstrip("/")).read_text())
    assert set(fetched_env) == {"REDIS_PASSWORD", "REDIS_TLS_CA_FILE"}

    url = start_service(start_in_rootfs, fetched_env, redis_port, mongo_server.port)
    code, ready = readiness(url, store="ok", redis="ok")
    assert code == 200 and ready["mode"] == "production", ready
    assert ready["checks"] == {"store": "ok", "cache": "ok", "queue": "ok"}, ready

    # The same server through a CA that did not sign its certificate: no connection, not ready.
    other = make_ca(mounted_rootfs / "tmp/fetch-test/other", "some other CA")
    other.chmod(0o644)
    other.parent.chmod(0o755)
    wrong = {**fetched_env, "REDIS_TLS_CA_FILE": "/tmp/fetch-test/other/ca.crt"}
    url = start_service(start_in_rootfs, wrong, redis_port, mongo_server.port)
    code, refused = readiness(url, store="ok", redis="unavailable")
    assert code == 503, refused
    assert refused["checks"] == {"store": "ok", "cache": "unavailable", "queue": "unavailable"}, refused

"""The image suite: what a machine built from ami_ocr / ami_redis must have.

It runs unchanged against
  * a Debian rootfs provisioned by the same scripts (`make test-images`):
        pytest tests/images/suite --image-role=ocr --connection=chroot --hosts=/var/cache/.../ocr-<key>
  * a real instance, or the Packer build instance before its AMI is made:
        pytest tests/images/suite --image-role=ocr --hosts=ssh://ec2-user@HOST --ssh-identity-file=KEY --sudo

Markers (each skip carries its reason, shown by -rs):
  role(name)          the check belongs to one image; the other image's checks are deselected
  real_instance(why)  only a booted instance can satisfy it (a running Docker daemon, Amazon's agent
                      binary, the service container); skipped in chroot runs
  rootfs_only(why)    starts processes inside the rootfs or re-runs its provisioning; chroot runs only
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tests.support import rootfs as rootfs_build  # noqa: E402
from tests.support.servers import free_port  # noqa: E402

ROLES = ("ocr", "redis")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--image-role",
        choices=ROLES,
        default=os.environ.get("IMAGE_ROLE"),
        help="the image the host was built from (ocr or redis); env IMAGE_ROLE",
    )


USAGE = """the image suite checks one machine image on one host; name both:
  pytest tests/images/suite --image-role=ocr|redis --connection=chroot --hosts=/path/to/rootfs
  pytest tests/images/suite --image-role=ocr|redis --hosts=ssh://ec2-user@HOST --ssh-identity-file=KEY --sudo
(`make test-images` builds the rootfs and runs both roles; see docs/images.md)"""


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("help", False):
        missing = [name for name in ("image_role", "hosts") if not config.getoption(name, None)]
        if missing:
            raise pytest.UsageError(f"missing {', '.join('--' + m.replace('_', '-') for m in missing)}: {USAGE}")
    config.addinivalue_line("markers", "role(name): a check of one image, ocr or redis")
    config.addinivalue_line("markers", "real_instance(why): needs an instance booted from the AMI")
    config.addinivalue_line("markers", "rootfs_only(why): needs the provisioned rootfs (chroot backend)")


def chroot_mode(config: pytest.Config) -> bool:
    return config.getoption("connection", None) == "chroot"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    role = config.getoption("image_role")
    chroot = chroot_mode(config)
    selected, deselected = [], []
    for item in items:
        marker = item.get_closest_marker("role")
        if marker is not None and marker.args[0] != role:
            deselected.append(item)
            continue
        selected.append(item)
        real = item.get_closest_marker("real_instance")
        if chroot and real is not None:
            item.add_marker(pytest.mark.skip(reason=f"real instance only: {real.args[0]}"))
        only_rootfs = item.get_closest_marker("rootfs_only")
        if not chroot and only_rootfs is not None:
            item.add_marker(pytest.mark.skip(reason=f"provisioned rootfs only: {only_rootfs.args[0]}"))
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


@pytest.fixture(scope="session")
def image_role(request) -> str:
    return request.config.getoption("image_role")


@pytest.fixture(scope="module")
def debian(host) -> bool:
    """The rootfs is Debian; the AMIs are Amazon Linux 2023."""
    return host.system_info.distribution == "debian"


@pytest.fixture(scope="session")
def rootfs(request) -> Path:
    hosts = request.config.getoption("hosts")
    root = Path(hosts.split(",")[0] if isinstance(hosts, str) else hosts[0])
    assert (root / "etc/os-release").exists(), f"{root} is not a rootfs"
    return root


@pytest.fixture(scope="session")
def mounted_rootfs(rootfs):
    """/proc, /sys, /dev, /dev/shm inside the rootfs while functional checks run; unmounted after.
    A rootfs from the build cache is held (shared lock) so no build replaces it meanwhile."""
    in_cache = rootfs.resolve().is_relative_to(rootfs_build.CACHE.resolve())
    with rootfs_build.cache_lock(shared=True) if in_cache else contextlib.nullcontext():
        with rootfs_build.mounted(rootfs):
            yield rootfs


class ChrootProcess:
    """A server started inside the rootfs (chroot shares the host's network namespace, so it
    listens on the host's loopback), stopped with its whole process group."""

    def __init__(self, root: Path, command: list[str], env: dict[str, str], user: str, log_path: Path):
        self.log_path = log_path
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    "chroot",
                    f"--userspec={user}",
                    str(root),
                    "env",
                    "-i",
                    *(f"{k}={v}" for k, v in env.items()),
                    *command,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_for_port(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"exited with {self.process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"nothing listens on {port} after {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@pytest.fixture
def start_in_rootfs(mounted_rootfs, tmp_path):
    """start_in_rootfs(command, env, user="0:0") -> ChrootProcess; all are stopped after the test."""
    started: list[ChrootProcess] = []

    def start(command: list[str], env: dict[str, str], user: str = "0:0") -> ChrootProcess:
        proc = ChrootProcess(mounted_rootfs, command, env, user, tmp_path / f"process-{len(started)}.log")
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="session")
def ssm(tmp_path_factory):
    """SSM Parameter Store of moto_server on a loopback port: (endpoint URL, boto3 client)."""
    import boto3

    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.1)
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client(
            "ssm",
            region_name="us-east-1",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        yield endpoint, client
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)


@pytest.fixture
def fetch_secrets(mounted_rootfs, ssm):
    """Runs the image's fetch-ssm-secrets inside the rootfs against moto's SSM, as a unit's
    ExecStartPre does: fetch_secrets(parameters_text, out_path, *options, env={...}) -> CompletedProcess
    (env: what the unit's environment adds, e.g. FILE_WAIT_SECONDS)."""
    endpoint, _ = ssm

    def run(parameters: str, out_path: str, *options: str, env: dict[str, str] | None = None):
        work = mounted_rootfs / "tmp/fetch-test"
        work.mkdir(exist_ok=True)
        (work / "ssm-parameters").write_text(parameters)
        env = {
            "PATH": rootfs_build.CHROOT_PATH,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": "us-east-1",
            "SSM_ENDPOINT_URL": endpoint,
            **(env or {}),
        }
        return subprocess.run(
            [
                "chroot",
                str(mounted_rootfs),
                "env",
                "-i",
                *(f"{k}={v}" for k, v in env.items()),
                "/usr/local/libexec/ocr-image/fetch-ssm-secrets",
                *options,
                "/tmp/fetch-test/ssm-parameters",
                out_path,
            ],
            capture_output=True,
            text=True,
        )

    yield run
    shutil.rmtree(mounted_rootfs / "tmp/fetch-test", ignore_errors=True)

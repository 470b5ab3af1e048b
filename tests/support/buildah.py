"""The project's Dockerfile built for real with buildah, on a machine without a Docker engine or a
registry: `--isolation chroot --storage-driver vfs`, on a local base image made from the debootstrap
rootfs of tests/support/rootfs.py plus Debian's python3 (standing in for python:3.11-slim-bookworm,
which the Dockerfile pins by digest and the build overrides through its PYTHON_IMAGE argument).

    python -m tests.support.buildah build     prints the image name

buildah's storage (the base image and the cached build layers) lives in
$OCR_IMAGE_CACHE/containers-<driver>, outside the checkout, beside the rootfs: a second build with
nothing changed reuses every layer, a change to the service alone rebuilds only the layers after its
COPY. The storage driver is overlay where the kernel mounts overlayfs (each layer is a thin diff),
else vfs (each layer a full copy: several times slower); OCR_BUILDAH_DRIVER chooses.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.support import rootfs

REPO = rootfs.REPO
def _storage_driver() -> str:
    if os.environ.get("OCR_BUILDAH_DRIVER"):
        return os.environ["OCR_BUILDAH_DRIVER"]
    return "overlay" if "overlay" in Path("/proc/filesystems").read_text() else "vfs"


DRIVER = _storage_driver()
STORAGE = rootfs.CACHE / f"containers-{DRIVER}"
BASE_REPOSITORY = "localhost/ocr-image-base"
SERVICE_REPOSITORY = "localhost/ocr-service"
# What the build reads: the Dockerfile, its ignore file and what its COPY lines take from the context.
CONTEXT = ["Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "requirements.lock", "service",
           "packer/scripts/lib.sh", "packer/scripts/install-ocr-runtime.sh"]
# What python:*-slim brings beyond a minimal Debian: the interpreter with venv and pip's ensurepip.
BASE_PACKAGES = ["python3", "python3-venv"]


def log(message: str) -> None:
    print(f"[buildah] {message}", file=sys.stderr, flush=True)


def command(*args: str) -> list[str]:
    return [
        "buildah",
        "--root",
        str(STORAGE / "storage"),
        "--runroot",
        str(STORAGE / "run"),
        "--storage-driver",
        DRIVER,
        *args,
    ]


def environment() -> dict[str, str]:
    """buildah runs RUN steps with the chroot isolation; host CA variables reach no build step."""
    return {"PATH": os.environ.get("PATH", rootfs.CHROOT_PATH), "BUILDAH_ISOLATION": "chroot", "HOME": "/root"}


def buildah(*args: str, check: bool = True, capture: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command(*args), env=environment(), capture_output=capture, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"buildah {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def image_exists(name: str) -> bool:
    return buildah("inspect", "--type", "image", name, check=False).returncode == 0


def inspect(name: str) -> dict:
    return json.loads(buildah("inspect", "--type", "image", name).stdout)


def base_image() -> str:
    """The local base: the cached debootstrap rootfs plus python3, committed as an image once per
    rootfs key. Older base images are removed."""
    with rootfs.cache_lock():
        base = rootfs.build_base()
        key = hashlib.sha256(f"{base.name} {' '.join(BASE_PACKAGES)}".encode()).hexdigest()[:16]
        name = f"{BASE_REPOSITORY}:{key}"
        if image_exists(name):
            return name
        for line in buildah("images", "--noheading", "--format", "{{.Name}}:{{.Tag}}").stdout.split():
            if line.startswith(BASE_REPOSITORY + ":"):
                buildah("rmi", "--force", line, check=False)
        started = time.monotonic()
        log(f"base image {name} from {base}")
        container = buildah("from", "scratch").stdout.strip()
        try:
            mount = Path(buildah("mount", container).stdout.strip())
            subprocess.run(["cp", "-a", f"{base}/.", str(mount)], check=True)
            (mount / ".complete").unlink(missing_ok=True)
            buildah("umount", container)
            buildah(
                "run",
                "--isolation",
                "chroot",
                container,
                "--",
                "sh",
                "-c",
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                f"--no-install-recommends {' '.join(BASE_PACKAGES)} >/dev/null && rm -rf /var/lib/apt/lists/*",
            )
            buildah("config", "--env", f"PATH={rootfs.CHROOT_PATH}", "--env", "LANG=C.UTF-8", container)
            buildah("commit", "--quiet", "--format", "docker", container, name)
        finally:
            buildah("rm", container, check=False)
        log(f"base image ready in {time.monotonic() - started:.0f} s")
        return name


def context_key(base: str) -> str:
    h = hashlib.sha256(base.encode())
    for entry in CONTEXT:
        path = REPO / entry
        for f in sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]:
            if "__pycache__" not in f.parts and not f.name.endswith(".pyc"):
                h.update(str(f.relative_to(REPO)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def build_service_image(build_args: dict[str, str] | None = None) -> str:
    """`buildah bud` of the repository's Dockerfile on the local base; returns the image name,
    tagged with a hash of the build's inputs: with nothing changed, the image built before is
    used as it is. Docker format keeps the HEALTHCHECK (the OCI format has no field for it).
    buildah's layer cache (--layers) is used with vfs only: with overlay, buildah 1.28 loses the
    build stage's files for the runtime stage's COPY --from."""
    base = base_image()
    args = {"PYTHON_IMAGE": base, **(build_args or {})}
    name = f"{SERVICE_REPOSITORY}:{context_key(base + repr(sorted(args.items())))}"
    if image_exists(name):
        log(f"{name} is up to date")
        return name
    started = time.monotonic()
    result = subprocess.run(
        command(
            "bud",
            *(["--layers"] if DRIVER == "vfs" else []),
            "--pull=false",
            "--isolation",
            "chroot",
            "--format",
            "docker",
            *(item for key, value in args.items() for item in ("--build-arg", f"{key}={value}")),
            "--tag",
            name,
            "--file",
            str(REPO / "Dockerfile"),
            str(REPO),
        ),
        env=environment(),
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        output = f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
        raise RuntimeError(f"buildah bud failed ({result.returncode}):\n{output}")
    log(f"{name} built in {time.monotonic() - started:.0f} s")
    # Earlier builds of the service (other input hashes) only take space.
    for line in buildah("images", "--noheading", "--format", "{{.Name}}:{{.Tag}}").stdout.split():
        if line.startswith(SERVICE_REPOSITORY + ":") and line != name:
            buildah("rmi", "--force", line, check=False)
    return name


def clean() -> None:
    if STORAGE.exists():
        buildah("rmi", "--all", "--force", check=False)
        subprocess.run(["rm", "-rf", "--one-file-system", str(STORAGE)], check=True)


def main() -> None:
    if os.geteuid() != 0 or not shutil.which("buildah"):
        sys.exit("building the image needs root and Debian's buildah")
    if sys.argv[1:] == ["build"]:
        print(build_service_image())
    elif sys.argv[1:] == ["clean"]:
        clean()
    else:
        sys.exit("usage: python -m tests.support.buildah build|clean")


if __name__ == "__main__":
    main()


# --- running the image as the unit runs it --------------------------------------------------------


def unit_limits(unit_text: str) -> dict[str, str]:
    """The container flags of the OCR unit's `docker run`, with the unit's Environment= defaults
    filled in: {"memory": "1536m", "pids-limit": "512", "tmpfs": "/tmp:...,size=512m", ...}."""
    joined = unit_text.replace("\\\n", " ")
    defaults: dict[str, str] = {}
    for line in joined.splitlines():
        if line.startswith("Environment="):
            for item in line.removeprefix("Environment=").split():
                key, _, value = item.partition("=")
                defaults[key] = value
    (run,) = [line for line in joined.splitlines() if line.startswith("ExecStart=")]
    args = run.split()
    flags: dict[str, str] = {}
    for i, arg in enumerate(args):
        if arg.startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("--"):
            value = args[i + 1]
            for key, default in defaults.items():
                value = value.replace("${" + key + "}", default)
            flags.setdefault(arg[2:], value)
        elif arg.startswith("--"):
            flags.setdefault(arg[2:], "")
    return flags


def to_bytes(size: str) -> int:
    units = {"k": 1024, "m": 1024**2, "g": 1024**3}
    return int(size[:-1]) * units[size[-1].lower()] if size[-1].lower() in units else int(size)


class Confined:
    """A command run in a mounted image root the way `docker run` confines the service: the root
    file system read-only, a sized tmpfs on /tmp, the data volume bound read-write, in a memory
    and a pids cgroup with the unit's limits, as the image's user with no capabilities and no
    privilege gain (setpriv), in its own mount and PID namespaces. The host's network is shared,
    as `buildah run --isolation chroot` does."""

    CGROUP_ROOTS = {"memory": Path("/sys/fs/cgroup/memory"), "pids": Path("/sys/fs/cgroup/pids")}

    def __init__(self, root: Path, argv: list[str], env: dict[str, str], user: str, volumes: dict[Path, str],
                 tmpfs_size: str, memory: str, pids: str, log_path: Path):
        self.log_path = log_path
        self.cgroups = [self._cgroup(kind) for kind in ("memory", "pids")]
        memory_cg, pids_cg = self.cgroups
        (memory_cg / "memory.limit_in_bytes").write_text(str(to_bytes(memory)))
        (pids_cg / "pids.max").write_text(pids)
        uid, gid = user.split(":")
        binds = "".join(f"mount --bind '{host}' '{root}{inside}'\n" for host, inside in volumes.items())
        script = f"""set -e
echo $$ > '{memory_cg}/cgroup.procs'
echo $$ > '{pids_cg}/cgroup.procs'
mount --make-rprivate /
mount --bind '{root}' '{root}'
mount -o remount,bind,ro '{root}'
mount -t proc proc '{root}/proc'
mount --rbind /dev '{root}/dev'
mount -t tmpfs -o rw,nosuid,nodev,noexec,mode=1777,size={tmpfs_size} tmpfs '{root}/tmp'
{binds}exec chroot '{root}' setpriv --reuid={uid} --regid={gid} --clear-groups --no-new-privs \\
  --bounding-set=-all --inh-caps=-all --ambient-caps=-all -- "$@"
"""
        with open(log_path, "wb") as log:
            self.process = subprocess.Popen(
                ["unshare", "--mount", "--pid", "--fork", "sh", "-c", script, "confined", "env", "-i",
                 *(f"{k}={v}" for k, v in env.items()), *argv],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def _cgroup(self, kind: str) -> Path:
        own = [line.split(":")[2] for line in Path("/proc/self/cgroup").read_text().splitlines()
               if line.split(":")[1] == kind]
        base = self.CGROUP_ROOTS[kind] / own[0].lstrip("/") if own else self.CGROUP_ROOTS[kind]
        path = base / f"ocr-image-test-{os.getpid()}-{id(self)}"
        path.mkdir()
        return path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def pids(self) -> list[int]:
        return [int(p) for p in (self.cgroups[1] / "cgroup.procs").read_text().split()]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        deadline = time.monotonic() + 10
        for cgroup in self.cgroups:
            while (cgroup / "cgroup.procs").read_text().strip() and time.monotonic() < deadline:
                time.sleep(0.1)
            cgroup.rmdir()

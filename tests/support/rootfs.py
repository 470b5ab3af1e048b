"""Debian bookworm root filesystems provisioned by the same scripts as the AMIs and the container,
for the image suite's chroot runs (`--connection=chroot --hosts=<rootfs>`).

    python -m tests.support.rootfs build     prints `ocr=<path>` and `redis=<path>`

Layout under $OCR_IMAGE_CACHE (default /var/cache/ocr-service-images, outside the checkout):
  base-<key>/   debootstrap --variant=minbase (+ systemd as init, ca-certificates); keyed by its
                options and the host's extra CA certificates, which it trusts
  ocr-<key>/    base + provisioning for the OCR image; keyed by a hash of packer/scripts, packer/files,
  redis-<key>/  this file, pyproject.toml and requirements.lock, so any change there rebuilds it, and
                nothing else does
Each build step runs with /proc, /sys, /dev and /dev/shm mounted in the rootfs and unmounts them
whatever happens. The service itself is re-installed into the OCR rootfs on every build call
(quick: its dependencies are in the cached rootfs already).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKER = REPO / "packer"
CACHE = Path(os.environ.get("OCR_IMAGE_CACHE", "/var/cache/ocr-service-images"))
MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"
BASE_PACKAGES = ["ca-certificates", "systemd", "systemd-sysv"]

# Where Packer uploads scripts/ and files/ on a build instance; the rootfs gets the same layout.
PROVISION_DIR = "/tmp/provision"
SERVICE_SRC = "/opt/ocr-image/src"
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# The provisioning steps per role, as the Packer templates and the Dockerfile run them.
# Each step: (script and arguments, environment).
OCR_IMAGE = "ocr-service:image-test"
REDIS_IMAGE = "redis:7.2-bookworm"
REDIS_MAXMEMORY = "256mb"
STEPS: dict[str, list[tuple[list[str], dict[str, str]]]] = {
    "ocr": [
        (["install-docker.sh"], {}),
        (["install-cloudwatch-agent.sh"], {"IMAGE_ROLE": "ocr"}),
        (["install-ocr-host.sh"], {"OCR_IMAGE": OCR_IMAGE, "IMAGE_VERSION": "image-test"}),
        # The container's recipe (Dockerfile), in the same Debian family as its base image.
        (["install-ocr-runtime.sh", "system"], {}),
    ],
    "redis": [
        (["install-docker.sh"], {}),
        (["install-cloudwatch-agent.sh"], {"IMAGE_ROLE": "redis"}),
        (
            ["install-redis-host.sh"],
            {"REDIS_IMAGE": REDIS_IMAGE, "REDIS_MAXMEMORY": REDIS_MAXMEMORY, "IMAGE_VERSION": "image-test"},
        ),
    ],
}
# What the tests need in a rootfs beyond the image itself: a redis-server binary to start with the
# provisioned config (the AMI runs it from the container image). Debian's redis-tools carries the
# binary (as redis-check-rdb, which runs the server when called redis-server) without the
# redis-server package's unit, config and user.
HARNESS_PACKAGES = {"ocr": [], "redis": ["redis-tools"]}


def log(message: str) -> None:
    print(f"[rootfs] {message}", file=sys.stderr, flush=True)


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if f.exists() and "__pycache__" not in f.parts:
                h.update(str(f.relative_to(REPO)).encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


HOST_CAS = Path("/usr/local/share/ca-certificates")


def base_key() -> str:
    """The debootstrap options and the host's extra CAs the base trusts."""
    h = hashlib.sha256(f"{SUITE} minbase {' '.join(BASE_PACKAGES)}".encode())
    for ca in sorted(HOST_CAS.rglob("*.crt")) if HOST_CAS.is_dir() else []:
        h.update(ca.read_bytes())
    return h.hexdigest()[:16]


def role_key() -> str:
    return _digest(
        [PACKER / "scripts", PACKER / "files", Path(__file__), REPO / "pyproject.toml", REPO / "requirements.lock"]
    )


# --- mounts -----------------------------------------------------------------------------------


def _mount_points_under(path: Path) -> list[str]:
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == str(path) or point.startswith(str(path) + "/"):
                points.append(point)
    return points


def unmount_all(path: Path) -> None:
    """Unmounts everything under path, deepest first (also what a killed earlier run left)."""
    for point in sorted(_mount_points_under(path), key=len, reverse=True):
        if subprocess.run(["umount", point], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", point], check=True)


@contextlib.contextmanager
def mounted(root: Path) -> Iterator[Path]:
    """/proc, /sys, /dev and private /dev/shm, /dev/pts inside root for the duration; always unmounted."""
    specs = [
        (["-t", "proc", "proc"], "proc"),
        (["--bind", "/sys"], "sys"),
        (["--bind", "/dev"], "dev"),
        (["-t", "tmpfs", "-o", "mode=1777", "shm"], "dev/shm"),  # private: not the host's /dev/shm
        (["-t", "devpts", "-o", "newinstance,ptmxmode=0666", "devpts"], "dev/pts"),  # apt's log wants a pty
    ]
    try:
        for args, target in specs:
            (root / target).mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", *args, str(root / target)], check=True)
        yield root
    finally:
        unmount_all(root)


def remove_tree(path: Path) -> None:
    """rm -rf that never crosses into a bind-mounted host directory."""
    if path.exists():
        unmount_all(path)
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=True)


# --- running things inside ----------------------------------------------------------------------


def chroot_env(**extra: str) -> dict[str, str]:
    """A clean environment: host variables such as PIP_CERT or REQUESTS_CA_BUNDLE may name files the
    rootfs lacks; the rootfs's own CA bundle (with the host's extra CAs) serves pip and apt."""
    env = {
        "PATH": CHROOT_PATH,
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "PIP_CERT": "/etc/ssl/certs/ca-certificates.crt",
        "REQUESTS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_DEFAULT_TIMEOUT": "120",
    }
    env.update(extra)
    return env


def in_chroot(root: Path, args: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(["chroot", str(root), *args], env=env or chroot_env(), check=True)


def run_step(root: Path, script: list[str], env: dict[str, str]) -> None:
    log(f"{root.name}: {' '.join(script)}")
    in_chroot(
        root,
        ["bash", f"{PROVISION_DIR}/scripts/{script[0]}", *script[1:]],
        chroot_env(PROVISION_DIR=PROVISION_DIR, **env),
    )


def copy_provisioning(root: Path) -> None:
    target = root / PROVISION_DIR.lstrip("/")
    remove_tree(target)
    target.mkdir(parents=True)
    for name in ("scripts", "files"):
        shutil.copytree(PACKER / name, target / name)


def provision(root: Path, role: str) -> None:
    """Runs the role's provisioning steps, the same as a Packer build does (also used by the
    idempotency test, which runs them again)."""
    copy_provisioning(root)
    for script, env in STEPS[role]:
        run_step(root, script, env)


# --- building -----------------------------------------------------------------------------------


def _prepare(root: Path) -> None:
    """Makes a fresh rootfs usable offline from services: daemons never start during package
    installs (policy-rc.d), the host's extra CAs are trusted, names resolve."""
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\n# image-test rootfs: never start services during package installs\nexit 101\n")
    policy.chmod(0o755)
    if HOST_CAS.is_dir():
        shutil.copytree(HOST_CAS, root / "usr/local/share/ca-certificates", dirs_exist_ok=True)
    shutil.copy2("/etc/resolv.conf", root / "etc/resolv.conf", follow_symlinks=True)


def build_base() -> Path:
    base = CACHE / f"base-{base_key()}"
    if (base / ".complete").exists():
        return base
    for stale in CACHE.glob("base-*"):
        remove_tree(stale)
    tmp = CACHE / f"tmp-base-{os.getpid()}"
    remove_tree(tmp)
    log(f"debootstrap {SUITE} (minbase) into {base}")
    started = time.monotonic()
    subprocess.run(
        ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(tmp), MIRROR],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    _prepare(tmp)
    with mounted(tmp):
        in_chroot(tmp, ["update-ca-certificates"])
    (tmp / ".complete").touch()
    tmp.rename(base)
    log(f"base ready in {time.monotonic() - started:.0f} s")
    return base


def build_role(role: str, base: Path) -> Path:
    root = CACHE / f"{role}-{role_key()}"
    if (root / ".provisioned").exists():
        return root
    for stale in CACHE.glob(f"{role}-*"):
        remove_tree(stale)
    tmp = CACHE / f"tmp-{role}-{os.getpid()}"
    remove_tree(tmp)
    started = time.monotonic()
    subprocess.run(["cp", "-a", str(base), str(tmp)], check=True)
    (tmp / ".complete").unlink()
    # A throwaway rootfs needs no fsync per unpacked file; dpkg is several times faster without.
    (tmp / "etc/dpkg/dpkg.cfg.d/image-test-unsafe-io").write_text("force-unsafe-io\n")
    with mounted(tmp):
        provision(tmp, role)
        if HARNESS_PACKAGES[role]:
            in_chroot(
                tmp,
                [
                    "bash",
                    "-c",
                    "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                    f"apt-get install -y -qq --no-install-recommends {' '.join(HARNESS_PACKAGES[role])} "
                    ">/dev/null",
                ],
            )
        if role == "redis":
            (tmp / "usr/local/bin/redis-server").symlink_to("/usr/bin/redis-check-rdb")
        if role == "ocr":
            install_service(tmp)
    (tmp / ".provisioned").touch()
    tmp.rename(root)
    log(f"{role} rootfs ready in {time.monotonic() - started:.0f} s")
    return root


def install_service(root: Path) -> None:
    """The service from this checkout into the rootfs's venv, as the Dockerfile's build stage does:
    the locked dependencies (quick when the cached rootfs has them already), then the service."""
    src = root / SERVICE_SRC.lstrip("/")
    remove_tree(src)
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "requirements.lock"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, src / name)
    shutil.copytree(
        REPO / "service", src / "service", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")
    )
    for step in (["deps", f"{SERVICE_SRC}/requirements.lock"], ["app", SERVICE_SRC]):
        log(f"{root.name}: install-ocr-runtime.sh {' '.join(step)}")
        in_chroot(
            root,
            ["bash", f"{PROVISION_DIR}/scripts/install-ocr-runtime.sh", *step],
            chroot_env(PROVISION_DIR=PROVISION_DIR),
        )


@contextlib.contextmanager
def cache_lock(shared: bool = False) -> Iterator[None]:
    """Builds hold it exclusively; suites running against a cached rootfs hold it shared."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield


def build() -> dict[str, Path]:
    if os.geteuid() != 0:
        sys.exit("building a rootfs needs root (debootstrap, chroot, mount)")
    with cache_lock():
        # What a killed earlier run left mounted (no suite runs: we hold the lock); buildah's storage
        # (containers-*) manages its own mounts.
        for path in CACHE.iterdir():
            if path.is_dir() and not path.name.startswith("containers-"):
                unmount_all(path)
        for leftover in CACHE.glob("tmp-*"):
            remove_tree(leftover)
        base = build_base()
        fresh = {role: not (CACHE / f"{role}-{role_key()}" / ".provisioned").exists() for role in STEPS}
        # The roles build independently (mostly waiting on downloads and dpkg): side by side.
        with ThreadPoolExecutor(max_workers=len(STEPS)) as pool:
            futures = {role: pool.submit(build_role, role, base) for role in STEPS}
            roots = {role: future.result() for role, future in futures.items()}
        if not fresh["ocr"]:  # the service may have changed since the rootfs was built
            with mounted(roots["ocr"]):
                copy_provisioning(roots["ocr"])
                install_service(roots["ocr"])
        return roots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["build", "clean"])
    args = parser.parse_args()
    if args.command == "clean":
        with cache_lock():
            for path in CACHE.iterdir():
                if path.is_dir():
                    remove_tree(path)
        return
    for role, root in build().items():
        print(f"{role}={root}")


if __name__ == "__main__":
    main()

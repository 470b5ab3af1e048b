"""testinfra through chroot, on a tiny root filesystem made of the host's dash and libc."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import infracheck as ic

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("chroot"), reason="chroot needs root")


@pytest.fixture
def rootfs(tmp_path) -> Path:
    root = tmp_path / "rootfs"
    # dash for commands, uname because testinfra's modules ask the system type first.
    libs = subprocess.run(["ldd", "/bin/dash", "/bin/uname"], capture_output=True, text=True, check=True).stdout
    for path in ["/bin/dash", "/bin/uname"] + [p for p in libs.split() if p.startswith("/") and not p.endswith(":")]:
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    (root / "bin/sh").symlink_to("dash")
    (root / "etc").mkdir()
    (root / "etc/marker").write_text("baked\n")
    return root


def test_chroot_host_sees_the_rootfs(rootfs, infra_host):
    host = infra_host(rootfs=rootfs)
    assert host.run("echo hello").stdout.strip() == "hello"
    assert host.run("test -f /etc/marker").rc == 0
    assert host.run("test -f /etc/not-there").rc != 0
    # The host's own files are not visible inside the chroot.
    assert host.run("test -d /root").rc != 0


def test_chroot_host_module_api(rootfs):
    host = ic.chroot_host(rootfs)
    assert host.file("/etc/marker").exists
    assert not host.file("/usr/bin/python3").exists


def test_infra_host_needs_one_target(infra_host):
    with pytest.raises(ValueError, match="exactly one"):
        infra_host()

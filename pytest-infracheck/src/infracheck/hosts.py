"""testinfra hosts: a root filesystem through chroot, or a machine over SSH."""

from __future__ import annotations

import os
from pathlib import Path

import testinfra


def chroot_host(rootfs: str | Path):
    """A testinfra Host running commands with `chroot <rootfs>` (needs root).

    testinfra's `chroot://` URL form loses the path (it becomes the URL's empty netloc), so the
    path is passed as the host name with connection="chroot", as `--connection=chroot --hosts=PATH` does.
    """
    rootfs = str(Path(rootfs).resolve())
    if not os.path.isdir(rootfs):
        raise FileNotFoundError(f"rootfs {rootfs} is not a directory")
    return testinfra.get_host(rootfs, connection="chroot")


# Throwaway test hosts change keys every run; no ControlMaster so no ssh process outlives the test.
SSH_TEST_ARGS = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ControlMaster=no -o LogLevel=ERROR"


def ssh_host(
    target: str,
    port: int | None = None,
    identity_file: str | None = None,
    ssh_config: str | None = None,
    ssh_extra_args: str = SSH_TEST_ARGS,
):
    """A testinfra Host over the `ssh` binary, e.g. ssh_host("root@127.0.0.1", port=2222, identity_file=key)."""
    spec = f"ssh://{target}" + (f":{port}" if port else "")
    kwargs = {"ssh_extra_args": ssh_extra_args}
    if identity_file:
        kwargs["ssh_identity_file"] = identity_file
    if ssh_config:
        kwargs["ssh_config"] = ssh_config
    return testinfra.get_host(spec, **kwargs)

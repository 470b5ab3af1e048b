"""pytest plugin (entry point `infracheck`): fixtures for Terraform stacks, the moto emulator and hosts.

Fixtures
  aws_emulator        session   a started MotoServer (endpoint, client(), session(), reset())
  aws_client          function  callable: aws_client("ec2") -> boto3 client bound to the emulator
  terraform_env       session   dict of the environment terraform runs with (own CLI config, plugin dir)
  terraform           function  factory: terraform(stack_dir, variables=..., emulator=True) -> Terraform;
                                destroys what was applied and removes the working copy at teardown
  module_terraform    module    the same factory, torn down at the end of the test module
  load_hcl            function  infracheck.load_stack, as a fixture
  infra_host          function  factory: infra_host(rootfs=PATH) or infra_host(ssh="user@host", port=...)
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from .emulator import MotoServer
from .hcl import load_stack
from .hosts import chroot_host, ssh_host
from .terraform import Terraform, TerraformError, cli_config, plugin_dir, working_copy


def pytest_addoption(parser):
    group = parser.getgroup("infracheck", "Terraform stacks against an AWS emulator")
    group.addoption(
        "--tf-plugin-dir",
        default=None,
        help="provider mirror for `terraform init -plugin-dir` (default: $TF_PLUGIN_DIR, "
        "else /opt/tf-plugins if present, else the network)",
    )
    group.addoption(
        "--aws-region",
        default=os.environ.get("INFRACHECK_REGION", "us-east-1"),
        help="region of the emulator and the provider override (default us-east-1)",
    )
    group.addoption(
        "--infracheck-keep",
        action="store_true",
        help="keep terraform working copies (state included) for debugging; resources are still destroyed",
    )


@pytest.fixture(scope="session")
def aws_emulator(request):
    server = MotoServer(region=request.config.getoption("--aws-region")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def aws_client(aws_emulator):
    return aws_emulator.client


@pytest.fixture(scope="session")
def terraform_env(request):
    """Environment shared by every terraform run of the session; its temp dir is removed at the end."""
    base = Path(tempfile.mkdtemp(prefix="infracheck-"))
    mirror = request.config.getoption("--tf-plugin-dir") or plugin_dir()
    # Without a mirror, a shared plugin cache makes every init after the first a local copy.
    cache = None if mirror else Path(os.environ.get("TF_PLUGIN_CACHE_DIR", base / "plugin-cache"))
    env = {"TF_CLI_CONFIG_FILE": str(cli_config(base, cache)), "INFRACHECK_BASE": str(base)}
    if mirror:
        env["INFRACHECK_PLUGIN_DIR"] = mirror
    try:
        yield env
    finally:
        shutil.rmtree(base, ignore_errors=True)


class _Factory:
    """Makes Terraform runners on working copies and tears every one down (Terratest's defer Destroy)."""

    def __init__(self, request, env: dict):
        self.request = request
        self.env = env
        self.made: list[tuple[Terraform, Path]] = []

    def __call__(
        self,
        stack_dir,
        variables: dict | None = None,
        emulator: bool = True,
        env: dict | None = None,
        timeout: float = 900.0,
    ) -> Terraform:
        stack_dir = Path(stack_dir).resolve()
        copy_root = Path(tempfile.mkdtemp(prefix="stack-", dir=self.env["INFRACHECK_BASE"]))
        workdir = working_copy(stack_dir, copy_root)
        run_env = {"TF_CLI_CONFIG_FILE": self.env["TF_CLI_CONFIG_FILE"], **(env or {})}
        if emulator:
            server: MotoServer = self.request.getfixturevalue("aws_emulator")
            aliases = [p.body.get("alias") for p in load_stack(workdir).providers if p.name == "aws"]
            server.write_provider_override(workdir, aliases)
            run_env.update(server.env())
        tf = Terraform(
            workdir,
            variables,
            env=run_env,
            plugin_dir=self.env.get("INFRACHECK_PLUGIN_DIR"),
            timeout=timeout,
            source_dir=stack_dir,
        )
        self.made.append((tf, copy_root))
        return tf

    def teardown(self) -> None:
        errors = []
        for tf, copy_root in reversed(self.made):
            try:
                if tf.applied:
                    tf.destroy()
            except TerraformError as exc:
                errors.append(str(exc))
            finally:
                if not self.request.config.getoption("--infracheck-keep"):
                    shutil.rmtree(copy_root, ignore_errors=True)
        if errors:
            pytest.fail("terraform destroy failed at teardown:\n" + "\n".join(errors), pytrace=False)


@pytest.fixture
def terraform(request, terraform_env):
    factory = _Factory(request, terraform_env)
    yield factory
    factory.teardown()


@pytest.fixture(scope="module")
def module_terraform(request, terraform_env):
    factory = _Factory(request, terraform_env)
    yield factory
    factory.teardown()


@pytest.fixture
def load_hcl():
    return load_stack


@pytest.fixture
def infra_host():
    def make(rootfs: str | os.PathLike | None = None, ssh: str | None = None, **kwargs):
        if (rootfs is None) == (ssh is None):
            raise ValueError("infra_host: give exactly one of rootfs=PATH or ssh='user@host'")
        return chroot_host(rootfs) if rootfs is not None else ssh_host(ssh, **kwargs)

    return make

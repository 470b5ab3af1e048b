"""pytest plugin (entry point `infracheck`): fixtures for Terraform stacks, the moto emulator and hosts.

Fixtures
  aws_emulator        session   a started MotoServer (endpoint, client(), session(), reset())
  aws_client          function  callable: aws_client("ec2") -> boto3 client bound to the emulator
  terraform_env       session   dict of the environment terraform runs with (own CLI config, plugin dir)
  terraform           function  factory: terraform(stack_dir, variables=..., emulator=True) -> Terraform;
                                destroys what was applied and removes the working copy at teardown
  module_terraform    module    the same factory, torn down at the end of the test module
  unique_name         function  a short name unique to this test run ("ic-" + unique_id())
  load_hcl            function  infracheck.load_stack, as a fixture
  infra_host          function  factory: infra_host(rootfs=PATH) or infra_host(ssh="user@host", port=...)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from .emulator import MotoServer
from .hcl import load_stack
from .helpers import unique_id
from .hosts import chroot_host, ssh_host
from .terraform import Terraform, TerraformError, cli_config, plugin_dir, working_copy
from .tftest import collect_tftest

KEPT_DIR = ".infracheck-kept"


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
    group.addoption(
        "--infracheck-keep-applied",
        action="store_true",
        help="stages: keep the emulator and every applied working copy after the run (nothing is destroyed) "
        "and reuse them in the next run with this option; destroy them with `python -m infracheck destroy-kept`",
    )
    group.addoption(
        "--infracheck-kept-dir",
        default=None,
        help=f"where --infracheck-keep-applied keeps state (default: <rootdir>/{KEPT_DIR})",
    )
    group.addoption(
        "--tf-binary",
        default=os.environ.get("INFRACHECK_TF_BINARY", "terraform"),
        help="terraform executable (e.g. tofu for OpenTofu; default terraform, or $INFRACHECK_TF_BINARY)",
    )


def _keep_applied(config) -> Path | None:
    if not config.getoption("--infracheck-keep-applied"):
        return None
    directory = config.getoption("--infracheck-kept-dir") or (Path(config.rootpath) / KEPT_DIR)
    directory = Path(directory).resolve()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:  # one emulator per worker: each keeps its own
        directory = directory / worker
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _read_json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def _write_json(path: Path, value) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1))
    tmp.replace(path)


def pytest_collect_file(file_path: Path, parent):
    if file_path.name.endswith(".tftest.hcl"):
        return collect_tftest(file_path, parent)
    return None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        logs = []
        for node in item.listchain():
            logs += [str(p) for p in getattr(node, "_infracheck_logs", []) if Path(p).exists()]
        if logs:
            report.sections.append(("infracheck: terraform output", "\n".join(dict.fromkeys(logs))))


_EMULATOR = pytest.StashKey[MotoServer]()
_ENV = pytest.StashKey[dict]()


def session_emulator(config) -> MotoServer:
    """The session's emulator, shared by the `aws_emulator` fixture and `.tftest.hcl` items."""
    if _EMULATOR in config.stash:
        return config.stash[_EMULATOR]
    region = config.getoption("--aws-region")
    kept = _keep_applied(config)
    server = None
    if kept is not None:
        # Stages: the emulator outlives the session, and a later run attaches to it.
        record = kept / "emulator.json"
        known = _read_json(record, {})
        if known:
            try:
                server = MotoServer.attach(known["port"], region=known.get("region", region), pid=known.get("pid"))
            except OSError:
                server = None
        if server is None:
            server = MotoServer(region=region, die_with_parent=False).start()
            _write_json(record, {"port": server.port, "pid": server.process.pid, "region": region})
    else:
        server = MotoServer(region=region).start()
        config.add_cleanup(server.stop)
    config.stash[_EMULATOR] = server
    return server


@pytest.fixture(scope="session")
def aws_emulator(request):
    server = session_emulator(request.config)
    yield server
    if _keep_applied(request.config) is None:
        server.stop()
        del request.config.stash[_EMULATOR]


@pytest.fixture
def aws_client(aws_emulator):
    return aws_emulator.client


def session_terraform_env(config) -> dict:
    """Environment shared by every terraform run of the session; its temp dir is removed at the end."""
    if _ENV in config.stash:
        return config.stash[_ENV]
    kept = _keep_applied(config)
    base = kept if kept is not None else Path(tempfile.mkdtemp(prefix="infracheck-"))
    mirror = config.getoption("--tf-plugin-dir") or plugin_dir()
    # Without a mirror, a shared plugin cache makes every init after the first a local copy.
    cache = None if mirror else Path(os.environ.get("TF_PLUGIN_CACHE_DIR", base / "plugin-cache"))
    env = {"TF_CLI_CONFIG_FILE": str(cli_config(base, cache)), "INFRACHECK_BASE": str(base)}
    if cache is not None:
        env["TF_PLUGIN_CACHE_DIR"] = str(cache)  # init takes turns on it (see Terraform.init)
    if mirror:
        env["INFRACHECK_PLUGIN_DIR"] = mirror
    env["INFRACHECK_TF_BINARY"] = config.getoption("--tf-binary")
    if kept is None:
        config.add_cleanup(lambda: shutil.rmtree(base, ignore_errors=True))
    config.stash[_ENV] = env
    return env


@pytest.fixture(scope="session")
def terraform_env(request):
    """Environment shared by every terraform run of the session; its temp dir is removed at the end."""
    env = session_terraform_env(request.config)
    yield env
    if _keep_applied(request.config) is None:
        shutil.rmtree(env["INFRACHECK_BASE"], ignore_errors=True)
        del request.config.stash[_ENV]


@pytest.fixture(scope="session")
def _infracheck_log_dir(tmp_path_factory) -> Path:
    # Under pytest's basetemp, which outlives the session (pytest keeps the last three).
    return tmp_path_factory.getbasetemp() / "infracheck-logs"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[-120:]


class _Factory:
    """Makes Terraform runners on working copies and tears every one down (Terratest's defer Destroy)."""

    def __init__(self, request, env: dict, log_dir: Path):
        self.request = request
        self.env = env
        self.log_dir = log_dir
        self.kept = _keep_applied(request.config)
        self.made: list[tuple[Terraform, Path]] = []
        request.node._infracheck_logs = getattr(request.node, "_infracheck_logs", [])

    def __call__(
        self,
        stack_dir,
        variables: dict | None = None,
        emulator: bool = True,
        env: dict | None = None,
        timeout: float = 900.0,
    ) -> Terraform:
        """A Terraform on a working copy of `stack_dir` (and the local modules it calls)."""
        stack_dir = Path(stack_dir).resolve()
        name = _slug(f"{self.request.node.nodeid}-{stack_dir.name}-{len(self.made)}")
        reused = False
        if self.kept is not None:
            copy_root = self.kept / "stacks" / (name[-60:] + "-" + hashlib.sha256(name.encode()).hexdigest()[:8])
            reused = copy_root.exists()
            copy_root.mkdir(parents=True, exist_ok=True)
        else:
            copy_root = Path(tempfile.mkdtemp(prefix="stack-", dir=self.env["INFRACHECK_BASE"]))
        workdir = working_copy(stack_dir, copy_root)
        run_env = {"TF_CLI_CONFIG_FILE": self.env["TF_CLI_CONFIG_FILE"], **(env or {})}
        if "TF_PLUGIN_CACHE_DIR" in self.env:
            run_env.setdefault("TF_PLUGIN_CACHE_DIR", self.env["TF_PLUGIN_CACHE_DIR"])
        if emulator:
            server: MotoServer = self.request.getfixturevalue("aws_emulator")
            aliases = [p.body.get("alias") for p in load_stack(workdir).providers if p.name == "aws"]
            server.write_provider_override(workdir, aliases)
            run_env.update(server.env())
        log_path = self.log_dir / f"{name}.log"
        self.request.node._infracheck_logs.append(log_path)
        tf = Terraform(
            workdir,
            variables,
            env=run_env,
            plugin_dir=self.env.get("INFRACHECK_PLUGIN_DIR"),
            timeout=timeout,
            source_dir=stack_dir,
            binary=self.env.get("INFRACHECK_TF_BINARY", "terraform"),
            log_path=log_path,
        )
        tf.reused = reused and (workdir / "terraform.tfstate").exists()
        self.made.append((tf, copy_root))
        return tf

    def teardown(self) -> None:
        if self.kept is not None:
            self._record_kept()
            return
        errors = []
        for tf, copy_root in reversed(self.made):
            try:
                if tf.applied:
                    _destroy_with_one_retry(tf)
            except TerraformError as exc:
                errors.append(str(exc))
            finally:
                if not self.request.config.getoption("--infracheck-keep"):
                    shutil.rmtree(copy_root, ignore_errors=True)
        if errors:
            pytest.fail("terraform destroy failed at teardown:\n" + "\n".join(errors), pytrace=False)

    def _record_kept(self) -> None:
        """Remember the kept working copies, so `python -m infracheck destroy-kept` can destroy them."""
        record = self.kept / "stacks.json"
        known = _read_json(record, [])
        for tf, _ in self.made:
            entry = {
                "workdir": str(tf.workdir),
                "source": str(tf.source_dir),
                "binary": tf.binary,
                "plugin_dir": tf.plugin_dir,
                "env": {k: v for k, v in tf.env.items() if k.startswith(("AWS_", "TF_"))},
            }
            known = [e for e in known if e["workdir"] != entry["workdir"]] + [entry]
        _write_json(record, known)


@pytest.fixture
def terraform(request, terraform_env, _infracheck_log_dir):
    factory = _Factory(request, terraform_env, _infracheck_log_dir)
    yield factory
    factory.teardown()


@pytest.fixture(scope="module")
def module_terraform(request, terraform_env, _infracheck_log_dir):
    factory = _Factory(request, terraform_env, _infracheck_log_dir)
    yield factory
    factory.teardown()


@pytest.fixture
def unique_name(request) -> str:
    """A short name unique to this run ("ic-" and six letters or digits), valid for buckets, queues,
    roles and security groups. Under --infracheck-keep-applied it stays the same for a test across
    runs, so a kept stack is updated in place rather than replaced."""
    kept = _keep_applied(request.config)
    if kept is None:
        return f"ic-{unique_id()}"
    record = kept / "names.json"
    names = _read_json(record, {})
    if request.node.nodeid not in names:
        names[request.node.nodeid] = f"ic-{unique_id()}"
        _write_json(record, names)
    return names[request.node.nodeid]


def pytest_terminal_summary(terminalreporter, config):
    kept = _keep_applied(config)
    if kept is not None and (kept / "stacks.json").exists():
        terminalreporter.write_line(
            f"infracheck: applied stacks and the emulator are kept in {kept}; "
            f"destroy them with: python -m infracheck destroy-kept {kept}"
        )


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


def _destroy_with_one_retry(tf) -> None:
    """Destroy, and once more if that fails: an emulator (or a cloud API) sometimes reports a resource gone
    that a first destroy was deleting; the second run refreshes the state and finishes the job."""
    try:
        tf.destroy()
    except TerraformError:
        tf.destroy()

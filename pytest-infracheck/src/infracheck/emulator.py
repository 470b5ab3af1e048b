"""moto_server as a stand-in for AWS: started on a free loopback port, stopped and reaped at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3

from ._proc import die_with_parent

DUMMY_KEY = "testing"

# Provider endpoint names (terraform-provider-aws `endpoints` block) pointed at the emulator.
# Everything a typical web stack touches; unknown names would be a provider error, so keep them valid.
PROVIDER_ENDPOINTS = (
    "acm",
    "apigateway",
    "autoscaling",
    "cloudformation",
    "cloudwatch",
    "dynamodb",
    "ec2",
    "ecr",
    "ecs",
    "efs",
    "elb",
    "elbv2",
    "events",
    "iam",
    "kms",
    "lambda",
    "logs",
    "rds",
    "route53",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
    "ssm",
    "sts",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class MotoServer:
    """A moto_server subprocess; `endpoint` is its URL, `client(name)` a boto3 client bound to it."""

    def __init__(
        self,
        region: str = "us-east-1",
        port: int | None = None,
        startup_timeout: float = 30.0,
        load_managed_policies: bool = True,
        serial: bool | None = None,
        die_with_parent: bool = True,
    ):
        # False only for an emulator kept between runs (--infracheck-keep-applied).
        self.die_with_parent = die_with_parent
        self.region = region
        # AWS-managed IAM policies (CloudWatchAgentServerPolicy, ...) exist in every account; moto
        # only knows them when asked, and stacks attaching them fail with NoSuchEntity otherwise.
        self.load_managed_policies = load_managed_policies
        # One request at a time (see _moto_serial); INFRACHECK_MOTO_THREADED=1 restores moto's default.
        self.serial = serial if serial is not None else os.environ.get("INFRACHECK_MOTO_THREADED") != "1"
        # Without a port, bind one now and hand the listening socket to moto_server: a port merely
        # probed free could be taken by another worker's emulator before moto binds it.
        self._socket: socket.socket | None = None
        if port is None:
            self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._socket.bind(("127.0.0.1", 0))
            self._socket.listen(128)
            port = self._socket.getsockname()[1]
        self.port = port
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.attached_pid: int | None = None
        self._log = None

    @classmethod
    def attach(cls, port: int, region: str = "us-east-1", pid: int | None = None) -> MotoServer:
        """A handle on a moto_server already running on `port` (kept between runs); stop() leaves it
        running unless `stop(force=True)`."""
        server = cls(region=region, port=port)
        server.attached_pid = pid
        with urllib.request.urlopen(f"{server.endpoint}/moto-api/", timeout=2):
            pass
        return server

    def start(self) -> MotoServer:
        self._log = tempfile.TemporaryFile(prefix="infracheck-moto-")
        handover: dict[str, str] = {}
        if self._socket is not None:
            # werkzeug serves an inherited socket when told it runs under its reloader.
            handover = {"WERKZEUG_RUN_MAIN": "true", "WERKZEUG_SERVER_FD": str(self._socket.fileno())}
        # The interpreter running pytest, so the moto of this environment is used, not one on PATH.
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infracheck._moto_serial" if self.serial else "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                str(self.port),
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(signal.SIGTERM) if self.die_with_parent else os.setsid,
            pass_fds=(self._socket.fileno(),) if self._socket is not None else (),
            env={
                **os.environ,
                **handover,
                "AWS_DEFAULT_REGION": self.region,
                "MOTO_IAM_LOAD_MANAGED_POLICIES": "true" if self.load_managed_policies else "false",
            },
        )
        if self._socket is not None:
            self._socket.close()  # moto_server holds it now
            self._socket = None
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self.process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"moto_server did not answer on {self.endpoint} within {self.startup_timeout}s")
        self._warm()
        return self

    def _warm(self) -> None:
        """Build moto's IAM backend now: its lazy first load, raced by terraform's parallel calls,
        can make AddRoleToInstanceProfile run twice ("Cannot exceed quota for
        InstanceSessionsPerInstanceProfile")."""
        self.client("iam").list_policies(MaxItems=1)

    def log_tail(self, size: int = 4000) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-size:]

    def stop(self, force: bool = False) -> None:
        """Stop the server and its whole process group, waiting until it is gone."""
        if force and self.attached_pid:
            try:
                os.killpg(self.attached_pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        if self.process is not None and self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def reset(self) -> None:
        """Forget every resource (moto's reset API)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(request, timeout=10).close()
        self._warm()

    # ---- boto3 ---------------------------------------------------------------------------
    def session(self) -> boto3.session.Session:
        return boto3.session.Session(
            aws_access_key_id=DUMMY_KEY, aws_secret_access_key=DUMMY_KEY, region_name=self.region
        )

    def client(self, service: str, **kwargs):
        return self.session().client(service, endpoint_url=self.endpoint, **kwargs)

    def resource(self, service: str, **kwargs):
        return self.session().resource(service, endpoint_url=self.endpoint, **kwargs)

    # ---- terraform -----------------------------------------------------------------------
    def provider_block(self, alias: str | None = None) -> str:
        """An `aws` provider block pointing every endpoint at this server, with dummy credentials."""
        endpoints = "\n".join(f'    {name} = "{self.endpoint}"' for name in PROVIDER_ENDPOINTS)
        alias_line = f'  alias = "{alias}"\n' if alias else ""
        return (
            'provider "aws" {\n' + alias_line + f'  region                      = "{self.region}"\n'
            f'  access_key                  = "{DUMMY_KEY}"\n'
            f'  secret_key                  = "{DUMMY_KEY}"\n'
            "  skip_credentials_validation = true\n"
            "  skip_requesting_account_id  = true\n"
            "  skip_metadata_api_check     = true\n"
            "  skip_region_validation      = true\n"
            "  s3_use_path_style           = true\n"
            "  endpoints {\n" + endpoints + "\n  }\n}\n"
        )

    def write_provider_override(self, stack_dir: Path, provider_aliases: list[str | None]) -> Path:
        """Point the stack's aws providers at this server.

        Existing `provider "aws"` blocks are overridden through an `_override.tf` file (Terraform
        merges it over the base block); a stack without one gets a plain provider file instead,
        since an override without a base block is an error.
        """
        if provider_aliases:
            path = Path(stack_dir) / "infracheck_emulator_override.tf"
            path.write_text("\n".join(self.provider_block(a) for a in provider_aliases))
        else:
            path = Path(stack_dir) / "infracheck_emulator_provider.tf"
            path.write_text(self.provider_block())
        return path

    def env(self) -> dict[str, str]:
        """Environment for tools that read the standard AWS variables."""
        return {
            "AWS_ACCESS_KEY_ID": DUMMY_KEY,
            "AWS_SECRET_ACCESS_KEY": DUMMY_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
        }

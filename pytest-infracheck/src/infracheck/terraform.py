"""Run terraform on a working copy of a stack: init, validate, plan (parsed JSON), apply, output, destroy."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ._proc import die_with_parent
from .hcl import load_stack
from .plan import Plan

DEFAULT_PLUGIN_DIR = "/opt/tf-plugins"
_IGNORE = shutil.ignore_patterns(
    ".terraform",
    "terraform.tfstate*",
    ".terraform.lock.hcl",
    "*.tfplan",
    ".git",
    "__pycache__",
    ".pytest_cache",
    "*_override.tf",
)


class TerraformError(AssertionError):
    """A terraform command failed; the message carries the command, the directory and its output."""


def plugin_dir() -> str | None:
    """The local provider mirror: $TF_PLUGIN_DIR, else /opt/tf-plugins when present, else None (network)."""
    configured = os.environ.get("TF_PLUGIN_DIR")
    if configured:
        return configured
    return DEFAULT_PLUGIN_DIR if os.path.isdir(DEFAULT_PLUGIN_DIR) else None


def working_copy(stack_dir: str | Path, destination: str | Path) -> Path:
    """Copy a stack and every local module it calls (transitively) under `destination`.

    Relative layout is kept from the deepest common ancestor, so `source = "../modules/x"` still
    resolves in the copy and nothing is written into the original tree. Returns the copied stack dir.
    """
    stack_dir = Path(stack_dir).resolve()
    dirs = load_stack(stack_dir).local_module_dirs()
    base = Path(os.path.commonpath([str(d) for d in dirs]))
    destination = Path(destination)
    for directory in sorted(dirs):
        shutil.copytree(directory, destination / directory.relative_to(base), ignore=_IGNORE, dirs_exist_ok=True)
    return destination / stack_dir.relative_to(base)


class Terraform:
    """terraform in one directory. Every command raises TerraformError when it fails."""

    def __init__(
        self,
        workdir: str | Path,
        variables: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        plugin_dir: str | None = None,
        timeout: float = 900.0,
        binary: str = "terraform",
        source_dir: str | Path | None = None,
        interrupt_grace: float = 60.0,
    ):
        self.workdir = Path(workdir)
        self.source_dir = Path(source_dir) if source_dir else self.workdir
        self.variables = dict(variables or {})
        self.plugin_dir = plugin_dir
        self.timeout = timeout
        self.interrupt_grace = interrupt_grace
        self.binary = binary
        self.env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1", **(env or {})}
        self.applied = False
        self.history: list[str] = []

    # ---- plumbing ------------------------------------------------------------------------
    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [self.binary, *args]
        self.history.append(" ".join(args[:1]))
        # Own process group, so a timeout kills terraform and its provider plugins together.
        process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent(signal.SIGINT),
        )
        try:
            stdout, stderr = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _interrupt(process, self.interrupt_grace)
            raise TerraformError(
                f"terraform {' '.join(args)} timed out after {self.timeout}s in {self.workdir}"
            ) from None
        except BaseException:  # KeyboardInterrupt: leave no terraform behind
            _interrupt(process, self.interrupt_grace)
            raise
        result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        if check and result.returncode != 0:
            raise TerraformError(
                f"terraform {' '.join(args)} failed in {self.workdir} "
                f"(exit {result.returncode}):\n{stderr.strip()}\n{stdout.strip()[-4000:]}"
            )
        return result

    def _var_args(self) -> list[str]:
        if not self.variables:
            return []
        path = self.workdir / "infracheck.auto.tfvars.json"
        path.write_text(json.dumps(self.variables, indent=1))
        return []  # *.auto.tfvars.json is read by plan/apply/destroy without flags

    # ---- commands ------------------------------------------------------------------------
    def init(self) -> Terraform:
        args = ["init", "-backend=false", "-input=false", "-no-color"]
        if self.plugin_dir:
            args.append(f"-plugin-dir={self.plugin_dir}")
        self.run(*args)
        return self

    def validate(self) -> dict:
        """`terraform validate -json` as a dict; raises with every diagnostic (file:line) when invalid."""
        result = self.run("validate", "-json", "-no-color", check=False)
        try:
            report = json.loads(result.stdout)
        except json.JSONDecodeError:
            raise TerraformError(
                f"terraform validate gave no JSON in {self.workdir} (was init run?):\n{result.stderr.strip()}"
            ) from None
        if not report.get("valid"):
            raise TerraformError(f"terraform validate failed in {self.workdir}:\n" + format_diagnostics(report))
        return report

    def fmt_check(self) -> None:
        result = self.run("fmt", "-check", "-recursive", "-list=true", "-no-color", check=False)
        if result.returncode != 0:
            raise TerraformError(
                f"terraform fmt -check found unformatted files in {self.workdir}:\n{result.stdout}{result.stderr}"
            )

    def plan(self, destroy: bool = False) -> Plan:
        """Plan and return the parsed `terraform show -json` of it, wrapped in a Plan."""
        self._var_args()
        args = ["plan", "-input=false", "-no-color", "-lock=false", "-out=infracheck.tfplan"]
        if destroy:
            args.append("-destroy")
        self.run(*args)
        shown = self.run("show", "-json", "-no-color", "infracheck.tfplan")
        return Plan(json.loads(shown.stdout), self.workdir, self.source_dir)

    def apply(self) -> Terraform:
        self._var_args()
        self.applied = True  # set first: a half-done apply leaves state that destroy must remove
        self.run("apply", "-input=false", "-no-color", "-auto-approve", "-lock=false")
        return self

    def outputs(self) -> dict[str, Any]:
        shown = self.run("output", "-json", "-no-color")
        return {name: value.get("value") for name, value in json.loads(shown.stdout).items()}

    def output(self, name: str) -> Any:
        values = self.outputs()
        if name not in values:
            raise TerraformError(f"output {name!r} not found in {self.workdir}; outputs: {sorted(values)}")
        return values[name]

    def state_list(self) -> list[str]:
        result = self.run("state", "list", "-no-color", check=False)
        return result.stdout.split() if result.returncode == 0 else []

    def destroy(self) -> None:
        self._var_args()
        self.run("destroy", "-input=false", "-no-color", "-auto-approve", "-lock=false")
        self.applied = False


def _interrupt(process: subprocess.Popen, grace: float = 60.0) -> None:
    """Stop terraform like Ctrl-C does (it then writes the state of what it created, so destroy can
    remove it), and kill its process group if it does not stop within `grace` seconds."""
    try:
        os.killpg(process.pid, signal.SIGINT)
        process.communicate(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
    except ProcessLookupError:
        process.wait()


def format_diagnostics(report: dict) -> str:
    lines = []
    for diag in report.get("diagnostics", []):
        rng = diag.get("range") or {}
        where = f"{rng.get('filename', '?')}:{(rng.get('start') or {}).get('line', '?')}" if rng else "?"
        lines.append(f"  {where}: {diag.get('severity')}: {diag.get('summary')}: {diag.get('detail', '')}".rstrip(": "))
    return "\n".join(lines)


def cli_config(directory: Path, cache_dir: Path | None) -> Path:
    """A terraform CLI config of our own (the machine's TF_CLI_CONFIG_FILE may point nowhere)."""
    path = directory / "terraformrc"
    text = ""
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
        text = f'plugin_cache_dir = "{cache_dir}"\n'
    path.write_text(text)
    return path


def make_tempdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))

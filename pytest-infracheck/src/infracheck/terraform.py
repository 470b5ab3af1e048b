"""Run terraform on a working copy of a stack: init, validate, plan (parsed JSON), apply, output, destroy."""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from ._proc import die_with_parent
from .hcl import load_stack
from .plan import Plan, drift

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
    """terraform in one directory. Every command raises TerraformError when it fails.

    Output of init/plan/apply/destroy is streamed line by line to the `infracheck.terraform` logger
    (shown with `pytest -s` or `--log-cli-level=INFO`) and appended to `log_path` when set; the
    text of the last command is `last_output`. Paths in error messages name `source_dir` (your
    tree), not the working copy.
    """

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
        log_path: str | Path | None = None,
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
        self.reused = False  # a working copy kept by --infracheck-keep-applied, with state from an earlier run
        self.history: list[str] = []
        self.log_path = Path(log_path) if log_path else None
        self.last_output = ""
        self._copy_root, self._source_root = _roots(self.workdir, self.source_dir)

    # ---- plumbing ------------------------------------------------------------------------
    def run(self, *args: str, check: bool = True, stream: bool | None = None) -> subprocess.CompletedProcess:
        """Run `terraform ARGS` in the working copy. With `stream` (the default for commands that are
        not `-json`), stdout and stderr are merged and logged line by line as they come; the result's
        `stdout` and `stderr` then both hold that merged output, so checks on either keep working."""
        __tracebackhide__ = True
        command = [self.binary, *args]
        self.history.append(" ".join(args[:1]))
        if stream is None:
            stream = "-json" not in args and args[:1] != ("output",)
        self._log(f"$ {' '.join(command)}  (in {self.workdir})")
        # Own process group, so a timeout kills terraform and its provider plugins together.
        process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if stream else subprocess.PIPE,
            text=True,
            errors="replace",
            preexec_fn=die_with_parent(signal.SIGINT),
        )
        try:
            if stream:
                stdout = self._stream(process)
                stderr = stdout  # merged: terraform's errors are in it, wherever it wrote them
            else:
                stdout, stderr = process.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _interrupt(process, self.interrupt_grace)
            raise TerraformError(
                f"terraform {' '.join(args)} timed out after {self.timeout}s in {self.source_dir}"
                + self._log_hint()
            ) from None
        except BaseException:  # KeyboardInterrupt: leave no terraform behind
            _interrupt(process, self.interrupt_grace)
            raise
        result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        self.last_output = stdout if stream else stdout + stderr
        if not stream and stderr.strip():
            self._log(stderr.rstrip())
        if check and result.returncode != 0:
            raise TerraformError(
                f"terraform {' '.join(args)} failed in {self.source_dir} (exit {result.returncode}):\n"
                + self.map_paths(errors_of(stdout if stream else stdout + "\n" + stderr))
                + self._log_hint()
            )
        return result

    def _stream(self, process: subprocess.Popen) -> str:
        """Read merged output line by line; on timeout interrupt terraform (as Ctrl-C does, so it
        writes the state of what it created), then kill its group after the grace period."""
        lines: list[str] = []
        timed_out = threading.Event()

        def signal_group(sig: int) -> None:
            if process.poll() is None or sig == signal.SIGKILL:
                timed_out.set()
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    pass

        timers = [
            threading.Timer(self.timeout, signal_group, (signal.SIGINT,)),
            threading.Timer(self.timeout + self.interrupt_grace, signal_group, (signal.SIGKILL,)),
        ]
        for timer in timers:
            timer.daemon = True
            timer.start()
        try:
            for line in process.stdout:
                lines.append(line)
                self._log(self.map_paths(line.rstrip("\n")))
            process.wait()
        finally:
            for timer in timers:
                timer.cancel()
        if timed_out.is_set():
            raise subprocess.TimeoutExpired(process.args, self.timeout)
        return "".join(lines)

    def _log(self, line: str) -> None:
        _logger.info("%s", line)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    def _log_hint(self) -> str:
        return f"\nfull terraform output: {self.log_path}" if self.log_path else ""

    def map_paths(self, text: str) -> str:
        """Replace paths in the working copy by the same paths in your tree, and terraform's relative
        `on main.tf line 12` by the file's full path in your tree."""
        if self._copy_root is not None:
            text = text.replace(str(self._copy_root), str(self._source_root))

        def absolute(match: re.Match) -> str:
            path = match.group(2)
            if os.path.isabs(path):
                return match.group(0)
            return f"{match.group(1)}{os.path.normpath(self.source_dir / path)}{match.group(3)}"

        return _RELATIVE_ON.sub(absolute, text)

    def _var_args(self) -> list[str]:
        if not self.variables:
            return []
        path = self.workdir / "infracheck.auto.tfvars.json"
        path.write_text(json.dumps(self.variables, indent=1))
        return []  # *.auto.tfvars.json is read by plan/apply/destroy without flags

    # ---- commands ------------------------------------------------------------------------
    def init(self) -> Terraform:
        __tracebackhide__ = True
        args = ["init", "-backend=false", "-input=false", "-no-color"]
        if self.plugin_dir:
            args.append(f"-plugin-dir={self.plugin_dir}")
        # terraform's plugin cache is not safe for concurrent inits (parallel workers): take turns.
        cache = self.env.get("TF_PLUGIN_CACHE_DIR") or _cache_dir_of(self.env.get("TF_CLI_CONFIG_FILE"))
        if cache and not self.plugin_dir:
            Path(cache).mkdir(parents=True, exist_ok=True)
            with open(Path(cache) / ".infracheck-init.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                self.run(*args)
        else:
            self.run(*args)
        return self

    def validate(self) -> dict:
        """`terraform validate -json` as a dict; raises with every diagnostic (file:line) when invalid."""
        __tracebackhide__ = True
        result = self.run("validate", "-json", "-no-color", check=False)
        try:
            report = json.loads(result.stdout)
        except json.JSONDecodeError:
            raise TerraformError(
                f"terraform validate gave no JSON in {self.source_dir} (was init run?):\n{result.stderr.strip()}"
            ) from None
        if not report.get("valid"):
            raise TerraformError(
                f"terraform validate failed in {self.source_dir}:\n" + format_diagnostics(report, self.source_dir)
            )
        return report

    def fmt_check(self) -> None:
        __tracebackhide__ = True
        result = self.run("fmt", "-check", "-recursive", "-list=true", "-no-color", check=False)
        if result.returncode != 0:
            raise TerraformError(
                f"terraform fmt -check found unformatted files in {self.source_dir}:\n"
                + self.map_paths(result.stdout + result.stderr)
            )

    def plan(self, destroy: bool = False) -> Plan:
        """Plan and return the parsed `terraform show -json` of it, wrapped in a Plan."""
        __tracebackhide__ = True
        self._var_args()
        args = ["plan", "-input=false", "-no-color", "-lock=false", "-out=infracheck.tfplan"]
        if destroy:
            args.append("-destroy")
        self.run(*args)
        shown = self.run("show", "-json", "-no-color", "infracheck.tfplan")
        return Plan(json.loads(shown.stdout), self.workdir, self.source_dir)

    def apply(self) -> Terraform:
        """Apply (auto-approved); terraform's output is in `last_output`, the log and `log_path`."""
        __tracebackhide__ = True
        self._var_args()
        self.applied = True  # set first: a half-done apply leaves state that destroy must remove
        self.run("apply", "-input=false", "-no-color", "-auto-approve", "-lock=false")
        return self

    def init_and_plan(self) -> Plan:
        """`init` then `plan` (Terratest's InitAndPlan); returns the Plan."""
        __tracebackhide__ = True
        return self.init().plan()

    def init_and_apply(self) -> Terraform:
        """`init` then `apply` (Terratest's InitAndApply); returns self, so `.output(...)` follows."""
        __tracebackhide__ = True
        return self.init().apply()

    def outputs(self) -> dict[str, Any]:
        __tracebackhide__ = True
        shown = self.run("output", "-json", "-no-color")
        return {name: value.get("value") for name, value in json.loads(shown.stdout).items()}

    def output(self, name: str) -> Any:
        __tracebackhide__ = True
        values = self.outputs()
        if name not in values:
            raise TerraformError(f"output {name!r} not found in {self.source_dir}; outputs: {sorted(values)}")
        return values[name]

    def state_list(self) -> list[str]:
        result = self.run("state", "list", "-no-color", check=False, stream=False)
        return result.stdout.split() if result.returncode == 0 else []

    def destroy(self) -> None:
        __tracebackhide__ = True
        self._var_args()
        self.run("destroy", "-input=false", "-no-color", "-auto-approve", "-lock=false")
        self.applied = False


def assert_idempotent(tf: Terraform) -> Plan:
    """Plan again after apply and fail when anything would change (Terratest's ApplyAndIdempotent).

    Values are compared semantically: JSON documents held in strings (IAM policies, SQS redrive
    policies) compare parsed, so an emulator's spacing or key order is not reported; the message names
    each attribute that really drifts. Returns the second plan.
    """
    __tracebackhide__ = True
    plan = tf.plan()
    changes = drift(plan)
    if changes:
        lines = [f"  {address}:" + "".join(f"\n    {line}" for line in what) for address, what in changes.items()]
        raise AssertionError(
            f"{tf.source_dir} is not idempotent: a second plan would change\n" + "\n".join(lines)
        )
    return plan


_RELATIVE_ON = re.compile(r"(\bon )(\S+\.tf(?:\.json)?)( line \d+)")
_logger = logging.getLogger("infracheck.terraform")


def _roots(workdir: Path, source_dir: Path) -> tuple[Path | None, Path | None]:
    """The working copy's root and the directory of your tree it mirrors (see working_copy)."""
    if workdir == source_dir:
        return None, None
    copy, source = workdir, source_dir
    while copy.name == source.name and copy.parent != copy and source.parent != source:
        copy, source = copy.parent, source.parent
    return copy, source


def _cache_dir_of(config: str | None) -> str | None:
    if not config or not os.path.isfile(config):
        return None
    match = re.search(r'^\s*plugin_cache_dir\s*=\s*"([^"]+)"', Path(config).read_text(), re.M)
    return match.group(1) if match else None


def errors_of(output: str, limit: int = 40) -> str:
    """What failed, from terraform's output: the `Error:` sections (with resource, file and line), not
    the plan that precedes them; the last `limit` lines when there is none. The full output is in the log."""
    lines = [line.removeprefix("│ ").removeprefix("│").rstrip() for line in output.splitlines()]
    lines = [line for line in lines if not line.startswith(("╷", "╵"))]
    starts = [i for i, line in enumerate(lines) if line.startswith("Error:")]
    if starts:
        kept, inside = [], False
        for line in lines[starts[0] :]:
            if line.startswith("Error:"):
                inside = True
            elif line.startswith("Warning:"):
                inside = False
            if inside:
                kept.append(line)
        kept = kept if len(kept) <= 3 * limit else kept[: 3 * limit] + ["..."]
        return "\n".join(kept).strip()
    tail = [line for line in lines if line.strip()]
    return "\n".join(tail[-limit:])


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


def format_diagnostics(report: dict, source_dir: Path | None = None) -> str:
    """`file:line: severity: summary: detail` per diagnostic; relative files are read from `source_dir`."""
    lines = []
    for diag in report.get("diagnostics", []):
        rng = diag.get("range") or {}
        filename = rng.get("filename", "?")
        if source_dir is not None and filename != "?" and not os.path.isabs(filename):
            filename = os.path.normpath(Path(source_dir) / filename)
        where = f"{filename}:{(rng.get('start') or {}).get('line', '?')}" if rng else "?"
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

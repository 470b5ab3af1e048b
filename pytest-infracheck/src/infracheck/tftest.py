"""`terraform test` files (`*.tftest.hcl`) as pytest items, one per `run` block, against the session's emulator.

A file is run once, when its first item runs: `terraform init` and `terraform test -json -filter=FILE`
in a working copy of the stack (the directory holding the file, or its parent when the file is in
`tests/`), with the provider pointed at the emulator. Each item then reports its run block's status
and diagnostics. terraform test destroys what its runs applied.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from .hcl import HclError, load_stack, parse_file


def _stack_of(path: Path) -> Path | None:
    for directory in (path.parent, path.parent.parent):
        if any(directory.glob("*.tf")):
            return directory
    return None


def collect_tftest(path: Path, parent) -> TfTestFile | None:
    if _stack_of(path) is None:
        return None
    return TfTestFile.from_parent(parent, path=path)


class TfTestError(AssertionError):
    pass


class TfTestFile(pytest.File):
    """A `.tftest.hcl` file: its `run` blocks are the items."""

    results: dict | None = None

    def collect(self):
        try:
            parsed = parse_file(self.path)
        except HclError as exc:
            raise self.CollectError(str(exc)) from None
        for group in parsed.get("run", []):
            for name in group:
                yield TfTestRun.from_parent(self, name=name)

    def run_file(self) -> dict:
        """Run the whole file once; {run name: (status, [diagnostic lines])}."""
        if self.results is not None:
            return self.results
        from .plugin import session_emulator, session_terraform_env
        from .terraform import Terraform, working_copy

        config = self.config
        env = session_terraform_env(config)
        server = session_emulator(config)
        stack_dir = _stack_of(self.path).resolve()
        copy_root = Path(tempfile.mkdtemp(prefix="tftest-", dir=env["INFRACHECK_BASE"]))
        try:
            workdir = working_copy(stack_dir, copy_root)
            aliases = [p.body.get("alias") for p in load_stack(workdir).providers if p.name == "aws"]
            server.write_provider_override(workdir, aliases)
            run_env = {"TF_CLI_CONFIG_FILE": env["TF_CLI_CONFIG_FILE"], **server.env()}
            if "TF_PLUGIN_CACHE_DIR" in env:
                run_env["TF_PLUGIN_CACHE_DIR"] = env["TF_PLUGIN_CACHE_DIR"]
            tf = Terraform(
                workdir,
                env=run_env,
                plugin_dir=env.get("INFRACHECK_PLUGIN_DIR"),
                source_dir=stack_dir,
                binary=env.get("INFRACHECK_TF_BINARY", "terraform"),
            )
            tf.init()
            relative = self.path.resolve().relative_to(stack_dir)
            # -test-directory: terraform looks in tests/ by default, the file may also sit beside the stack
            args = ["test", "-json", "-no-color", f"-filter={relative}"]
            if relative.parent != Path("."):
                args.append(f"-test-directory={relative.parent}")
            result = tf.run(*args, check=False, stream=False)
            self.results = _results(result.stdout, tf)
            if not self.results:
                self.results = {"": ("error", [tf.map_paths(result.stderr.strip() or result.stdout.strip()[-3000:])])}
        finally:
            shutil.rmtree(copy_root, ignore_errors=True)
        return self.results


def _results(output: str, tf) -> dict:
    results: dict[str, tuple[str, list[str]]] = {}
    for line in output.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        run = message.get("@testrun")
        if message.get("type") == "test_run" and (message.get("test_run") or {}).get("progress") == "complete":
            status = message["test_run"].get("status", "error")
            results[run] = (status, results.get(run, ("", []))[1])
        elif message.get("type") == "diagnostic" and run:
            diag = message.get("diagnostic", {})
            rng = diag.get("range") or {}
            where = f"{rng.get('filename')}:{(rng.get('start') or {}).get('line')}: " if rng else ""
            text = tf.map_paths(f"{where}{diag.get('severity')}: {diag.get('summary')}: {diag.get('detail', '')}")
            status, lines = results.get(run, ("", []))
            results[run] = (status, lines + [text])
    return results


class TfTestRun(pytest.Item):
    """One `run` block of a `.tftest.hcl` file."""

    def runtest(self):
        results = self.parent.run_file()
        if self.name not in results:
            status, lines = results.get("", ("error", ["terraform test reported nothing for this run"]))
        else:
            status, lines = results[self.name]
        if status == "skip":
            pytest.skip("terraform test skipped this run (an earlier run failed)")
        if status != "pass":
            raise TfTestError(f"run {self.name!r}: {status}\n" + "\n".join(lines))

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, TfTestError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self):
        return self.path, None, f"{self.path.name}::run.{self.name}"

"""`python -m infracheck destroy-kept [DIR]`: destroy what `pytest --infracheck-keep-applied` kept.

Runs `terraform destroy` in every kept working copy (against the kept emulator), stops the emulator
and removes DIR (default: ./.infracheck-kept, and its per-worker subdirectories).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from .emulator import MotoServer
from .terraform import Terraform, TerraformError


def destroy_kept(directory: Path) -> int:
    failures = 0
    records = [directory] + [d for d in directory.iterdir() if d.is_dir() and (d / "emulator.json").exists()]
    for kept in records:
        stacks = kept / "stacks.json"
        if stacks.exists():
            for entry in json.loads(stacks.read_text()):
                workdir = Path(entry["workdir"])
                if not (workdir / "terraform.tfstate").exists():
                    continue
                tf = Terraform(workdir, env=entry["env"], binary=entry["binary"], plugin_dir=entry["plugin_dir"])
                try:
                    tf.destroy()
                    print(f"destroyed {entry['source']} ({workdir})")
                except TerraformError as exc:
                    failures += 1
                    print(f"destroy failed for {entry['source']}:\n{exc}", file=sys.stderr)
        emulator = kept / "emulator.json"
        if emulator.exists():
            known = json.loads(emulator.read_text())
            server = MotoServer(region=known.get("region", "us-east-1"), port=known["port"])
            server.attached_pid = known.get("pid")
            server.stop(force=True)
            print(f"stopped the emulator on port {known['port']}")
    if failures:
        print(f"{failures} destroy(s) failed: {directory} is left in place", file=sys.stderr)
        return 1
    shutil.rmtree(directory, ignore_errors=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infracheck")
    commands = parser.add_subparsers(dest="command", required=True)
    destroy = commands.add_parser("destroy-kept", help="destroy stacks kept by --infracheck-keep-applied")
    destroy.add_argument("directory", nargs="?", default=".infracheck-kept")
    args = parser.parse_args(argv)
    directory = Path(args.directory)
    if not directory.is_dir():
        print(f"nothing kept in {directory}")
        return 0
    return destroy_kept(directory)


if __name__ == "__main__":
    sys.exit(main())

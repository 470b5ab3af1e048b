"""A parsed `terraform show -json` plan, with resources in the same shape as parsed HCL."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .hcl import HclError, Stack, load_stack


@dataclass
class Resource:
    """A resource as the assertion helpers see it, from HCL or from a plan.

    `body` has HCL's shape (nested blocks are lists of dicts). In a plan, values unknown until apply
    are replaced by the references of their configuration expression, e.g. "${aws_security_group.x.id}",
    so that "which group does this rule name" can be answered before apply.
    """

    address: str
    type: str
    body: dict
    file: Path | str
    line: int
    for_each: Any = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


_INDEX = re.compile(r"\[[^\]]*\]")


class Plan:
    """`terraform show -json` output; `raw` is the dict, `resources()` the managed resources to be."""

    def __init__(self, raw: dict, workdir: Path | str, source_dir: Path | str | None = None):
        self.raw = raw
        self.workdir = Path(workdir)
        self.source_dir = Path(source_dir) if source_dir else self.workdir
        self._stacks: dict[str, Stack | None] = {}

    # ---- lookups -------------------------------------------------------------------------
    def changes(self, type: str | None = None, mode: str = "managed") -> list[dict]:
        return [
            rc
            for rc in self.raw.get("resource_changes", [])
            if rc.get("mode") == mode and (type is None or rc.get("type") == type)
        ]

    def actions(self, mode: str | None = "managed") -> dict[str, list[str]]:
        """{address: actions} of managed resources (`mode="data"` for data sources, None for both)."""
        return {
            rc["address"]: rc["change"]["actions"]
            for rc in self.raw.get("resource_changes", [])
            if mode is None or rc.get("mode") == mode
        }

    def addresses(self, type: str | None = None) -> list[str]:
        return [rc["address"] for rc in self.changes(type)]

    def variables(self) -> dict[str, Any]:
        return {k: v.get("value") for k, v in self.raw.get("variables", {}).items()}

    def output_changes(self) -> dict[str, dict]:
        return self.raw.get("output_changes", {})

    def _module_config(self, module_address: str | None) -> dict:
        config = self.raw.get("configuration", {}).get("root_module", {})
        if module_address:
            for name in _INDEX.sub("", module_address).split(".")[1::2]:
                config = config.get("module_calls", {}).get(name, {}).get("module", {})
        return config

    def _stack(self, module_address: str | None) -> Stack | None:
        key = _INDEX.sub("", module_address or "")
        if key not in self._stacks:
            try:
                stack = load_stack(self.source_dir)
                for name in key.split(".")[1::2] if key else []:
                    stack = stack.module(name)
            except HclError:
                stack = None
            self._stacks[key] = stack
        return self._stacks[key]

    def locate(self, module_address: str | None, rtype: str, name: str) -> tuple[Path | str, int]:
        """File and line of a resource's source block (in the original tree when known)."""
        stack = self._stack(module_address)
        if stack is not None:
            block = stack.resources.get(f"{rtype}.{name}")
            if block is not None:
                return block.file, block.line
        return f"{self.source_dir} ({module_address or 'root module'})", 0

    def resources(self, *types: str) -> list[Resource]:
        found = []
        for rc in self.changes():
            if types and rc["type"] not in types:
                continue
            change = rc.get("change", {})
            if change.get("actions") == ["delete"]:
                continue
            config = next(
                (
                    r
                    for r in self._module_config(rc.get("module_address")).get("resources", [])
                    if r.get("type") == rc["type"] and r.get("name") == rc["name"] and r.get("mode") == "managed"
                ),
                {},
            )
            module_address = rc.get("module_address")
            body = _fill_unknown(
                change.get("after") or {},
                change.get("after_unknown") or {},
                config.get("expressions", {}),
                lambda refs, m=module_address: self.trace(m, refs),
            )
            file, line = self.locate(rc.get("module_address"), rc["type"], rc["name"])
            found.append(Resource(rc["address"], rc["type"], body, file, line))
        return found

    def trace(self, module_address: str | None, refs: list[str]) -> list[str]:
        """References plus, for each `var.x` inside a module, what the calling module passes as x
        (followed up to the root), so `module.asg.security_group_id` is seen behind `var.client_sg`."""
        found = list(refs)
        if not module_address:
            return found
        parts = _INDEX.sub("", module_address).split(".")
        parent = ".".join(parts[:-2]) or None
        call = self._module_config(parent).get("module_calls", {}).get(parts[-1], {})
        for ref in refs:
            if ref.startswith("var.") and ref.count(".") == 1:
                passed = call.get("expressions", {}).get(ref[4:], {})
                if isinstance(passed, dict) and passed.get("references"):
                    found += [f"{r}" for r in self.trace(parent, passed["references"]) if r not in found]
        return found


def _refs(expression: Any, trace) -> str | None:
    if isinstance(expression, dict) and expression.get("references"):
        return "${" + " ".join(trace(expression["references"])) + "}"
    return None


def _fill_unknown(after: Any, unknown: Any, expressions: Any, trace=lambda refs: refs) -> Any:
    """Replace values unknown until apply with their configuration references (see Plan.trace)."""
    if unknown is True:
        return _refs(expressions, trace) or "${unknown}"
    if isinstance(after, dict) or isinstance(unknown, dict):
        after = dict(after or {})
        unknown = unknown if isinstance(unknown, dict) else {}
        expressions = expressions if isinstance(expressions, dict) else {}
        for key in set(after) | set(unknown):
            after[key] = _fill_unknown(after.get(key), unknown.get(key), expressions.get(key), trace)
        return after
    if isinstance(after, list) or isinstance(unknown, list):
        after = list(after or [])
        unknown = unknown if isinstance(unknown, list) else []
        refs = _refs(expressions, trace)
        if refs and any(u is True for u in unknown):
            return [
                refs if (i < len(unknown) and unknown[i] is True) else v
                for i, v in enumerate(after + [None] * (len(unknown) - len(after)))
            ]
        nested = expressions if isinstance(expressions, list) else []
        return [
            _fill_unknown(
                after[i] if i < len(after) else None,
                unknown[i] if i < len(unknown) else None,
                nested[i] if i < len(nested) else (nested[0] if nested else None),
                trace,
            )
            for i in range(max(len(after), len(unknown)))
        ]
    return after


def _same(before: Any, after: Any) -> bool:
    """Equal as values: JSON documents held in strings (policies, redrive_policy) compare parsed,
    so an emulator's or provider's spacing and key order is not drift."""
    if before == after:
        return True
    if isinstance(before, str) and isinstance(after, str):
        try:
            return json.loads(before) == json.loads(after)
        except ValueError:
            return False
    if isinstance(before, dict) and isinstance(after, dict):
        return set(before) == set(after) and all(_same(before[k], after[k]) for k in before)
    if isinstance(before, list) and isinstance(after, list):
        return len(before) == len(after) and all(_same(b, a) for b, a in zip(before, after, strict=True))
    # null and empty collections are the same to the provider
    return before in (None, [], {}, "") and after in (None, [], {}, "")


def drift(plan: Plan) -> dict[str, list[str]]:
    """Per resource address, what a plan would change that differs semantically (see `_same`):
    `attr: before -> after` lines, or the action itself for creates, deletes and replacements."""
    found: dict[str, list[str]] = {}
    for rc in plan.raw.get("resource_changes", []):
        if rc.get("mode") != "managed":
            continue
        change = rc.get("change", {})
        actions = change.get("actions", [])
        if actions in (["no-op"], ["read"]):
            continue
        if actions != ["update"]:
            found[rc["address"]] = [f"would {'/'.join(actions)}"]
            continue
        before, after = change.get("before") or {}, change.get("after") or {}
        unknown = change.get("after_unknown") or {}
        lines = []
        for key in sorted(set(before) | set(after)):
            if unknown.get(key) is True:
                lines.append(f"{key}: {before.get(key)!r} -> (known after apply)")
            elif not _same(before.get(key), after.get(key)):
                lines.append(f"{key}: {_short(before.get(key))} -> {_short(after.get(key))}")
        if lines:
            found[rc["address"]] = lines
    return found


def _short(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

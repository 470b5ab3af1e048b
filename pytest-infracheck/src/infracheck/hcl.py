"""Load a Terraform directory with python-hcl2 and resolve its references.

python-hcl2 keeps no line numbers for most values, so a block's line is found by searching the
file text for its header, and a reference's line by searching the text for the reference.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False)

# Arguments of a module block that are Terraform's, not inputs of the called module.
MODULE_META_ARGS = {"source", "version", "count", "for_each", "providers", "depends_on"}

# `var.x`, `local.x`, `module.x(.out)`, `data.t.n`, not preceded by an identifier or a dot
# (so `each.value.var.x` or `foo_var.x` never match).
_PREFIXED_REF = re.compile(r"(?<![\w.])(var|local|module|data)\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?")
# `<type>.<name>` where <type> looks like a resource type (provider prefix + underscore).
_RESOURCE_REF = re.compile(r"(?<![\w.])([a-z][a-z0-9]*)_([a-z0-9_]+)\.([A-Za-z_][\w-]*)")
_FOR_VARS = re.compile(r"\bfor\s+([A-Za-z_]\w*)(?:\s*,\s*([A-Za-z_]\w*))?\s+in\b")
_BUILTIN_ROOTS = {"each", "count", "self", "path", "terraform", "var", "local", "module", "data"}


class HclError(Exception):
    """A Terraform directory could not be read; the message names the file and line."""


@dataclass
class Block:
    """One top-level item of a stack: resource, data source, variable, output, local, module or provider."""

    kind: str  # resource | data | variable | output | local | module | provider
    name: str
    body: Any
    file: Path
    line: int
    type: str | None = None  # resource/data type, provider name for providers

    @property
    def address(self) -> str:
        if self.kind == "resource":
            return f"{self.type}.{self.name}"
        if self.kind == "data":
            return f"data.{self.type}.{self.name}"
        if self.kind == "variable":
            return f"var.{self.name}"
        if self.kind == "local":
            return f"local.{self.name}"
        if self.kind == "module":
            return f"module.{self.name}"
        if self.kind == "output":
            return f"output.{self.name}"
        return f"provider.{self.name}"

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Reference:
    """A reference found in an expression, e.g. `var.name` or `aws_lb.this` (always root.name)."""

    text: str  # what was found, e.g. "module.vpc.vpc_id"
    target: str  # the address it must resolve to, e.g. "module.vpc"
    attribute: str | None  # for module references: the output name
    block: Block  # where it is used
    line: int

    @property
    def where(self) -> str:
        return f"{self.block.file}:{self.line}"


@dataclass
class Problem:
    """A finding of a check; str() gives `file:line: address: message`."""

    file: Path
    line: int
    address: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.address}: {self.message}"


def _walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            # Keys of maps and object types may be interpolated too ("${var.x}" = ...).
            if isinstance(k, str) and "${" in k:
                yield k
            yield from _walk_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_strings(v)


def find_line(text: str, needle: str, start: int = 1) -> int:
    """First line (1-based, at or after `start`) whose text contains `needle`; `start` when not found."""
    for number, line in enumerate(text.splitlines()[start - 1 :], start=start):
        if needle in line:
            return number
    return start


def _find_header(text: str, *labels: str) -> int:
    pattern = (
        r"^[ \t]*"
        + r"[ \t]+".join(
            re.escape(labels[0]) if i == 0 else rf'"?{re.escape(label)}"?' for i, label in enumerate(labels)
        )
        + r"[ \t]*\{"
    )
    match = re.search(pattern, text, re.M)
    return text.count("\n", 0, match.start()) + 1 if match else 1


def _find_local(text: str, name: str) -> int:
    """Line of `name =` inside a `locals {` block."""
    for block in re.finditer(r"^[ \t]*locals[ \t]*\{", text, re.M):
        rest = text[block.end() :]
        match = re.search(rf"^[ \t]*{re.escape(name)}[ \t]*=", rest, re.M)
        if match:
            return text.count("\n", 0, block.end() + match.start()) + 1
    return 1


def parse_file(path: Path) -> dict:
    """Parse one .tf file; a syntax error becomes one HclError: `file:line:column: cannot parse HCL: ...`
    with the offending line, and no chain of parser internals."""
    try:
        with open(path, encoding="utf-8") as handle:
            return hcl2.load(handle, serialization_options=_OPTIONS)
    except Exception as exc:  # lark raises several exception types, all with line/column when known
        message = _syntax_message(path, exc)
    raise HclError(message)


def _syntax_message(path: Path, exc: Exception) -> str:
    line = getattr(exc, "line", None)
    column = getattr(exc, "column", None)
    where = f"{path}:{line}:{column}" if line and line > 0 else str(path)
    token = getattr(exc, "token", None)
    if token is not None:
        shown = "end of file" if token.type == "$END" else repr(str(token).strip() or token.type)
        what = f"unexpected {shown}"
    elif getattr(exc, "char", None):
        what = f"unexpected character {exc.char!r}"
    else:
        what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    expected = sorted(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or [])
    if expected:
        what += f" (expected one of {', '.join(expected[:8])}{', ...' if len(expected) > 8 else ''})"
    source = ""
    if line and line > 0:
        try:
            text = path.read_text(encoding="utf-8").splitlines()[line - 1]
            source = f"\n    {text}\n    {' ' * max((column or 1) - 1, 0)}^"
        except (OSError, IndexError):
            pass
    return f"{where}: cannot parse HCL: {what}{source}"


@dataclass
class Stack:
    """A Terraform directory (one module): its blocks keyed by address, and the files they come from."""

    path: Path
    resources: dict[str, Block] = field(default_factory=dict)
    data: dict[str, Block] = field(default_factory=dict)
    variables: dict[str, Block] = field(default_factory=dict)
    outputs: dict[str, Block] = field(default_factory=dict)
    locals: dict[str, Block] = field(default_factory=dict)
    modules: dict[str, Block] = field(default_factory=dict)
    providers: list[Block] = field(default_factory=list)
    terraform: list[dict] = field(default_factory=list)
    texts: dict[Path, str] = field(default_factory=dict)
    _children: dict[str, Stack] = field(default_factory=dict, repr=False)

    # ---- reading -------------------------------------------------------------------------
    def blocks(self) -> Iterator[Block]:
        for group in (self.resources, self.data, self.variables, self.outputs, self.locals, self.modules):
            yield from group.values()
        yield from self.providers

    def resources_of(self, *types: str) -> list[Block]:
        return [b for b in self.resources.values() if not types or b.type in types]

    def required_variables(self) -> set[str]:
        return {name for name, block in self.variables.items() if "default" not in (block.body or {})}

    def module_dir(self, name: str) -> Path | None:
        """Directory of a module call with a local source (./ or ../), else None (registry, git...)."""
        source = str(self.modules[name].body.get("source", ""))
        if source.startswith(("./", "../")):
            return (self.path / source).resolve()
        return None

    def module(self, name: str) -> Stack:
        """The loaded child stack of a module call with a local source."""
        if name not in self._children:
            directory = self.module_dir(name)
            block = self.modules[name]
            if directory is None:
                raise HclError(f"{block.where}: module.{name}: source is not a local path, cannot load it")
            if not directory.is_dir():
                raise HclError(
                    f"{block.where}: module.{name}: source {block.body.get('source')!r} "
                    f"is not a directory ({directory})"
                )
            self._children[name] = load_stack(directory)
        return self._children[name]

    def local_module_dirs(self) -> set[Path]:
        """This directory and every local module directory it calls, transitively."""
        found = {self.path.resolve()}
        for name in self.modules:
            if self.module_dir(name) is not None:
                found |= self.module(name).local_module_dirs()
        return found

    # ---- references ----------------------------------------------------------------------
    def references(self) -> list[Reference]:
        providers = {b.type.split("_", 1)[0] for b in list(self.resources.values()) + list(self.data.values())}
        providers |= {p.name for p in self.providers} | {"aws"}
        for block in self.terraform:
            for req in block.get("required_providers", []) or []:
                providers |= set(req)
        found: list[Reference] = []
        for block in self.blocks():
            text = self.texts.get(block.file, "")
            body = block.body
            if block.kind == "variable":
                # Only validation conditions may refer (to the variable itself).
                body = (block.body or {}).get("validation", [])
            for expr in _walk_strings(body):
                if "${" not in expr:
                    continue
                loop_vars = {v for m in _FOR_VARS.finditer(expr) for v in m.groups() if v}
                seen: set[str] = set()
                for m in _PREFIXED_REF.finditer(expr):
                    root, name, attr = m.groups()
                    if root == "data":
                        if attr is None:
                            continue
                        target, attribute, text_ref = f"data.{name}.{attr}", None, m.group(0)
                    elif root == "module":
                        target, attribute, text_ref = f"module.{name}", attr, m.group(0)
                    else:
                        target, attribute, text_ref = f"{root}.{name}", None, f"{root}.{name}"
                    if text_ref in seen:
                        continue
                    seen.add(text_ref)
                    found.append(Reference(text_ref, target, attribute, block, find_line(text, text_ref, block.line)))
                for m in _RESOURCE_REF.finditer(expr):
                    prefix, rest, name = m.groups()
                    rtype = f"{prefix}_{rest}"
                    if prefix not in providers or rtype in loop_vars or prefix in _BUILTIN_ROOTS:
                        continue
                    # Skip the tail of data.<type>.<name>, already handled above.
                    if expr[max(0, m.start() - 5) : m.start()] == "data.":
                        continue
                    text_ref = f"{rtype}.{name}"
                    if text_ref in seen:
                        continue
                    seen.add(text_ref)
                    found.append(Reference(text_ref, text_ref, None, block, find_line(text, text_ref, block.line)))
        return found

    def unresolved(self, check_module_outputs: bool = True) -> list[Problem]:
        """References that name nothing declared in this stack (and module outputs the module lacks)."""
        known = {f"var.{n}" for n in self.variables} | {f"local.{n}" for n in self.locals}
        known |= {f"module.{n}" for n in self.modules} | set(self.resources) | set(self.data)
        problems = []
        for ref in self.references():
            if ref.target not in known:
                problems.append(
                    Problem(
                        ref.block.file,
                        ref.line,
                        ref.block.address,
                        f"reference {ref.text} does not resolve (no {ref.target} declared in {self.path})",
                    )
                )
            elif (
                check_module_outputs
                and ref.target.startswith("module.")
                and ref.attribute
                and self.module_dir(ref.target.split(".", 1)[1]) is not None
            ):
                try:
                    child = self.module(ref.target.split(".", 1)[1])
                except HclError as exc:
                    problems.append(Problem(ref.block.file, ref.line, ref.block.address, str(exc)))
                    continue
                if ref.attribute not in child.outputs:
                    problems.append(
                        Problem(
                            ref.block.file,
                            ref.line,
                            ref.block.address,
                            f"reference {ref.text}: module {child.path} has no output {ref.attribute!r}",
                        )
                    )
        return problems

    def module_input_problems(self) -> list[Problem]:
        """For every local module call: required inputs not passed, and arguments the module does not declare."""
        problems = []
        for name, block in self.modules.items():
            if self.module_dir(name) is None:
                continue
            child = self.module(name)
            # python-hcl2 reports a block's comments under "__comments__": they are no arguments
            passed = {key for key in block.body if not key.startswith("__")} - MODULE_META_ARGS
            for missing in sorted(child.required_variables() - passed):
                problems.append(
                    Problem(
                        block.file,
                        block.line,
                        block.address,
                        f"required input {missing!r} of {child.path} is not passed",
                    )
                )
            for unknown in sorted(passed - set(child.variables)):
                problems.append(
                    Problem(
                        block.file,
                        find_line(self.texts[block.file], unknown, block.line),
                        block.address,
                        f"argument {unknown!r} is not a variable of {child.path}",
                    )
                )
        return problems

    def variable_problems(self) -> list[Problem]:
        """Variables without a type or a description."""
        problems = []
        for block in self.variables.values():
            body = block.body or {}
            for key in ("type", "description"):
                if not body.get(key):
                    problems.append(Problem(block.file, block.line, block.address, f"variable has no {key}"))
        return problems

    def check(self) -> None:
        """Raise AssertionError listing unresolved references and bad module calls, if any."""
        problems = self.unresolved() + self.module_input_problems()
        if problems:
            raise AssertionError(format_problems(problems, f"{self.path} has unresolved references"))


def format_problems(problems: list[Problem], title: str) -> str:
    return title + ":\n" + "\n".join(f"  {p}" for p in problems)


def load_stack(path: str | Path) -> Stack:
    """Load every *.tf file of a directory (not its subdirectories) into a Stack."""
    root = Path(path)
    if not root.is_dir():
        raise HclError(f"{root}: not a directory")
    stack = Stack(path=root)
    files = sorted(root.glob("*.tf"))
    if not files:
        raise HclError(f"{root}: no *.tf files")
    for file in files:
        text = file.read_text(encoding="utf-8")
        stack.texts[file] = text
        parsed = parse_file(file)
        for group in parsed.get("resource", []):
            for rtype, named in group.items():
                for name, body in named.items():
                    _add(
                        stack.resources,
                        Block("resource", name, body, file, _find_header(text, "resource", rtype, name), rtype),
                    )
        for group in parsed.get("data", []):
            for dtype, named in group.items():
                for name, body in named.items():
                    _add(stack.data, Block("data", name, body, file, _find_header(text, "data", dtype, name), dtype))
        for group in parsed.get("variable", []):
            for name, body in group.items():
                _add(stack.variables, Block("variable", name, body, file, _find_header(text, "variable", name)))
        for group in parsed.get("output", []):
            for name, body in group.items():
                _add(stack.outputs, Block("output", name, body, file, _find_header(text, "output", name)))
        for group in parsed.get("locals", []):
            for name, value in group.items():
                _add(stack.locals, Block("local", name, value, file, _find_local(text, name)))
        for group in parsed.get("module", []):
            for name, body in group.items():
                _add(stack.modules, Block("module", name, body, file, _find_header(text, "module", name)))
        for group in parsed.get("provider", []):
            for name, body in group.items():
                stack.providers.append(Block("provider", name, body, file, _find_header(text, "provider", name), name))
        stack.terraform.extend(parsed.get("terraform", []))
    return stack


def _add(group: dict[str, Block], block: Block) -> None:
    key = block.name if block.kind in ("variable", "output", "local", "module") else block.address
    if key in group:
        first = group[key]
        raise HclError(f"{block.where}: {block.address} is declared twice (first at {first.where})")
    group[key] = block

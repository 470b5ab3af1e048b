"""Evaluate the HCL expressions python-hcl2 leaves as `${...}` strings, as far as they can be known statically.

Variables (with their defaults or the values a module call passes), locals, literals, conditionals,
`for` expressions, `each.key`/`each.value` and the collection functions stacks use in `for_each`
(`toset`, `tolist`, `concat`, `flatten`, `setproduct`, `keys`, `values`, `merge`, `lookup`, ...) are
evaluated. Anything else (resource attributes, data sources, unknown functions, variables without a
default) becomes an `Unknown` that keeps the expression's text: the checks treat it as a problem
rather than as a safe value, so a check never passes because it could not read something.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Unknown:
    """A value that cannot be known before apply (or that this evaluator cannot compute)."""

    text: str  # the expression, as written ("${var.cidr}"), so messages and substring checks can name it
    reason: str = ""

    def __str__(self) -> str:
        return self.text

    def __contains__(self, item: object) -> bool:  # `"var.x" in unknown` reads its text
        return isinstance(item, str) and item in self.text


def is_unknown(value: Any) -> bool:
    """True when `value` is, or contains, something that cannot be known statically."""
    if isinstance(value, Unknown):
        return True
    if isinstance(value, dict):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_unknown(v) for v in value)
    return False


class EvalError(Exception):
    pass


# ---- tokens ------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<string>")
  | (?P<heredoc><<-?\w+)
  | (?P<ident>[A-Za-z_][\w-]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||=>|\.\.\.|\[\*\]|[-+*/%<>!?:.,()\[\]{}=])
    """,
    re.X,
)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise EvalError(f"unexpected {text[pos:pos + 10]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "string":
            end = _string_end(text, pos)
            out.append(("string", text[pos - 1 : end]))
            pos = end
            continue
        if kind == "heredoc":
            raise EvalError("heredoc")
        if kind != "ws":
            out.append((kind, m.group()))
    out.append(("end", ""))
    return out


def _string_end(text: str, pos: int) -> int:
    """Index after the closing quote of a string starting before `pos`; `${...}` inside may hold quotes."""
    depth = 0
    while pos < len(text):
        c = text[pos]
        if c == "\\":
            pos += 2
            continue
        if depth == 0 and c == '"':
            return pos + 1
        if text.startswith("${", pos):
            depth += 1
            pos += 2
            continue
        if depth and c == "{":
            depth += 1
        elif depth and c == "}":
            depth -= 1
        elif depth and c == '"':
            pos = _string_end(text, pos + 1)
            continue
        pos += 1
    raise EvalError("unclosed string")


# ---- syntax tree: tuples ("kind", ...) -----------------------------------------------------------
class _Parser:
    _BINARY = {
        "||": 1,
        "&&": 2,
        "==": 3,
        "!=": 3,
        "<": 4,
        ">": 4,
        "<=": 4,
        ">=": 4,
        "+": 5,
        "-": 5,
        "*": 6,
        "/": 6,
        "%": 6,
    }

    def __init__(self, text: str):
        self.toks = _tokens(text)
        self.i = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.toks[self.i]
        if value is not None and tok[1] != value:
            raise EvalError(f"expected {value!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def at(self, value: str) -> bool:
        return self.peek()[0] in ("op", "ident") and self.peek()[1] == value

    def parse(self):
        node = self.expr()
        if self.peek()[0] != "end":
            raise EvalError(f"unexpected {self.peek()[1]!r}")
        return node

    def expr(self):
        cond = self.binary(1)
        if self.at("?"):
            self.take()
            yes = self.expr()
            self.take(":")
            no = self.expr()
            return ("cond", cond, yes, no)
        return cond

    def binary(self, level: int):
        left = self.unary()
        while True:
            kind, op = self.peek()
            prec = self._BINARY.get(op) if kind == "op" else None
            if prec is None or prec < level:
                return left
            self.take()
            right = self.binary(prec + 1)
            left = ("bin", op, left, right)

    def unary(self):
        if self.at("!") or self.at("-"):
            op = self.take()[1]
            return ("unary", op, self.unary())
        return self.postfix(self.primary())

    def postfix(self, node):
        while True:
            if self.at("."):
                self.take()
                kind, name = self.take()
                if kind == "number":
                    node = ("index", node, ("lit", int(name)))
                elif kind == "ident":
                    node = ("attr", node, name)
                else:
                    raise EvalError("splat")
            elif self.at("["):
                self.take()
                index = self.expr()
                self.take("]")
                node = ("index", node, index)
            elif self.at("[*]"):
                raise EvalError("splat")
            else:
                return node

    def primary(self):
        kind, value = self.take()
        if kind == "number":
            return ("lit", float(value) if any(c in value for c in ".eE") else int(value))
        if kind == "string":
            return ("template", value[1:-1])
        if kind == "ident":
            if value in ("true", "false"):
                return ("lit", value == "true")
            if value == "null":
                return ("lit", None)
            if self.at("("):
                self.take()
                args = []
                while not self.at(")"):
                    args.append(self.expr())
                    if self.at("..."):
                        self.take()
                        args[-1] = ("expand", args[-1])
                    if not self.at(")"):
                        self.take(",")
                self.take(")")
                return ("call", value, args)
            return ("var", value)
        if value == "(":
            node = self.expr()
            self.take(")")
            return node
        if value == "[":
            if self.at("for"):
                return self.for_expr("]")
            items = []
            while not self.at("]"):
                items.append(self.expr())
                if not self.at("]"):
                    self.take(",")
            self.take("]")
            return ("list", items)
        if value == "{":
            if self.at("for"):
                return self.for_expr("}")
            items = []
            while not self.at("}"):
                if self.peek()[0] == "ident" and self.peek(1)[1] in ("=", ":"):
                    key = ("lit", self.take()[1])
                else:
                    key = self.expr()
                if self.at("=") or self.at(":"):
                    self.take()
                else:
                    raise EvalError("expected = in object")
                items.append((key, self.expr()))
                if self.at(","):
                    self.take()
            self.take("}")
            return ("object", items)
        raise EvalError(f"unexpected {value!r}")

    def for_expr(self, close: str):
        self.take("for")
        names = [self.take()[1]]
        if self.at(","):
            self.take()
            names.append(self.take()[1])
        self.take("in")
        collection = self.expr()
        self.take(":")
        key = None
        value = self.expr()
        if close == "}":
            self.take("=>")
            key, value = value, self.expr()
            if self.at("..."):
                raise EvalError("grouping for")
        cond = None
        if self.at("if"):
            self.take()
            cond = self.expr()
        self.take(close)
        return ("for", close, names, collection, key, value, cond)


# ---- templates: "a-${expr}-b" ------------------------------------------------------------------
def _template_parts(text: str) -> list[tuple[str, str]]:
    """Split a string into ("lit", text) and ("expr", source) parts, honouring nested braces and quotes."""
    parts, pos, buf = [], 0, ""
    while pos < len(text):
        if text.startswith("$${", pos):
            buf += "${"
            pos += 3
        elif text.startswith("%{", pos):
            raise EvalError("template directive")
        elif text.startswith("${", pos):
            depth, j, quote = 1, pos + 2, False
            while j < len(text) and depth:
                c = text[j]
                if quote:
                    if c == "\\":
                        j += 1
                    elif c == '"':
                        quote = False
                elif c == '"':
                    quote = True
                elif c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                j += 1
            if depth:
                raise EvalError("unclosed interpolation")
            if buf:
                parts.append(("lit", buf))
                buf = ""
            parts.append(("expr", text[pos + 2 : j - 1].strip().strip("~").strip()))
            pos = j
        else:
            buf += text[pos]
            pos += 1
    if buf:
        parts.append(("lit", buf))
    return parts


def _unescape(text: str) -> str:
    try:
        return json.loads(f'"{text}"')
    except ValueError:
        return text


def _hcl_str(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ---- functions -----------------------------------------------------------------------------------
def _flatten(value):
    out = []
    for item in value:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def _setproduct(*lists):
    result = [[]]
    for items in lists:
        result = [r + [i] for r in result for i in items]
    return result


def _distinct(value):
    out = []
    for item in value:
        if item not in out:
            out.append(item)
    return out


def _merge(*maps):
    out = {}
    for m in maps:
        if m is not None:
            out.update(m)
    return out


def _lookup(m, key, *default):
    if key in m:
        return m[key]
    if default:
        return default[0]
    raise EvalError(f"lookup: no key {key!r}")


def _coalesce(*values):
    return next((v for v in values if v is not None and v != ""), None)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "toset": lambda v: sorted(_distinct(v), key=_hcl_str) if isinstance(v, list) else v,
    "tolist": list,
    "tomap": dict,
    "tostring": _hcl_str,
    "tonumber": lambda v: float(v) if "." in str(v) else int(v),
    "tobool": lambda v: v if isinstance(v, bool) else str(v) == "true",
    "concat": lambda *ls: [x for items in ls for x in items],
    "flatten": _flatten,
    "distinct": _distinct,
    "compact": lambda v: [x for x in v if x not in (None, "")],
    "setproduct": _setproduct,
    "setunion": lambda *ls: sorted(_distinct([x for items in ls for x in items]), key=_hcl_str),
    "keys": lambda m: sorted(m),
    "values": lambda m: [m[k] for k in sorted(m)],
    "merge": _merge,
    "lookup": _lookup,
    "length": len,
    "coalesce": _coalesce,
    "coalescelist": lambda *ls: next((items for items in ls if items), []),
    "contains": lambda items, v: v in items,
    "element": lambda items, i: items[int(i) % len(items)],
    "zipmap": lambda ks, vs: dict(zip(ks, vs, strict=True)),
    "join": lambda sep, items: sep.join(_hcl_str(i) for i in items),
    "split": lambda sep, s: s.split(sep),
    "lower": lambda s: s.lower(),
    "upper": lambda s: s.upper(),
    "format": lambda fmt, *args: re.sub(r"%[sdv]", "{}", fmt).format(*(_hcl_str(a) for a in args)),
    "jsonencode": lambda v: json.dumps(v, separators=(",", ":")),
    "jsondecode": json.loads,
    "try": None,  # special-cased: the first argument that evaluates
    "can": None,  # special-cased
}


# ---- the evaluator -------------------------------------------------------------------------------
class Evaluator:
    """Evaluates a block's values in the scope of one stack (variables, locals) and one for_each element."""

    def __init__(self, stack, inputs: dict[str, Any] | None = None):
        self.stack = stack
        self.inputs = dict(inputs or {})  # what a module call passes, evaluated in the caller
        self._locals: dict[str, Any] = {}
        self._evaluating: set[str] = set()

    # public ---------------------------------------------------------------------------------------
    def value(self, raw: Any, scope: dict[str, Any] | None = None) -> Any:
        """A parsed HCL value with every `${...}` evaluated; what cannot be known becomes Unknown."""
        scope = scope or {}
        if isinstance(raw, str):
            return self.string(raw, scope)
        if isinstance(raw, dict):
            return {k: self.value(v, scope) for k, v in raw.items()}
        if isinstance(raw, list):
            return [self.value(v, scope) for v in raw]
        return raw

    def string(self, raw: str, scope: dict[str, Any]) -> Any:
        if "${" not in raw:
            return raw
        try:
            parts = _template_parts(raw)
        except EvalError as exc:
            return Unknown(raw, str(exc))
        if len(parts) == 1 and parts[0][0] == "expr":
            return self.expression(parts[0][1], scope, raw)
        pieces = []
        for kind, text in parts:
            if kind == "lit":
                pieces.append(text)
                continue
            value = self.expression(text, scope, raw)
            if isinstance(value, Unknown) or is_unknown(value):
                return Unknown(raw, getattr(value, "reason", "") or "part of the string is unknown")
            pieces.append(_hcl_str(value))
        return "".join(pieces)

    def expression(self, source: str, scope: dict[str, Any], raw: str | None = None) -> Any:
        raw = raw if raw is not None else "${" + source + "}"
        try:
            node = _Parser(source).parse()
        except (EvalError, IndexError) as exc:
            return Unknown(raw, f"cannot parse: {exc}")
        try:
            return self.eval(node, scope, raw)
        except _UnknownValue as exc:
            return Unknown(raw, exc.reason)
        except (EvalError, TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError) as exc:
            return Unknown(raw, f"cannot evaluate: {exc}")

    # internals ------------------------------------------------------------------------------------
    def variable(self, name: str) -> Any:
        if name in self.inputs:
            return self.inputs[name]
        block = self.stack.variables.get(name)
        if block is None:
            raise _UnknownValue(f"var.{name} is not declared")
        body = block.body or {}
        if "default" not in body:
            raise _UnknownValue(f"var.{name} has no default")
        return self.value(body["default"])

    def local(self, name: str) -> Any:
        if name not in self._locals:
            block = self.stack.locals.get(name)
            if block is None:
                raise _UnknownValue(f"local.{name} is not declared")
            if name in self._evaluating:
                raise _UnknownValue(f"local.{name} refers to itself")
            self._evaluating.add(name)
            try:
                self._locals[name] = self.value(block.body)
            finally:
                self._evaluating.discard(name)
        return self._locals[name]

    def eval(self, node, scope: dict[str, Any], raw: str) -> Any:
        value = self._eval(node, scope, raw)
        if isinstance(value, Unknown):
            raise _UnknownValue(value.reason or f"{value.text} is unknown")
        return value

    def _eval(self, node, scope, raw):
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "template":
            parts = _template_parts(node[1])
            out = []
            for part_kind, text in parts:
                if part_kind == "lit":
                    out.append(_unescape(text))
                else:
                    out.append(_hcl_str(self.eval(_Parser(text).parse(), scope, raw)))
            return "".join(out)
        if kind == "var":
            name = node[1]
            if name in scope:
                return scope[name]
            raise _UnknownValue(f"{name} is not known statically")
        if kind == "attr":
            base = node[1]
            if base[0] == "var" and base[1] not in scope:
                root = base[1]
                if root == "var":
                    return self.variable(node[2])
                if root == "local":
                    return self.local(node[2])
                if root == "each":
                    raise _UnknownValue(f"each.{node[2]} is unknown: the for_each collection cannot be evaluated")
                raise _UnknownValue(f"{root}.{node[2]} is known only after apply")
            value = self.eval(base, scope, raw)
            if isinstance(value, dict):
                if node[2] not in value:
                    raise EvalError(f"no attribute {node[2]!r}")
                return value[node[2]]
            raise EvalError(f"cannot read .{node[2]} of {type(value).__name__}")
        if kind == "index":
            base = self.eval(node[1], scope, raw)
            key = self.eval(node[2], scope, raw)
            if isinstance(base, list):
                return base[int(key)]
            return base[key if isinstance(base, dict) else int(key)]
        if kind == "list":
            return [self.eval(item, scope, raw) for item in node[1]]
        if kind == "object":
            return {_hcl_str(self.eval(k, scope, raw)): self.eval(v, scope, raw) for k, v in node[1]}
        if kind == "cond":
            return self.eval(node[2] if self.eval(node[1], scope, raw) else node[3], scope, raw)
        if kind == "unary":
            value = self.eval(node[2], scope, raw)
            return (not value) if node[1] == "!" else -value
        if kind == "bin":
            return self._binary(node[1], node[2], node[3], scope, raw)
        if kind == "call":
            return self._call(node[1], node[2], scope, raw)
        if kind == "for":
            return self._for(node, scope, raw)
        if kind == "expand":
            return self.eval(node[1], scope, raw)
        raise EvalError(f"unsupported {kind}")

    def _binary(self, op, left, right, scope, raw):
        if op == "&&":
            return bool(self.eval(left, scope, raw)) and bool(self.eval(right, scope, raw))
        if op == "||":
            return bool(self.eval(left, scope, raw)) or bool(self.eval(right, scope, raw))
        a, b = self.eval(left, scope, raw), self.eval(right, scope, raw)
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if op in ("+", "-", "*", "/", "%", "<", ">", "<=", ">="):
            a, b = _number(a), _number(b)
            return {
                "+": lambda: a + b,
                "-": lambda: a - b,
                "*": lambda: a * b,
                "/": lambda: a / b,
                "%": lambda: a % b,
                "<": lambda: a < b,
                ">": lambda: a > b,
                "<=": lambda: a <= b,
                ">=": lambda: a >= b,
            }[op]()
        raise EvalError(f"operator {op}")

    def _call(self, name, args, scope, raw):
        if name in ("try", "can"):
            for arg in args:
                try:
                    value = self.eval(arg, scope, raw)
                except (EvalError, TypeError, ValueError, KeyError, IndexError, AttributeError):
                    if name == "can":
                        return False
                    continue
                return True if name == "can" else value
            if name == "can":
                return False
            raise EvalError("try: no argument evaluates")
        function = FUNCTIONS.get(name)
        if function is None:
            raise _UnknownValue(f"function {name}() is not evaluated statically")
        values = []
        for arg in args:
            if arg[0] == "expand":
                values.extend(self.eval(arg[1], scope, raw))
            else:
                values.append(self.eval(arg, scope, raw))
        return function(*values)

    def _for(self, node, scope, raw):
        _, close, names, collection, key_expr, value_expr, cond = node
        items = self.eval(collection, scope, raw)
        pairs = items.items() if isinstance(items, dict) else enumerate(items)
        out_list, out_map = [], {}
        for k, v in pairs:
            inner = dict(scope)
            if len(names) == 2:
                inner[names[0]], inner[names[1]] = k, v
            else:
                inner[names[0]] = v
            if cond is not None and not self.eval(cond, inner, raw):
                continue
            if close == "]":
                out_list.append(self.eval(value_expr, inner, raw))
            else:
                out_map[_hcl_str(self.eval(key_expr, inner, raw))] = self.eval(value_expr, inner, raw)
        return out_list if close == "]" else out_map


class _UnknownValue(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise EvalError("number expected")
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    return float(text) if "." in text else int(text)


def for_each_instances(evaluator: Evaluator, for_each: Any) -> list[tuple[Any, Any]] | Unknown:
    """(each.key, each.value) pairs of a for_each expression, or Unknown."""
    value = evaluator.value(for_each)
    if isinstance(value, Unknown):
        return value
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        if is_unknown(value):
            return Unknown(str(for_each), "an element of the for_each collection is unknown")
        return [(v, v) for v in value]
    return Unknown(str(for_each), "for_each is neither a map nor a set")

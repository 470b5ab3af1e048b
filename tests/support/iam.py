"""Just enough IAM policy evaluation to prove least privilege in the infra checks: explicit Deny wins,
then an Allow is needed; Action/NotAction and Resource/NotResource with * and ? wildcards. Without a
request context, conditions are ignored, which errs towards "allowed" for Allow statements and
"denied" for Deny ones: a statement with a condition counts as applying. With one (condition key =>
value), the String operators are evaluated; a statement with any other operator still counts as applying."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase


def statements(*policies: str | dict) -> list[dict]:
    """The statements of policy documents given as JSON text or parsed dicts."""
    found = []
    for policy in policies:
        doc = json.loads(policy) if isinstance(policy, str) else policy
        body = doc.get("Statement", [])
        found += body if isinstance(body, list) else [body]
    return found


def _as_list(value) -> list[str]:
    return value if isinstance(value, list) else [value]


def _matches(patterns, value: str, case_sensitive: bool = True) -> bool:
    if case_sensitive:
        return any(fnmatchcase(value, p) for p in _as_list(patterns))
    return any(fnmatchcase(value.lower(), p.lower()) for p in _as_list(patterns))


def _applies(statement: dict, action: str, resource: str) -> bool:
    if "Action" in statement:
        action_ok = _matches(statement["Action"], action, case_sensitive=False)
    else:
        action_ok = not _matches(statement.get("NotAction", []), action, case_sensitive=False)
    if "Resource" in statement:
        resource_ok = _matches(statement["Resource"], resource)
    else:
        resource_ok = not _matches(statement.get("NotResource", []), resource)
    return action_ok and resource_ok


_STRING_OPERATORS = {
    "StringEquals": (False, lambda value, pattern: value == pattern),
    "StringNotEquals": (True, lambda value, pattern: value == pattern),
    "StringEqualsIgnoreCase": (False, lambda value, pattern: value.lower() == pattern.lower()),
    "StringNotEqualsIgnoreCase": (True, lambda value, pattern: value.lower() == pattern.lower()),
    "StringLike": (False, fnmatchcase),
    "StringNotLike": (True, fnmatchcase),
}


def _condition_holds(statement: dict, context: dict[str, str]) -> bool:
    """All of the statement's conditions hold for the request context (keys compared case-insensitively,
    as IAM does). A negated operator holds when the key is absent, a positive one does not."""
    values = {key.lower(): value for key, value in context.items()}
    for operator, tests in statement.get("Condition", {}).items():
        if operator not in _STRING_OPERATORS:
            continue
        negated, match = _STRING_OPERATORS[operator]
        for key, patterns in tests.items():
            value = values.get(key.lower())
            if value is None:
                holds = negated
            else:
                matched = any(match(value, p) for p in _as_list(patterns))
                holds = not matched if negated else matched
            if not holds:
                return False
    return True


def allowed(policy_statements: list[dict], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    """Whether the statements let `action` on `resource` through (identity policies only); `context`
    holds the request's condition keys (e.g. {"cloudwatch:namespace": "OCRService"})."""
    applying = [s for s in policy_statements if _applies(s, action, resource)]
    if context is not None:
        applying = [s for s in applying if _condition_holds(s, context)]
    if any(s.get("Effect") == "Deny" for s in applying):
        return False
    return any(s.get("Effect", "Allow") == "Allow" for s in applying)

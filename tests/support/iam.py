"""Just enough IAM policy evaluation to prove least privilege in the infra checks: explicit Deny wins,
then an Allow is needed; Action/NotAction and Resource/NotResource with * and ? wildcards. Conditions
are ignored, which errs towards "allowed" for Allow statements and "denied" for Deny ones: a statement
with a condition counts as applying."""

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


def allowed(policy_statements: list[dict], action: str, resource: str) -> bool:
    """Whether the statements let `action` on `resource` through (identity policies only)."""
    applying = [s for s in policy_statements if _applies(s, action, resource)]
    if any(s.get("Effect") == "Deny" for s in applying):
        return False
    return any(s.get("Effect", "Allow") == "Allow" for s in applying)

"""The one authorisation function and the table of actions × roles it reads.

Every state-changing service function calls `authorize("<action>", by, department=<owner of the
target>)` before it changes anything (CKAN's model: an action and an auth rule of the same name). The
department is always derived from the target (the system's owner, the dataset's owner, ...), never
taken from a request. The table is the single source of truth: `docs/governance.md` is generated from
it, and a test fails when a route or form reaches an action that is not in it.

Other packages (stream, operate, ...) add their actions to `RULES` here, so the whole table stays in
one module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from urbanbrain.core.errors import PermissionDeniedError
from urbanbrain.govern.principals import (
    ANALYST,
    DEPT_ADMIN,
    DEVELOPER,
    OPERATOR,
    PLATFORM_ADMIN,
    STEWARD,
    Principal,
)

Scope = Literal["department", "platform", "any_user"]


@dataclass(frozen=True)
class Rule:
    """`roles` may do the action in the target's department (`scope="department"`), or anywhere
    (`"platform"`: only platform admins, whatever `roles` says), or any signed-in user may
    (`"any_user"`, e.g. changing one's own password). Platform admins may always act."""

    roles: tuple[str, ...]
    scope: Scope = "department"
    doc: str = ""


# action -> rule. Keep sorted by action name; docs/governance.md is generated from this table.
RULES: dict[str, Rule] = {
    "capability.approve": Rule((STEWARD, DEPT_ADMIN), doc="publish (approve) a department's capability"),
    "classification.set": Rule((STEWARD, DEPT_ADMIN), doc="set a field's sharing level, PII type or mask"),
    "department.create": Rule((), "platform", "register a department"),
    "grant.approve": Rule((STEWARD, DEPT_ADMIN), doc="approve or refuse a grant to call a capability"),
    "sharing.approve": Rule((STEWARD, DEPT_ADMIN), doc="approve or refuse a request for a dataset's fields"),
    "sharing.request": Rule((ANALYST, STEWARD, DEPT_ADMIN, DEVELOPER, OPERATOR),
                            doc="ask another department for fields, for one's own department"),
    "system.sync": Rule((DEPT_ADMIN, STEWARD, OPERATOR), doc="start a sync of a department's system now"),
}


def authorize(action: str, by: Principal, department: str | None = None) -> None:
    """Raise `PermissionDeniedError` unless `by` may do `action` on a target owned by `department`.

    An action missing from `RULES` is refused for everyone but platform admins, so a forgotten rule
    fails closed.
    """
    rule = RULES.get(action)
    if by.is_platform_admin:
        return
    if rule is None:
        raise PermissionDeniedError(f"'{action}' has no authorisation rule; only platform admins may do it",
                                    hint="add the action to urbanbrain.govern.authz.RULES")
    if rule.scope == "any_user" and by.kind == "user":
        return
    if rule.scope == "department" and department is not None and by.has_role_in(department, *rule.roles):
        return
    who = " or ".join(rule.roles) if rule.scope == "department" and rule.roles else "a platform admin"
    where = f" of department '{department}'" if rule.scope == "department" and department else ""
    raise PermissionDeniedError(f"{by.label} may not {action}: it needs {who}{where}",
                                hint="ask a platform admin or the owning department's admin for that role")


def allowed(action: str, by: Principal, department: str | None = None) -> bool:
    """Whether `authorize` would pass: the console shows a button only when this is true."""
    try:
        authorize(action, by, department)
    except PermissionDeniedError:
        return False
    return True


__all__ = ["ANALYST", "DEPT_ADMIN", "DEVELOPER", "OPERATOR", "PLATFORM_ADMIN", "RULES", "STEWARD", "Rule",
           "allowed", "authorize"]

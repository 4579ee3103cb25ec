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
    # operate: a case's department is its owner once dispatched; before that (and for dispatching,
    # merging, closing) it is the operations centre's (urbanbrain.operate.roles.ops_department())
    "case.accept": Rule((OPERATOR, DEPT_ADMIN), doc="a department's handler or head accepts a dispatched case"),
    "case.close": Rule((OPERATOR, DEPT_ADMIN), doc="the operations centre closes a resolved case"),
    "case.create": Rule((OPERATOR, DEPT_ADMIN), doc="the operations centre records a report as a case"),
    "case.dispatch": Rule((OPERATOR, DEPT_ADMIN), doc="a dispatcher sends a case to a department"),
    "case.feedback": Rule((OPERATOR, DEPT_ADMIN), doc="the department reports back: resolved, notes, photos"),
    "case.handle": Rule((OPERATOR, DEPT_ADMIN), doc="the department records progress on an accepted case"),
    "case.merge": Rule((OPERATOR, DEPT_ADMIN), doc="a dispatcher merges a duplicate into an earlier case"),
    "case.publish": Rule((DEPT_ADMIN,), doc="the operations centre's head syncs the case tables into the lake"),
    "case.rate": Rule((OPERATOR, DEPT_ADMIN), doc="the operations centre records the resident's satisfaction"),
    "case.read": Rule((OPERATOR, DEPT_ADMIN, ANALYST, STEWARD), doc="see a department's cases"),
    "case.reopen": Rule((OPERATOR, DEPT_ADMIN), doc="the operations centre reopens a case"),
    "case.return": Rule((OPERATOR, DEPT_ADMIN), doc="a department sends a case back to the dispatcher"),
    "department.create": Rule((), "platform", "register a department"),
    "dispatch_rule.set": Rule((DEPT_ADMIN,), doc="the operations centre's head edits the dispatch catalogue"),
    "sla.set": Rule((DEPT_ADMIN,), doc="the operations centre's head sets SLA policies and the calendar"),
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

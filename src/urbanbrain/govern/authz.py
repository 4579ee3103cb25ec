"""The one authorisation function and the table of actions × roles it reads.

Every state-changing service function calls `authorize("<action>", by, department=<owner of the
target>)` before it changes anything (CKAN's model: an action and an auth rule of the same name). The
department is always derived from the target (the system's owner, the dataset's owner, ...), never
taken from a request: a department named in a request is at most checked against the caller's roles.
The table is the single source of truth: `docs/governance.md` is generated from it
(`urbanbrain authz table --write`), and tests fail when the document drifts or when a route or console
form reaches an action that is not in it.

Other packages (stream, operate, ...) add their actions to `RULES` here, so the whole table stays in
one module.

Service functions take `by: Principal | None = None`; None means whoever is acting in this context
(`acting(by)`): the web middleware sets the request's principal, the CLI the shell operator (SYSTEM,
narrowed by `--as`), and internal work (demo, scheduler) runs as SYSTEM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from urbanbrain.core.errors import PermissionDeniedError
from urbanbrain.govern.principals import (
    ANALYST,
    DEPT_ADMIN,
    DEVELOPER,
    OPERATOR,
    PLATFORM_ADMIN,
    ROLES,
    STEWARD,
    Principal,
)

Scope = Literal["department", "any_department", "platform", "any_user"]

DEPARTMENT_ROLES = (DEPT_ADMIN, STEWARD, ANALYST, OPERATOR, DEVELOPER)


@dataclass(frozen=True)
class Rule:
    """`roles` may do the action in the target's department (`scope="department"`), or holding one of
    `roles` in any department (`"any_department"`, e.g. reading the audit log), or only platform admins
    may (`"platform"`, whatever `roles` says), or any signed-in user may (`"any_user"`, e.g. changing
    one's own token). Platform admins may always act."""

    roles: tuple[str, ...]
    scope: Scope = "department"
    doc: str = ""


_ADMIN = (DEPT_ADMIN,)
_STEWARDS = (DEPT_ADMIN, STEWARD)
_OPERATORS = (DEPT_ADMIN, OPERATOR)
_DEVELOPERS = (DEPT_ADMIN, DEVELOPER)
_AUTHORS = (DEPT_ADMIN, STEWARD, DEVELOPER)

# action -> rule. Keep sorted by action name (one line each, so additions merge cleanly);
# docs/governance.md is generated from this table.
RULES: dict[str, Rule] = {
    "alert.acknowledge": Rule((DEPT_ADMIN, OPERATOR, STEWARD),
                              doc="acknowledge a live alert of the department's feeds"),
    "alert.clear": Rule((DEPT_ADMIN, OPERATOR, STEWARD),
                        doc="clear a live alert by hand (it is raised again if its condition still holds)"),
    "audit.export": Rule(_STEWARDS, "any_department", "export the audit log as CSV (the export is itself audited)"),
    "audit.read": Rule(_STEWARDS, "any_department", "search the audit log"),
    "capability.approve": Rule(_STEWARDS, doc="publish a draft capability of the department"),
    "capability.deprecate": Rule(_STEWARDS, doc="deprecate a capability of the department"),
    "capability.publish_builtins": Rule((), "platform", "publish the shipped built-in capabilities"),
    "capability.publish_suggestion": Rule(_STEWARDS, doc="publish a suggested data API over the department's dataset"),
    "capability.register": Rule(_AUTHORS, doc="register a draft capability or lookup API of the department"),
    "capability.suggest": Rule(_STEWARDS, doc="see the data APIs proposed for the department's dataset"),
    "capability_grant.approve": Rule(_STEWARDS, doc="approve a grant to call a capability of the department"),
    "capability_grant.refuse": Rule(_STEWARDS, doc="refuse a grant to call a capability of the department"),
    "capability_grant.request": Rule(_DEVELOPERS, doc="ask for a grant for one of the department's consumers"),
    "capability_grant.revoke": Rule(_STEWARDS, doc="revoke a grant to call a capability of the department"),
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
    "classification.default": Rule(_STEWARDS, doc="set a dataset's default sharing level"),
    "classification.field": Rule(_STEWARDS, doc="classify a field (level, PII type, mask)"),
    "classification.label": Rule(_STEWARDS, doc="name and describe a dataset or field (both languages)"),
    "classification.row_filter": Rule(_STEWARDS, doc="set the row filter another department sees"),
    "cli.act_as": Rule((), "platform", "run a CLI command as another principal (`--as`)"),
    "consumer.add": Rule(_DEVELOPERS, doc="register an application of the department"),
    "dataset.drop": Rule(_ADMIN, doc="drop a dataset of the department from the lake"),
    "department.create": Rule((), "platform", "register a department"),
    "dispatch_rule.set": Rule((DEPT_ADMIN,), doc="the operations centre's head edits the dispatch catalogue"),
    "feed.create": Rule((DEPT_ADMIN, STEWARD), doc="register a live sensor feed (MQTT, NATS, HTTP push)"),
    "feed.delete": Rule((DEPT_ADMIN,), doc="remove a live feed (and, with purge, its history)"),
    "feed.status": Rule((DEPT_ADMIN, STEWARD, OPERATOR, ANALYST, DEVELOPER),
                        doc="see a feed's counters, silent devices and dead letters"),
    "indicator.compute": Rule((DEPT_ADMIN, STEWARD, ANALYST, OPERATOR),
                              doc="compute the department's indicators now (as the department's view of the data)"),
    "indicator.define": Rule(_STEWARDS, doc="define or redefine an indicator over the department's data"),
    "indicator.delete": Rule(_STEWARDS, doc="remove an indicator of the department and its history"),
    "indicator.publish": Rule((DEPT_ADMIN,), doc="the operations centre's head syncs the indicator time series "
                                                 "into the lake"),
    "ioc.configure": Rule((DEPT_ADMIN, OPERATOR), doc="the operations centre edits which tiles and layers a "
                                                      "screen of /ioc shows"),
    "key.create": Rule(_DEVELOPERS, doc="create an API key for a consumer of the department"),
    "key.revoke": Rule(_DEVELOPERS, doc="revoke an API key of a consumer of the department"),
    "lake.maintain": Rule(_ADMIN, doc="compact a table of the department, expire its snapshots, remove orphans"),
    "lake.partition": Rule(_STEWARDS, doc="choose the partition spec of a table of the department"),
    "lake.stats": Rule(_ADMIN, doc="see files, sizes, snapshots and partitions of the department's tables"),
    "link.decide": Rule(_STEWARDS, doc="decide a One ID review pair (department: registry)"),
    "link.golden_rule": Rule(_STEWARDS, doc="set a golden-record rule (department: registry)"),
    "link.kind": Rule(_STEWARDS, doc="define, change or remove an entity kind (department: registry)"),
    "link.mapping": Rule(_STEWARDS, doc="add or remove a dataset mapping (department: registry)"),
    "link.run": Rule((DEPT_ADMIN, STEWARD, OPERATOR), doc="run or train entity resolution (department: registry)"),
    "metrics.read": Rule((), "platform", "scrape /metrics from another machine (this machine needs no token)"),
    "rule.create": Rule((DEPT_ADMIN, STEWARD, OPERATOR), doc="add an alert rule over a feed"),
    "rule.delete": Rule((DEPT_ADMIN, STEWARD, OPERATOR), doc="remove an alert rule"),
    "share.approve": Rule(_STEWARDS, doc="approve a field-sharing request on the department's dataset"),
    "share.refuse": Rule(_STEWARDS, doc="refuse a field-sharing request on the department's dataset"),
    "share.request": Rule(DEPARTMENT_ROLES, doc="ask another department for fields, for one's own department"),
    "share.revoke": Rule(_STEWARDS, doc="end an approved field-sharing grant early"),
    "sla.set": Rule((DEPT_ADMIN,), doc="the operations centre's head sets SLA policies and the calendar"),
    "sync.run": Rule(_OPERATORS, doc="sync a system of the department now"),
    "system.add": Rule(_ADMIN, doc="register a system of the department"),
    "system.configure_object": Rule(_OPERATORS, doc="choose how a discovered object syncs"),
    "system.discover": Rule(_OPERATORS, doc="discover a system's objects"),
    "system.remove": Rule(_ADMIN, doc="remove a system (and with --purge its datasets)"),
    "system.schedule": Rule(_OPERATORS, doc="change a system's sync schedule"),
    "system.test": Rule(_OPERATORS, doc="connect to a system and record its health"),
    "system.update": Rule(_ADMIN, doc="change a system's connection options or owner"),
    "token.create": Rule((), "any_user", "create one's own personal API token"),
    "token.manage": Rule((), "platform", "create or revoke another user's personal API tokens"),
    "token.revoke": Rule((), "any_user", "revoke one's own personal API token"),
    "user.add": Rule((), "platform", "create a user"),
    "user.enable": Rule((), "platform", "enable or disable a user"),
    "user.passwd": Rule((), "platform", "set another user's password"),
    "user.role": Rule((), "platform", "give or take a user's roles"),
}


def acting(by: Principal | None) -> Principal:
    """`by`, or whoever is acting in this context (the request's principal, the CLI's operator, SYSTEM)."""
    if by is not None:
        return by
    from urbanbrain.govern.audit import current_actor  # the context lives with the audit log

    return current_actor()


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
                                    hint="add the action to urbanbrain.govern.authz.RULES", action=action)
    if rule.scope == "any_user" and by.kind == "user":
        return
    dept = department.lower() if department else None
    if rule.scope == "department" and dept is not None and by.has_role_in(dept, *rule.roles):
        return
    if rule.scope == "any_department" and any(role in rule.roles for role, _ in by.scoped):
        return
    if rule.scope in ("department", "any_department") and rule.roles:
        who = " or ".join(rule.roles)
    elif rule.scope == "any_user":
        who = "a signed-in user"
    else:
        who = "a platform admin"
    where = f" of department '{dept}'" if rule.scope == "department" and dept else ""
    raise PermissionDeniedError(f"{by.label} may not {action}: it needs {who}{where}",
                                hint="ask a platform admin or the owning department's admin for that role",
                                action=action)


def allowed(action: str, by: Principal, department: str | None = None) -> bool:
    """Whether `authorize` would pass: the console shows a button only when this is true."""
    try:
        authorize(action, by, department)
    except PermissionDeniedError:
        return False
    return True


def check_claimed_department(by: Principal, claimed: str | None, owner: str) -> None:
    """A department named in a request is never trusted: it must be the target's owner, and the caller
    must belong to it (the owner's rule is checked by `authorize` anyway)."""
    if claimed is None:
        return
    if claimed.lower() != owner:
        raise PermissionDeniedError(f"the target belongs to {owner}, not {claimed.lower()}",
                                    hint="the owning department is derived from the target; drop the field")
    if not by.in_department(owner):
        raise PermissionDeniedError(f"{by.label} does not belong to {owner}")


def record(by: Principal, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    """Put a state change in the audit chain (through `govern.access.on_change`, so every change
    listener sees it); for layers below `govern` that must not import it at module level."""
    from urbanbrain.govern import access

    access.on_change(by, action, target, dict(detail or {}))


def rules_markdown() -> str:
    """The table `docs/governance.md` carries between its generated-table markers."""
    head = "| action | who may | where | what |\n|---|---|---|---|\n"
    lines = []
    for action in sorted(RULES):
        rule = RULES[action]
        if rule.scope == "platform":
            who, where = "platform admin", "anywhere"
        elif rule.scope == "any_user":
            who, where = "any signed-in user", "own account"
        else:
            who = ", ".join(rule.roles) + ", platform admin"
            where = "the target's department" if rule.scope == "department" else "any department"
        lines.append(f"| `{action}` | {who} | {where} | {rule.doc} |")
    return head + "\n".join(lines) + "\n"


__all__ = ["ANALYST", "DEPT_ADMIN", "DEVELOPER", "OPERATOR", "PLATFORM_ADMIN", "ROLES", "RULES", "STEWARD", "Rule",
           "acting", "allowed", "authorize", "check_claimed_department", "record", "rules_markdown"]

"""Who is asking: the one type every read path hands to the policy check.

A principal is a console/API user (roles scoped to departments) or a consumer (an application with
API keys, owned by one department). Read paths never look at roles themselves; they pass the
principal to `govern` and get back what it may see. `SYSTEM` is urbanbrain's own internal work
(sync, demo generation, scheduled jobs) and the local operator at the machine's shell, who can read
the lake's files anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

PrincipalKind = Literal["user", "consumer", "system"]

PLATFORM_ADMIN = "platform_admin"
DEPT_ADMIN = "dept_admin"
STEWARD = "steward"
ANALYST = "analyst"
OPERATOR = "operator"
DEVELOPER = "developer"
ROLES = (PLATFORM_ADMIN, DEPT_ADMIN, STEWARD, ANALYST, OPERATOR, DEVELOPER)


@dataclass(frozen=True)
class Principal:
    """`scoped` holds each (role, department) the principal has: a steward of police who is an analyst
    of transport may classify police data, not transport's. When it is not given, every role counts in
    every department listed (the unambiguous case of one department)."""

    kind: PrincipalKind
    name: str
    departments: frozenset[str] = field(default_factory=frozenset)
    roles: frozenset[str] = field(default_factory=frozenset)
    scoped: frozenset[tuple[str, str]] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not self.scoped and self.departments and self.roles:
            object.__setattr__(self, "scoped", frozenset((r, d) for r in self.roles for d in self.departments))

    @property
    def is_platform_admin(self) -> bool:
        return self.kind == "system" or PLATFORM_ADMIN in self.roles

    def has_role(self, role: str) -> bool:
        return self.is_platform_admin or role in self.roles

    def in_department(self, department: str) -> bool:
        return self.is_platform_admin or department in self.departments

    def has_role_in(self, department: str, *roles: str) -> bool:
        """Whether the principal holds one of `roles` in `department` (platform admins hold every role)."""
        return self.is_platform_admin or any((r, department) in self.scoped for r in roles)

    @property
    def label(self) -> str:
        """How the audit log names this principal, e.g. `user:li.na` or `consumer:grid-app`."""
        return f"{self.kind}:{self.name}"


SYSTEM = Principal("system", "urbanbrain", roles=frozenset({PLATFORM_ADMIN}))


def consumer_principal(name: str, department: str) -> Principal:
    """An application calling through the gateway: it acts for its owning department, with no roles."""
    return Principal("consumer", name, frozenset({department}), frozenset())

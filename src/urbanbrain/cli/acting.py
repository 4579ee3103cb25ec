"""`--as WHO`: run a command as someone else, under the same rules as that principal.

The local operator at the machine's shell can read the lake's files and edit the metadata anyway, so a
command without `--as` acts as SYSTEM (a platform admin; the audit log names `system:shell:<os user>`).
`--as` narrows that: `--as analyst@transport` is a made-up principal holding that one role in that one
department, `--as li.na` is the real user `li.na` with exactly the roles they hold. Every service the
command calls then checks `urbanbrain.govern.authz.RULES` for that principal, exactly as for the API, so
`urbanbrain --as analyst@market system add ...` is refused like the same request over HTTP would be.
Only a platform admin may act for others (`cli.act_as`): the shell operator is one.

`--as` goes before the command (`urbanbrain --as steward@police classify set ...`) or, for the commands
that had it first (sql, dataset preview, classify, share, link decide), after it.
"""

from __future__ import annotations

from typing import Annotated

import typer

from urbanbrain.core.errors import ValidationError
from urbanbrain.govern.principals import ROLES, Principal

AsOption = Annotated[str | None, typer.Option(
    "--as", metavar="WHO", help="Act as ROLE@DEPT (e.g. analyst@transport) or as the user of that name.")]


def acting_principal(value: str | None) -> Principal:
    """The principal `--as value` names (the current actor when not given), once the current actor has
    been allowed to act for others."""
    from urbanbrain.govern.audit import current_actor
    from urbanbrain.govern.authz import authorize

    actor = current_actor()
    if not value:
        return actor
    authorize("cli.act_as", actor)
    role, at, dept = value.rpartition("@")
    if not at or (role and role not in ROLES and "." in dept):  # a user name, e.g. li.na or a.b@c.d
        return _user(value)
    role = role or "analyst"
    if not dept or role not in ROLES:
        raise ValidationError(f"--as {value!r} is not ROLE@DEPT or a user name", hint=f"roles: {', '.join(ROLES)}")
    return Principal("user", f"cli:{role}@{dept}", frozenset({dept.lower()}), frozenset({role}))


def _user(name: str) -> Principal:
    from urbanbrain.govern.users import principal_of, user_row
    from urbanbrain.meta.db import session_scope

    with session_scope() as s:
        user = user_row(s, name)
        if not user.enabled:
            raise ValidationError(f"user {name!r} is disabled")
        return principal_of(user)

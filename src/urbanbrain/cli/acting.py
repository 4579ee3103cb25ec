"""`--as role@department`: read as someone else, to see what another department would see.

The local operator can read the lake's files anyway, so the CLI acts as SYSTEM by default; `--as`
only ever narrows what is shown (e.g. `urbanbrain sql --as analyst@transport "SELECT ..."`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from urbanbrain.core.errors import ValidationError
from urbanbrain.govern.principals import ROLES, SYSTEM, Principal

AsOption = Annotated[str | None, typer.Option(
    "--as", metavar="ROLE@DEPT", help="Read as this role of this department (e.g. analyst@transport).")]


def acting_principal(value: str | None) -> Principal:
    if not value:
        return SYSTEM
    role, _, dept = value.rpartition("@")
    role = role or "analyst"
    if not dept or role not in ROLES:
        raise ValidationError(f"--as {value!r} is not ROLE@DEPT", hint=f"roles: {', '.join(ROLES)}")
    return Principal("user", f"cli:{role}@{dept}", frozenset({dept.lower()}), frozenset({role}))

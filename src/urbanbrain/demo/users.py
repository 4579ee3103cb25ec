"""The demo city's people: one user per role across several departments, with known demo passwords.

These passwords are printed by `urbanbrain demo` and are for the demo only; a real install has no
default account (its first admin comes from `urbanbrain user add --admin` or URBANBRAIN_ADMIN_PASSWORD).
Running the demo again keeps users that already exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from urbanbrain.core.errors import AlreadyExistsError
from urbanbrain.govern.principals import ANALYST, DEPT_ADMIN, DEVELOPER, OPERATOR, PLATFORM_ADMIN, STEWARD
from urbanbrain.govern.users import add_user


@dataclass(frozen=True)
class DemoUser:
    name: str
    password: str
    roles: tuple[tuple[str, str | None], ...]

    @property
    def role_text(self) -> str:
        return ", ".join(f"{r}@{d}" if d else r for r, d in self.roles)


def _user(name: str, *roles: tuple[str, str | None]) -> DemoUser:
    return DemoUser(name, f"demo-{name}", roles)


DEMO_USERS: tuple[DemoUser, ...] = (
    _user("admin", (PLATFORM_ADMIN, None)),
    _user("police.admin", (DEPT_ADMIN, "police")),
    _user("police.steward", (STEWARD, "police")),
    _user("police.analyst", (ANALYST, "police")),
    _user("market.steward", (STEWARD, "market")),
    _user("market.analyst", (ANALYST, "market")),
    _user("health.analyst", (ANALYST, "health")),
    _user("hotline.operator", (OPERATOR, "hotline")),
    _user("transport.developer", (DEVELOPER, "transport")),
)


def create_demo_users() -> list[DemoUser]:
    """Create the demo's users (skipping those that exist); returns them all, with their passwords."""
    for user in DEMO_USERS:
        try:
            add_user(user.name, user.password, roles=user.roles)
        except AlreadyExistsError:
            continue
    return list(DEMO_USERS)

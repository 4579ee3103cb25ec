"""The demo city's users: several departments and every role, each able to log in with its printed password."""

from __future__ import annotations

from urbanbrain.demo.departments import DEPARTMENTS
from urbanbrain.demo.users import DEMO_USERS, create_demo_users
from urbanbrain.govern import sessions, users
from urbanbrain.govern.principals import ROLES
from urbanbrain.meta.departments import add_department


def test_demo_users_cover_departments_and_roles_and_log_in() -> None:
    for dept in DEPARTMENTS:
        add_department(dept.name, dept.code)
    created = create_demo_users()
    assert create_demo_users() == created  # a second demo run keeps them
    assert {role for u in created for role, _ in u.roles} == set(ROLES)
    assert len({d for u in created for _, d in u.roles if d}) >= 4
    assert [u.name for u in users.list_users()] == sorted(u.name for u in DEMO_USERS)
    steward = next(u for u in created if u.name == "market.steward")
    principal = sessions.login(steward.name, steward.password).principal
    assert principal.departments == {"market"} and principal.roles == {"steward"}

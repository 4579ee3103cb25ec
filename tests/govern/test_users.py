"""Users, passwords, roles, personal tokens, console sessions and login throttling, on the real store."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from urbanbrain.cli.main import app
from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import (
    AlreadyExistsError,
    AuthenticationRequiredError,
    LoginThrottledError,
    NotFoundError,
    ValidationError,
)
from urbanbrain.govern import sessions, users
from urbanbrain.govern.principals import ANALYST, PLATFORM_ADMIN, STEWARD
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.departments import add_department
from urbanbrain.meta.models import LoginFailure, PersonalToken, User

PASSWORD = "correct horse battery"
runner = CliRunner()


@pytest.fixture
def depts() -> None:
    add_department("市场监督管理局", "market")
    add_department("公安局", "police")


def test_password_is_stored_as_argon2id_and_only_the_right_one_logs_in(depts: None) -> None:
    users.add_user("li.na", PASSWORD, roles=[(STEWARD, "market"), (ANALYST, "police")])
    with session_scope() as s:
        stored = s.scalar(select(User.password_hash).where(User.name == "li.na"))
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored
    assert users.verify_password("li.na", "wrong horse battery") is None
    assert users.verify_password("nobody", PASSWORD) is None
    principal = users.verify_password("li.na", PASSWORD)
    assert principal is not None and principal.label == "user:li.na"
    assert principal.roles == {STEWARD, ANALYST} and principal.departments == {"market", "police"}
    assert not principal.is_platform_admin


def test_weak_passwords_bad_names_and_roles_are_refused(depts: None) -> None:
    with pytest.raises(ValidationError, match="at least 10"):
        users.add_user("li.na", "short", roles=[(ANALYST, "market")])
    with pytest.raises(ValidationError, match="easy to guess"):
        users.add_user("li.na", "aaaaaaaaaaaa", roles=[(ANALYST, "market")])
    with pytest.raises(ValidationError, match="invalid user name"):
        users.add_user("1 bad", PASSWORD, roles=[(ANALYST, "market")])
    with pytest.raises(ValidationError, match="held in a department"):
        users.add_user("li.na", PASSWORD, roles=[(STEWARD, None)])
    with pytest.raises(ValidationError, match="no role"):
        users.add_user("li.na", PASSWORD, roles=[("mayor", "market")])
    with pytest.raises(NotFoundError):
        users.add_user("li.na", PASSWORD, roles=[(ANALYST, "nowhere")])
    users.add_user("li.na", PASSWORD, roles=[(ANALYST, "market")])
    with pytest.raises(AlreadyExistsError):
        users.add_user("li.na", PASSWORD, roles=[(ANALYST, "market")])


def test_roles_change_and_disabled_users_cannot_log_in(depts: None) -> None:
    users.add_user("wang.wei", PASSWORD, roles=[(ANALYST, "market")])
    changed = users.change_roles("wang.wei", add=[(STEWARD, "police")], remove=[(ANALYST, "market")])
    assert [(r.role, r.department) for r in changed.roles] == [(STEWARD, "police")]
    with pytest.raises(NotFoundError):
        users.change_roles("wang.wei", remove=[(ANALYST, "market")])
    login = sessions.login("wang.wei", PASSWORD, "10.0.0.5")
    assert sessions.session_principal(login.token) == login.principal
    users.set_enabled("wang.wei", False)
    assert sessions.session_principal(login.token) is None  # the open session dies with the account
    with pytest.raises(AuthenticationRequiredError):
        sessions.login("wang.wei", PASSWORD, "10.0.0.5")


def test_password_change_ends_sessions_and_logout_ends_one(depts: None) -> None:
    users.add_user("li.na", PASSWORD, roles=[(ANALYST, "market")])
    first = sessions.login("li.na", PASSWORD)
    second = sessions.login("li.na", PASSWORD)
    sessions.logout(first.token)
    assert sessions.session_principal(first.token) is None
    assert sessions.session_principal(second.token) is not None
    users.set_password("li.na", "another long passphrase")
    assert sessions.session_principal(second.token) is None
    assert sessions.session_principal("ubs_forged") is None


def test_failed_logins_lock_the_user_and_the_message_says_when_to_retry(depts: None) -> None:
    users.add_user("li.na", PASSWORD, roles=[(ANALYST, "market")])
    for _ in range(sessions.USER_LIMIT):
        with pytest.raises(AuthenticationRequiredError):
            sessions.login("li.na", "not the password", "10.0.0.7")
    with pytest.raises(LoginThrottledError) as locked:  # even the right password is refused while locked
        sessions.login("li.na", PASSWORD, "10.0.0.8")
    assert "try again after" in locked.value.message and "UTC" in locked.value.message
    assert 0 < locked.value.context["retry_after"] <= sessions.WINDOW.total_seconds() + 1
    # once the failures are older than the window, the right password works again and clears the count
    with session_scope() as s:
        s.execute(update(LoginFailure).values(at=utcnow() - sessions.WINDOW - timedelta(seconds=1)))
    assert sessions.login("li.na", PASSWORD, "10.0.0.8").principal.name == "li.na"


def test_one_address_guessing_many_names_is_locked(depts: None) -> None:
    users.add_user("li.na", PASSWORD, roles=[(ANALYST, "market")])
    for i in range(sessions.ADDRESS_LIMIT):
        with pytest.raises(AuthenticationRequiredError):
            sessions.login(f"guess{i}", "not the password", "203.0.113.9")
    with pytest.raises(LoginThrottledError, match=r"address 203\.0\.113\.9"):
        sessions.login("li.na", PASSWORD, "203.0.113.9")
    assert sessions.login("li.na", PASSWORD, "10.0.0.1").principal.name == "li.na"  # other addresses are fine


def test_personal_token_lifecycle(depts: None) -> None:
    users.add_user("li.na", PASSWORD, roles=[(STEWARD, "market")])
    new = users.create_token("li.na", label="notebook", expires_days=30)
    assert new.token.startswith("ubt_") and new.prefix == new.token[:12]
    with session_scope() as s:
        stored = s.scalar(select(PersonalToken.token_hash).where(PersonalToken.id == new.id))
    assert stored is not None and new.token not in stored and len(stored) == 64
    assert users.authenticate_token(new.token).label == "user:li.na"
    listed = users.list_tokens("li.na")
    assert [t.prefix for t in listed] == [new.prefix] and not hasattr(listed[0], "token")
    assert listed[0].last_used_at is not None
    with pytest.raises(AuthenticationRequiredError, match="not valid"):
        users.authenticate_token(new.token + "x")
    users.revoke_token(new.prefix)
    with pytest.raises(AuthenticationRequiredError, match="revoked"):
        users.authenticate_token(new.token)
    expiring = users.create_token("li.na", expires_days=1)
    with session_scope() as s:
        s.execute(update(PersonalToken).where(PersonalToken.id == expiring.id)
                  .values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(AuthenticationRequiredError, match="expired"):
        users.authenticate_token(expiring.token)
    live = users.create_token("li.na")
    users.set_enabled("li.na", False)
    with pytest.raises(AuthenticationRequiredError, match="disabled"):
        users.authenticate_token(live.token)


def test_auth_turns_on_with_the_first_user_and_first_admin_comes_from_the_environment(
        depts: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert not users.auth_enabled()
    assert users.ensure_first_admin() is None  # no variable: nothing is created, never a default password
    monkeypatch.setenv(users.ADMIN_USER_ENV, "root.admin")
    monkeypatch.setenv(users.ADMIN_PASSWORD_ENV, "the first admin's passphrase")
    admin = users.ensure_first_admin()
    assert admin is not None and admin.name == "root.admin" and admin.roles[0].role == PLATFORM_ADMIN
    assert users.auth_enabled()
    assert users.ensure_first_admin() is None  # only ever the first
    assert users.verify_password("root.admin", "the first admin's passphrase") is not None


def test_cli_user_and_token_commands(depts: None) -> None:
    result = runner.invoke(app, ["user", "add", "chen.admin", "--admin"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "platform_admin" in result.output and PASSWORD not in result.output
    result = runner.invoke(app, ["user", "add", "li.na", "--role", "steward", "--role", "analyst@police",
                                 "--dept", "market", "--password-stdin"], input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["user", "list", "--format", "json"])
    rows = {r["name"]: r for r in __import__("json").loads(listed.stdout)}
    assert rows["li.na"]["roles"] == ["analyst@police", "steward@market"]
    assert "password" not in listed.stdout
    result = runner.invoke(app, ["user", "role", "li.na", "--remove", "analyst@police"])
    assert result.exit_code == 0 and "analyst" not in result.output
    result = runner.invoke(app, ["user", "passwd", "li.na", "--password-stdin"], input="a brand new phrase\n")
    assert result.exit_code == 0, result.output
    assert users.verify_password("li.na", "a brand new phrase") is not None
    created = runner.invoke(app, ["token", "create", "--user", "li.na", "--label", "ci"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("ubt_") and users.authenticate_token(token).name == "li.na"
    listed = runner.invoke(app, ["token", "list", "--user", "li.na", "--format", "csv"])
    assert token[:12] in listed.stdout and token not in listed.stdout
    assert runner.invoke(app, ["token", "revoke", token[:12]]).exit_code == 0
    assert runner.invoke(app, ["user", "disable", "li.na"]).exit_code == 0
    assert users.verify_password("li.na", "a brand new phrase") is None
    missing = runner.invoke(app, ["user", "add", "nobody.roles"], input=f"{PASSWORD}\n{PASSWORD}\n")
    assert missing.exit_code == 1 and "at least one role" in missing.output

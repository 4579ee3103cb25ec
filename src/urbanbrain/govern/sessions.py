"""Console sessions and login throttling.

A login sets a cookie holding a random token; the server keeps only its hash (`console_sessions`), so a
copied database cannot be replayed as sessions, and logging out or changing the password ends the
session on the server, not just in the browser. The cookie is HttpOnly and SameSite=Lax, and Secure
whenever the console is reached over HTTPS or from anywhere but the machine itself (see `web/login`).

Guessing is throttled twice over, in the database so every process agrees: 5 failures for one user
name within 15 minutes lock that name, and 20 failures from one client address lock that address,
each until 15 minutes after its last failure. The check runs before the password is looked at, so a
locked account cannot be probed even with the right password, and the error says when to retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import AuthenticationRequiredError, LoginThrottledError
from urbanbrain.core.tokens import hash_token, new_token
from urbanbrain.govern import audit
from urbanbrain.govern.principals import Principal
from urbanbrain.govern.users import principal_by_id, user_row, verify_password
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import ConsoleSession, LoginFailure

COOKIE = "ub_session"
SESSION_LIFETIME = timedelta(hours=12)
WINDOW = timedelta(minutes=15)  # failures counted over this long; a lock lasts this long after the last one
USER_LIMIT = 5
ADDRESS_LIMIT = 20


@dataclass(frozen=True)
class LoginResult:
    token: str  # goes into the cookie and nowhere else
    principal: Principal
    expires_at: datetime


def _locked_until(key: str, limit: int) -> datetime | None:
    since = utcnow() - WINDOW
    with session_scope() as s:
        count, last = s.execute(select(func.count(), func.max(LoginFailure.at))
                                .where(LoginFailure.key == key, LoginFailure.at > since)).one()
    if count >= limit and last is not None:
        return as_utc(last) + WINDOW
    return None


def check_throttle(name: str, client: str | None) -> None:
    """Refuse, saying when to retry, while the user name or the client address is locked."""
    checks = [(f"user:{name}", USER_LIMIT, f"user {name!r}")]
    if client:
        checks.append((f"addr:{client}", ADDRESS_LIMIT, f"address {client}"))
    for key, limit, what in checks:
        until = _locked_until(key, limit)
        if until is not None and until > utcnow():
            seconds = max(1, int((until - utcnow()).total_seconds()) + 1)
            raise LoginThrottledError(
                f"too many failed logins for {what}; try again after {until:%H:%M:%S} UTC "
                f"(in {(seconds + 59) // 60} min)", retry_after=seconds, retry_at=until.isoformat(timespec="seconds"))


def _record_failure(name: str, client: str | None) -> None:
    with session_scope() as s:
        s.execute(delete(LoginFailure).where(LoginFailure.at < utcnow() - WINDOW))
        s.add(LoginFailure(key=f"user:{name}"))
        if client:
            s.add(LoginFailure(key=f"addr:{client}"))


def login(name: str, password: str, client: str | None = None) -> LoginResult:
    """Check the password (throttled) and open a console session; every outcome is audited."""
    who = Principal("user", name[:120])
    try:
        check_throttle(name, client)
    except LoginThrottledError as exc:
        audit.record(who, "login.throttled", f"user:{name[:120]}", {"client": client, "until": exc.context["retry_at"]})
        raise
    principal = verify_password(name, password)
    if principal is None:
        _record_failure(name, client)
        audit.record(who, "login.failed", f"user:{name[:120]}", {"client": client})
        raise AuthenticationRequiredError("wrong user name or password",
                                          hint=f"after {USER_LIMIT} failures the account is locked for "
                                               f"{WINDOW.seconds // 60} minutes")
    token = new_token("ubs_")
    expires = utcnow() + SESSION_LIFETIME
    with session_scope() as s:
        user = user_row(s, name)
        s.execute(delete(LoginFailure).where(LoginFailure.key == f"user:{name}"))
        s.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < utcnow()))
        s.add(ConsoleSession(id=hash_token(token), user_id=user.id, client=client, expires_at=expires))
        audit.record(principal, "login", f"user:{name}", {"client": client}, session=s)
    return LoginResult(token=token, principal=principal, expires_at=expires)


def session_principal(token: str | None) -> Principal | None:
    """Who holds this session cookie; None when it is unknown, expired or its user is disabled."""
    if not token:
        return None
    with session_scope() as s:
        row = s.get(ConsoleSession, hash_token(token))
        if row is None or as_utc(row.expires_at) <= utcnow():
            return None
        return principal_by_id(s, row.user_id)


def logout(token: str | None) -> None:
    """End the session on the server (the cookie alone would otherwise stay valid until it expires)."""
    if not token:
        return
    with session_scope() as s:
        row = s.get(ConsoleSession, hash_token(token))
        if row is not None:
            principal = principal_by_id(s, row.user_id)
            s.delete(row)
            s.flush()
            if principal is not None:
                audit.record(principal, "logout", f"user:{principal.name}", session=s)

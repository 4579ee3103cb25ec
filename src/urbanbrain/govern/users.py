"""Users: people who log in to the console or call the API with personal tokens; roles per department.

Passwords are hashed with Argon2id (argon2-cffi's RFC 9106 low-memory profile); a hash made with older
parameters is upgraded at the next successful login. Personal tokens work like consumers' API keys
(`urbanbrain.core.tokens`): shown once, stored as a hash, expiring and revocable. A role is held in a
department (platform admins hold theirs everywhere); `principal_of` flattens a user's roles into the
`Principal` every read path hands to the policy check. Every change here is audited in the same
transaction as the change itself.

There is no default account. Auth is on as soon as one user exists (`auth_enabled`); the first admin
comes from `urbanbrain user add NAME --admin` (password prompt) or from URBANBRAIN_ADMIN_PASSWORD.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from urbanbrain.core.clock import as_utc, utcnow
from urbanbrain.core.errors import AlreadyExistsError, AuthenticationRequiredError, NotFoundError, ValidationError
from urbanbrain.core.settings import get_settings
from urbanbrain.core.tokens import hash_token, new_token, shown_prefix
from urbanbrain.govern import audit
from urbanbrain.govern.authz import acting, authorize
from urbanbrain.govern.principals import PLATFORM_ADMIN, ROLES, SYSTEM, Principal
from urbanbrain.meta.db import get_engine, session_scope
from urbanbrain.meta.departments import get_department_row
from urbanbrain.meta.models import ConsoleSession, PersonalToken, User, UserRole
from urbanbrain.meta.schemas import UTCDateTime

TOKEN_PREFIX = "ubt_"
MIN_PASSWORD = 10
USER_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._@-]{0,119}")
ADMIN_USER_ENV = "URBANBRAIN_ADMIN_USER"
ADMIN_PASSWORD_ENV = "URBANBRAIN_ADMIN_PASSWORD"

_hasher = PasswordHasher()
# verified against when the user does not exist, so a wrong name takes as long as a wrong password
_DUMMY_HASH = _hasher.hash("urbanbrain-no-such-user")


class RolePublic(BaseModel):
    role: str
    department: str | None


class UserPublic(BaseModel):
    id: str
    name: str
    display_name: str | None
    enabled: bool
    roles: list[RolePublic]
    created_at: UTCDateTime
    last_login_at: UTCDateTime | None


class TokenPublic(BaseModel):
    id: str
    user: str
    prefix: str
    label: str | None
    created_at: UTCDateTime
    expires_at: UTCDateTime | None
    revoked_at: UTCDateTime | None
    last_used_at: UTCDateTime | None


class NewToken(TokenPublic):
    """Returned once, at creation: the only time the plaintext `token` exists outside the caller."""

    token: str


def _public(u: User) -> UserPublic:
    roles = sorted((RolePublic(role=r.role, department=r.department.code if r.department else None) for r in u.roles),
                   key=lambda r: (r.role, r.department or ""))
    return UserPublic(id=u.id, name=u.name, display_name=u.display_name, enabled=u.enabled, roles=roles,
                      created_at=u.created_at, last_login_at=u.last_login_at)


def _token_public(t: PersonalToken) -> TokenPublic:
    return TokenPublic(id=t.id, user=t.user.name, prefix=t.prefix, label=t.label, created_at=t.created_at,
                       expires_at=t.expires_at, revoked_at=t.revoked_at, last_used_at=t.last_used_at)


def principal_of(user: User) -> Principal:
    """The user as the policy check sees them: every role they hold and every department they hold one in."""
    return Principal("user", user.name, frozenset(r.department.code for r in user.roles if r.department),
                     frozenset(r.role for r in user.roles),
                     frozenset((r.role, r.department.code) for r in user.roles if r.department))


# --- passwords -------------------------------------------------------------------------------------


def check_password_strength(password: str, name: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationError(f"the password must have at least {MIN_PASSWORD} characters")
    if password.lower() == name.lower() or len(set(password)) < 4:
        raise ValidationError("the password is too easy to guess", hint="use a passphrase of several words")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# --- users -----------------------------------------------------------------------------------------


def user_row(s: Session, name: str) -> User:
    user = s.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFoundError(f"no user named {name!r}", hint="list users with `urbanbrain user list`")
    return user


RoleKey = tuple[str, str | None]  # (role, department code), e.g. ("steward", "market")


def _role_rows(s: Session, roles: Iterable[RoleKey]) -> list[tuple[RoleKey, UserRole]]:
    rows: list[tuple[RoleKey, UserRole]] = []
    for role, department in roles:
        if role not in ROLES:
            raise ValidationError(f"no role {role!r}", hint=f"choose one of {', '.join(ROLES)}")
        if role == PLATFORM_ADMIN:
            rows.append(((role, None), UserRole(role=role, department_id=None)))
        elif not department:
            raise ValidationError(f"the role {role} is held in a department", hint="add --dept CODE")
        else:
            dept = get_department_row(s, department)
            rows.append(((role, dept.code), UserRole(role=role, department_id=dept.id)))
    return rows


def add_user(name: str, password: str, *, roles: Iterable[RoleKey] = (),
             display_name: str | None = None, by: Principal | None = None) -> UserPublic:
    """Create a user with roles such as `[("steward", "market")]` or `[("platform_admin", None)]`."""
    by = acting(by)
    authorize("user.add", by)
    if not USER_NAME.fullmatch(name):
        raise ValidationError(f"invalid user name {name!r}",
                              hint="use letters, digits, '.', '_', '-' or '@', starting with a letter (e.g. li.na)")
    check_password_strength(password, name)
    with session_scope() as s:
        if s.scalar(select(User).where(User.name == name)) is not None:
            raise AlreadyExistsError(f"user {name!r} already exists", hint="choose another name")
        user = User(name=name, display_name=display_name, password_hash=hash_password(password))
        user.roles = list({key: row for key, row in _role_rows(s, roles)}.values())
        s.add(user)
        s.flush()
        s.refresh(user)
        public = _public(user)
        audit.record(by, "user.add", f"user:{name}",
                     {"roles": [r.model_dump() for r in public.roles]}, session=s)
        return public


def list_users() -> list[UserPublic]:
    with session_scope() as s:
        return [_public(u) for u in s.scalars(select(User).order_by(User.name))]


def get_user(name: str) -> UserPublic:
    with session_scope() as s:
        return _public(user_row(s, name))


def set_password(name: str, password: str, *, by: Principal | None = None) -> UserPublic:
    """A new password; the user's console sessions end, so a stolen session dies with the old password."""
    by = acting(by)
    authorize("user.passwd", by)
    check_password_strength(password, name)
    with session_scope() as s:
        user = user_row(s, name)
        user.password_hash = hash_password(password)
        for session in s.scalars(select(ConsoleSession).where(ConsoleSession.user_id == user.id)):
            s.delete(session)
        s.flush()
        audit.record(by, "user.passwd", f"user:{name}", session=s)
        return _public(user)


def set_enabled(name: str, enabled: bool, *, by: Principal | None = None) -> UserPublic:
    """Disable (or enable again) a user: a disabled user's sessions and tokens stop working at once."""
    by = acting(by)
    authorize("user.enable", by)
    with session_scope() as s:
        user = user_row(s, name)
        user.enabled = enabled
        s.flush()
        audit.record(by, "user.enable" if enabled else "user.disable", f"user:{name}", session=s)
        return _public(user)


def change_roles(name: str, *, add: Iterable[RoleKey] = (), remove: Iterable[RoleKey] = (),
                 by: Principal | None = None) -> UserPublic:
    by = acting(by)
    authorize("user.role", by)
    with session_scope() as s:
        user = user_row(s, name)
        held = {(r.role, r.department.code if r.department else None): r for r in user.roles}
        added, removed = [], []
        for key in remove:
            key = (key[0], key[1].lower() if key[1] else None)
            if key not in held:
                raise NotFoundError(f"{name} does not hold {key[0]} in {key[1] or 'the platform'}")
            user.roles.remove(held.pop(key))
            removed.append(key)
        for key, role in _role_rows(s, add):
            if key not in held:
                user.roles.append(role)
                held[key] = role
                added.append(key)
        s.flush()
        s.refresh(user)
        audit.record(by, "user.role", f"user:{name}",
                     {"added": [list(k) for k in added], "removed": [list(k) for k in removed]}, session=s)
        return _public(user)


_AUTH_ON: set[str] = set()


def auth_enabled() -> bool:
    """Is console/API login required? Yes as soon as any user exists (users are disabled, never deleted,
    so once on it stays on and is remembered per store without asking the database again)."""
    url = get_settings().metadata_url
    if url in _AUTH_ON:
        return True
    with get_engine(url).connect() as conn:
        exists = bool(conn.scalar(select(func.count()).select_from(User)))
    if exists:
        _AUTH_ON.add(url)
    return exists


def verify_password(name: str, password: str) -> Principal | None:
    """The principal if `name` is an enabled user with this password, else None (same cost either way)."""
    with session_scope() as s:
        user = s.scalar(select(User).where(User.name == name))
        if user is None:
            password_matches(_DUMMY_HASH, password)
            return None
        if not password_matches(user.password_hash, password) or not user.enabled:
            return None
        if _hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.last_login_at = utcnow()
        return principal_of(user)


def principal_by_id(s: Session, user_id: str) -> Principal | None:
    user = s.get(User, user_id)
    return principal_of(user) if user is not None and user.enabled else None


def ensure_first_admin() -> UserPublic | None:
    """Create the first platform admin from URBANBRAIN_ADMIN_PASSWORD (+ URBANBRAIN_ADMIN_USER, default
    `admin`) when no user exists yet; otherwise do nothing. There is never a default password."""
    password = os.environ.get(ADMIN_PASSWORD_ENV)
    if not password or auth_enabled():
        return None
    return add_user(os.environ.get(ADMIN_USER_ENV) or "admin", password, roles=[(PLATFORM_ADMIN, None)], by=SYSTEM)


# --- personal tokens -------------------------------------------------------------------------------


def _own(by: Principal, user: str | None) -> bool:
    return by.kind == "user" and user is not None and user == by.name


def create_token(user: str, *, label: str | None = None, expires_days: int | None = 90,
                 by: Principal | None = None) -> NewToken:
    """A personal API token for `user` (`Authorization: Bearer ubt_...`), shown once: one's own, or
    anyone's for a platform admin."""
    by = acting(by)
    authorize("token.create" if _own(by, user) else "token.manage", by)
    if expires_days is not None and expires_days <= 0:
        raise ValidationError("--expires-days must be a positive number of days")
    token = new_token(TOKEN_PREFIX)
    with session_scope() as s:
        row = PersonalToken(user_id=user_row(s, user).id, prefix=shown_prefix(token), token_hash=hash_token(token),
                            label=label, expires_at=utcnow() + timedelta(days=expires_days) if expires_days else None)
        s.add(row)
        s.flush()
        s.refresh(row)
        audit.record(by, "token.create", f"user:{user}", {"token": row.id, "prefix": row.prefix,
                                                           "expires_days": expires_days}, session=s)
        return NewToken(**_token_public(row).model_dump(), token=token)


def list_tokens(user: str | None = None) -> list[TokenPublic]:
    with session_scope() as s:
        query = select(PersonalToken).order_by(PersonalToken.created_at)
        if user:
            query = query.where(PersonalToken.user_id == user_row(s, user).id)
        return [_token_public(t) for t in s.scalars(query)]


def revoke_token(token_id_or_prefix: str, *, owner: str | None = None, by: Principal | None = None) -> TokenPublic:
    """Revoke by id or shown prefix; `owner` limits it to that user's tokens (the console's own-token page)."""
    by = acting(by)
    with session_scope() as s:
        query = select(PersonalToken).where((PersonalToken.id == token_id_or_prefix)
                                            | (PersonalToken.prefix == token_id_or_prefix))
        if owner:
            query = query.where(PersonalToken.user_id == user_row(s, owner).id)
        rows = list(s.scalars(query))
        if not rows:
            raise NotFoundError(f"no token {token_id_or_prefix!r}", hint="list tokens with `urbanbrain token list`")
        if len(rows) > 1:
            raise ValidationError(f"{token_id_or_prefix!r} matches {len(rows)} tokens", hint="revoke by token id")
        row = rows[0]
        authorize("token.revoke" if _own(by, row.user.name) else "token.manage", by)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            s.flush()
            audit.record(by, "token.revoke", f"user:{row.user.name}", {"token": row.id, "prefix": row.prefix},
                         session=s)
        return _token_public(row)


def authenticate_token(token: str) -> Principal:
    """The user behind a personal token, or 401. The message never repeats the token."""
    with session_scope() as s:
        row = s.scalar(select(PersonalToken).where(PersonalToken.token_hash == hash_token(token.strip())))
        if row is None:
            raise AuthenticationRequiredError("the token is not valid", hint="check it or create a new one")
        if row.revoked_at is not None:
            raise AuthenticationRequiredError("the token has been revoked", hint="create a new one")
        if row.expires_at is not None and as_utc(row.expires_at) <= utcnow():
            raise AuthenticationRequiredError("the token has expired", hint="create a new one")
        if not row.user.enabled:
            raise AuthenticationRequiredError("the user holding this token is disabled")
        now = utcnow()
        if row.last_used_at is None or now - as_utc(row.last_used_at) > timedelta(minutes=1):
            row.last_used_at = now  # at most one write a minute per token, not one per request
        return principal_of(row.user)

"""Two departments (market, police) plus the registry, one user per role per department with a
personal token, a platform admin, and police's residents synced from SQLite: what the authorisation
tests attack. Everything is set up as SYSTEM, the way an operator would."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from tests.govern.city import home, id_number
from urbanbrain.connect.systems import add_system
from urbanbrain.core.settings import get_settings
from urbanbrain.govern import users
from urbanbrain.govern.authz import DEPARTMENT_ROLES
from urbanbrain.govern.principals import PLATFORM_ADMIN
from urbanbrain.lake.catalog import reset_catalogs
from urbanbrain.meta.db import dispose_engines
from urbanbrain.meta.departments import add_department
from urbanbrain.sync.service import sync_system

PASSWORD = "correct horse battery staple"
DEPARTMENTS = ("market", "police", "registry")
RESIDENTS = "police.hukou.residents"


@dataclass
class AuthzCity:
    root: Path
    police_db: Path
    tokens: dict[str, str] = field(default_factory=dict)  # user name -> personal token

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def call(self, client: TestClient, user: str, method: str, path: str, body: Any = None,
             form: dict[str, str] | None = None) -> Any:
        if form is not None:
            return client.request(method, path, data=form, headers=self.headers(user), follow_redirects=False)
        return client.request(method, path, json=body, headers=self.headers(user), follow_redirects=False)


def user_name(role: str, dept: str) -> str:
    return f"{role}.{dept}"


def build(root: Path) -> AuthzCity:
    add_department("Market Regulation", "market")
    add_department("Public Security", "police")
    add_department("City Registries", "registry")
    folder = root / "police"
    folder.mkdir(parents=True)
    db = folder / "police.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE residents (id INTEGER PRIMARY KEY, name TEXT, id_number TEXT, mobile TEXT)")
    conn.executemany("INSERT INTO residents VALUES (?, ?, ?, ?)",
                     [(i, f"王{i}", id_number(i), f"1380000{i:04d}") for i in range(30)])
    conn.commit()
    conn.close()
    add_system("hukou", "police", "sqlite", {"url": f"sqlite:///{db}"})
    assert sync_system("hukou").status == "succeeded"
    city = AuthzCity(root, db)
    hasher = users._hasher
    users._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)  # these users sign in by token
    try:
        for dept in DEPARTMENTS:
            for role in DEPARTMENT_ROLES:
                name = user_name(role, dept)
                users.add_user(name, PASSWORD, roles=[(role, dept)])
                city.tokens[name] = users.create_token(name).token
        users.add_user("admin", PASSWORD, roles=[(PLATFORM_ADMIN, None)])
        city.tokens["admin"] = users.create_token("admin").token
    finally:
        users._hasher = hasher
    return city


@contextmanager
def metadata_on(backend: str) -> Iterator[None]:
    """URBANBRAIN_DATABASE_URL for the block: unset (SQLite under home) or a fresh PostgreSQL database."""
    if backend == "sqlite":
        yield
        return
    import psycopg

    name = f"ub_test_authz_{uuid.uuid4().hex[:10]}"
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    old = os.environ.get("URBANBRAIN_DATABASE_URL")
    os.environ["URBANBRAIN_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{name}"
    get_settings.cache_clear()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("URBANBRAIN_DATABASE_URL", None)
        else:
            os.environ["URBANBRAIN_DATABASE_URL"] = old
        get_settings.cache_clear()
        dispose_engines()
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def city_home(root: Path, backend: str = "sqlite") -> Iterator[None]:
    """URBANBRAIN_HOME (and the metadata store) of a module's city, for the block."""
    with home(root / "ubhome"), metadata_on_url(root, backend):
        reset_catalogs()
        yield
    dispose_engines()
    reset_catalogs()


_URLS: dict[Path, str] = {}


@contextmanager
def metadata_on_url(root: Path, backend: str) -> Iterator[None]:
    """The store chosen when the city was built (`_URLS[root]`), again for each test using it."""
    url = _URLS.get(root)
    if backend == "sqlite" or url is None:
        yield
        return
    old = os.environ.get("URBANBRAIN_DATABASE_URL")
    os.environ["URBANBRAIN_DATABASE_URL"] = url
    get_settings.cache_clear()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("URBANBRAIN_DATABASE_URL", None)
        else:
            os.environ["URBANBRAIN_DATABASE_URL"] = old
        get_settings.cache_clear()


@contextmanager
def built_city(root: Path, backend: str = "sqlite") -> Iterator[AuthzCity]:
    """Build the city once (a module fixture); tests enter `city_home(root, backend)` to use it."""
    with home(root / "ubhome"), metadata_on(backend):
        if backend != "sqlite":
            _URLS[root] = os.environ["URBANBRAIN_DATABASE_URL"]
        reset_catalogs()
        try:
            yield build(root)
        finally:
            from urbanbrain.govern import audit

            audit.flush()
            dispose_engines()
            reset_catalogs()
            _URLS.pop(root, None)

"""Small builders shared by sync tests: a department with one system over a real source."""

from __future__ import annotations

import contextlib
from typing import Any

from urbanbrain.connect.systems import add_system, discover_system
from urbanbrain.core.errors import AlreadyExistsError
from urbanbrain.govern.principals import SYSTEM
from urbanbrain.govern.query import run_query
from urbanbrain.meta.departments import add_department


def register(system: str, kind: str, options: dict[str, Any], dept: str = "market",
             schedule: str | None = None) -> None:
    with contextlib.suppress(AlreadyExistsError):
        add_department("Market Regulation", dept)
    add_system(system, dept, kind, options, schedule=schedule)
    discover_system(system)


def scalar(sql: str) -> Any:
    return run_query(sql, principal=SYSTEM).table.to_pylist()[0]

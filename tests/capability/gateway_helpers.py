"""Builders shared by the gateway tests: a city with the echo built-in published, consumers, keys, grants."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from urbanbrain.capability import catalog, consumers, grants
from urbanbrain.capability.base import BUILTINS
from urbanbrain.core.errors import AlreadyExistsError
from urbanbrain.meta.departments import add_department


def publish_echo() -> None:
    """The shipped `echo` built-in; registered in code only if the package does not provide it."""
    if "echo" not in BUILTINS.names():  # pragma: no cover - the package ships it
        from tests.capability.echo_spec import SPEC

        BUILTINS.add("echo", SPEC)
    assert catalog.publish_builtins(["echo"])["published"] == ["echo"]


@dataclass
class Caller:
    consumer: str
    department: str
    key: str
    grant_id: str | None


def caller(consumer: str, department: str, capability: str | None = "echo", *, approve: bool = True,
           per_minute: int = 1000, per_day: int = 100_000) -> Caller:
    """A consumer of `department` holding a key and (optionally approved) grant for `capability`."""
    with contextlib.suppress(AlreadyExistsError):
        add_department(f"Department {department}", department)
    consumers.add_consumer(consumer, department)
    key = consumers.create_key(consumer).key
    grant_id = None
    if capability:
        grant = grants.request_grant(consumer, capability, per_minute=per_minute, per_day=per_day)
        grant_id = grant.id
        if approve:
            grants.approve_grant(grant.id, approver="test", department=grant.owner)
    return Caller(consumer, department, key, grant_id)

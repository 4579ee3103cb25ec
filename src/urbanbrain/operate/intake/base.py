"""The intake protocol, its entry-point registry (`urbanbrain.intake`), and the one pipeline every
channel feeds: locate → propose (category, department, duplicates) → create (idempotent on the
channel's own id) → dispatch automatically when the proposal is sure.

A channel is a small object with a `name` and `to_report(payload) -> Report`; it validates its own
payload shape. Built-ins (`form`, `alert`, `dataset`, `open311`) register through the same entry
points a plugin would use.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from urbanbrain.core.registry import Registry
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.operate.cases import Report, create_case


@runtime_checkable
class IntakeChannel(Protocol):
    name: str

    def to_report(self, payload: Mapping[str, Any]) -> Report:
        """The payload as a report; `ValidationError` naming the field for anything malformed."""
        ...


CHANNELS: Registry[IntakeChannel] = Registry("urbanbrain.intake", "intake channel")


def channel(name: str) -> IntakeChannel:
    return CHANNELS.get(name)


def submit(report: Report, by: Principal, *, authorise: bool = True, now: datetime | None = None,
           require_location: bool = True) -> tuple[dict[str, Any], bool]:
    """Run a report through the pipeline; `(case, created)`. Validation happens before anything is written."""
    from urbanbrain.operate.dispatch import AUTO, propose
    from urbanbrain.operate.locate import locate

    report.validate()
    if require_location or report.address or report.lon is not None:
        where = locate(report.address, report.lon, report.lat)
        report.district = report.district or where.district
        report.address = where.standard or report.address
        report.extra["location"] = where.explain()
    with _writer(), session_scope() as s:  # the duplicates read and the creation in one transaction: one commit
        proposal = propose({"id": "", "description": report.description, "category": report.category,
                            "district": report.district, "lon": report.lon, "lat": report.lat,
                            "address": report.address,
                            "created_at": (report.reported_at or now or _now()).isoformat()}, session=s)
        report.category = report.category or proposal.category
        report.extra["proposal"] = proposal.as_dict()
        then = None
        if proposal.automatic and proposal.department:
            then = ("dispatch", AUTO, {"department": proposal.department, "decision": "auto",
                                       "note": "; ".join(proposal.reasons)})
        return create_case(report, by, now=now, authorise=authorise, then=then, session=s, audit_behind=True)


_SQLITE_WRITER = threading.Lock()


def _writer() -> AbstractContextManager[Any]:
    """On SQLite, one intake transaction at a time in this process. SQLite has one writer anyway; waiting
    here costs the time of the transaction ahead, while waiting in SQLite's busy handler sleeps in growing
    steps (p99 1.5 s with 8 concurrent Open311 POSTs in bench/cases), and a transaction that read before
    another committed cannot then write at all (SQLITE_BUSY_SNAPSHOT)."""
    from urbanbrain.meta.db import metadata_url

    return _SQLITE_WRITER if metadata_url().startswith("sqlite") else nullcontext()


def _now() -> datetime:
    from urbanbrain.core.clock import utcnow

    return utcnow()

"""The intake protocol, its entry-point registry (`urbanbrain.intake`), and the one pipeline every
channel feeds: locate → propose (category, department, duplicates) → create (idempotent on the
channel's own id) → dispatch automatically when the proposal is sure.

A channel is a small object with a `name` and `to_report(payload) -> Report`; it validates its own
payload shape. Built-ins (`form`, `alert`, `dataset`, `open311`) register through the same entry
points a plugin would use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.orm import Session

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
    """Run a report through the pipeline; `(case, created)`. Validation happens before anything is written.

    On SQLite, reports arriving together are committed together (`urbanbrain.operate.intake.batch`): one
    transaction, one audit append and one fsync for up to 64 of them, each in its own savepoint. On
    PostgreSQL every report is its own transaction: concurrent transactions there write at once, and the
    server already shares one WAL flush among the commits that arrive together."""
    prepare(report, require_location=require_location)
    if _grouped():
        from urbanbrain.operate.intake import batch

        return batch.submit(report, by, authorise=authorise, now=now)
    with session_scope() as s:  # the duplicates read and the creation in one transaction: one commit
        return write_in(s, report, by, authorise=authorise, now=now)


async def submit_async(work: Callable[[], tuple[Report, Principal]], *, authorise: bool = True
                       ) -> tuple[dict[str, Any], bool]:
    """`submit` for a caller on the event loop (the Open311 front): `work()` reads the request as a report
    and says who sends it (key check, form), off the loop. On SQLite the intake writer runs `work`,
    `prepare` and the group commit in turn, so the loop hands the request over once; on PostgreSQL a
    worker thread runs `submit`."""
    if _grouped():
        from urbanbrain.operate.intake import batch

        def ready() -> tuple[Report, Principal]:
            report, by = work()
            prepare(report)
            return report, by

        return await batch.submit_async(ready, authorise=authorise)
    import asyncio

    def alone() -> tuple[dict[str, Any], bool]:
        report, by = work()
        return submit(report, by, authorise=authorise)

    return await asyncio.to_thread(alone)


def _grouped() -> bool:
    """Whether reports are committed in groups by the intake writer: SQLite's one writer (see `submit`)."""
    from urbanbrain.meta.db import metadata_url

    return metadata_url().startswith("sqlite")


def prepare(report: Report, *, require_location: bool = True) -> None:
    """Validate and locate the report: the pipeline's steps that need no transaction."""
    from urbanbrain.operate.locate import locate

    report.validate()
    if require_location or report.address or report.lon is not None:
        where = locate(report.address, report.lon, report.lat)
        report.district = report.district or where.district
        report.address = where.standard or report.address
        report.extra["location"] = where.explain()


def write_in(s: Session, report: Report, by: Principal, *, authorise: bool = True, now: datetime | None = None,
             audit_into: list[Any] | None = None) -> tuple[dict[str, Any], bool]:
    """Propose (category, department, duplicates) and create the case inside `s`, auto-dispatched when the
    proposal is sure. Audit entries go to `audit_into` when given, else behind the commit."""
    from urbanbrain.operate.dispatch import AUTO, propose

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
    return create_case(report, by, now=now, authorise=authorise, then=then, session=s,
                       audit_behind=audit_into is None, audit_into=audit_into)


def _now() -> datetime:
    from urbanbrain.core.clock import utcnow

    return utcnow()

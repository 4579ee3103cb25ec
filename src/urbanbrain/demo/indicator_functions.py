"""The demo city's function indicator: a vital sign computed in Python over two governed queries.

Registered in the `urbanbrain.indicators` entry-point group (pyproject.toml), as any package would
register its own; `demo.indicator_catalogue` defines it beside the SQL ones.
"""

from __future__ import annotations

from urbanbrain.core.errors import ValidationError
from urbanbrain.operate.indicator_functions import Governed

TICKETS = "hotline.hotline_tickets.tickets"
EVENTS = "hotline.hotline_tickets.ticket_events"
WINDOW_DAYS = 30


def hotline_backlog_days(q: Governed) -> dict[str | None, float]:
    """12345 积压消化天数: tickets in progress ÷ tickets closed per day over the last 30 days of the event
    log — how many days the hotline needs to clear its backlog at its current pace, city-wide and per
    district (a district that closed nothing in the window has no pace, so no value).

    Why a function: the backlog comes from the ticket table and the pace from the event log, and the
    ratio needs both per district with the guard above; in SQL that is a three-way join nobody reads."""
    backlog = {r["district"]: int(r["n"]) for r in q.rows(
        f"SELECT district, count(*) AS n FROM {TICKETS} WHERE status IN ('已派单', '处理中') GROUP BY 1")}
    closed = {r["district"]: int(r["n"]) for r in q.rows(
        f"SELECT t.district, count(*) AS n FROM {EVENTS} e JOIN {TICKETS} t USING (ticket_id) "
        f"WHERE e.status = '已办结' AND e.\"at\" > (SELECT max(\"at\") FROM {EVENTS}) - INTERVAL {WINDOW_DAYS} DAY "
        "GROUP BY 1")}
    total_closed = sum(closed.values())
    if not total_closed:
        raise ValidationError(f"no ticket was closed in the last {WINDOW_DAYS} days of the log",
                              hint="the backlog cannot be cleared at a pace of zero; check the event log is syncing")
    out: dict[str | None, float] = {None: round(sum(backlog.values()) * WINDOW_DAYS / total_closed, 1)}
    for district, n in closed.items():
        if district:
            out[district] = round(backlog.get(district, 0) * WINDOW_DAYS / n, 1)
    return out

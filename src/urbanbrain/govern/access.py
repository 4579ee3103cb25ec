"""The hooks governance calls so that the audit log records every read of data and every change.

The audit log is subscribed from the start (reads are buffered and chained in batches; changes are
written at once); other listeners (a SIEM export, say) append to `READ_LISTENERS` / `CHANGE_LISTENERS`.
A listener that raises stops the read: an access that cannot be recorded must not happen.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any

from urbanbrain.govern.principals import Principal

ReadListener = Callable[[Principal, str, Sequence[str], int, Sequence[str], "str | None"], None]
ChangeListener = Callable[[Principal, str, str, dict[str, Any]], None]
# The statement of the read being reported, for listeners that record it (kept out of ReadListener's
# signature so that existing listeners keep working).
_STATEMENT: ContextVar[str | None] = ContextVar("urbanbrain_read_statement", default=None)



def _audit_read(principal: Principal, dataset: str, columns: Sequence[str], rows: int, masked: Sequence[str],
                grant_id: str | None) -> None:
    from urbanbrain.govern import audit  # the audit log reads metadata; imported when data is first read

    audit.record_read(principal, dataset, columns, rows, masked, grant_id, statement=_STATEMENT.get())


def _audit_change(principal: Principal, action: str, target: str, detail: dict[str, Any]) -> None:
    from urbanbrain.govern import audit

    audit.record(principal, action, target, detail)


READ_LISTENERS: list[ReadListener] = [_audit_read]
CHANGE_LISTENERS: list[ChangeListener] = [_audit_change]


def on_read(principal: Principal, dataset: str, columns: Sequence[str], rows: int, masked: Sequence[str],
            grant_id: str | None, *, statement: str | None = None) -> None:
    """`principal` read `rows` rows of `columns` of `dataset`; `masked` of them masked; under `grant_id`;
    `statement` is the SQL text that read them (recorded in the audit entry)."""
    token = _STATEMENT.set(statement)
    try:
        for listener in READ_LISTENERS:
            listener(principal, dataset, columns, rows, masked, grant_id)
    finally:
        _STATEMENT.reset(token)


def on_change(principal: Principal, action: str, target: str, detail: dict[str, Any]) -> None:
    """A classification, row filter or grant changed, e.g. `on_change(p, "grant.approve", "dgr_…", {...})`."""
    for listener in CHANGE_LISTENERS:
        listener(principal, action, target, detail)

"""The case state machine: which action moves a case from which status to which, and who answers for it.

Pure data and small pure functions, so the service layer, the console (which buttons to show) and the
property-based tests read the same table.

    new ──dispatch──▶ dispatched ──accept──▶ accepted ──handle──▶ handling ──feedback──▶ resolved ──close──▶ closed
     ▲                 │    ▲                   │                                 ▲        │  ▲               │
     └──(returned)◀────┴────┼───────return──────┘                                 └─rate───┘  └────reopen─────┘
    new|returned|dispatched ──merge──▶ merged (a duplicate of an earlier case)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

STATUSES = ("new", "dispatched", "returned", "accepted", "handling", "resolved", "closed", "merged")
OPEN = ("new", "dispatched", "returned", "accepted", "handling")  # the SLA clocks run while a case is here
TERMINAL = ("closed", "merged")


@dataclass(frozen=True)
class Transition:
    """`to=None` keeps the status (rating records the resident's verdict without moving the case).
    `by_ops`: authorised against the operations centre's department, not the case's department."""

    sources: tuple[str, ...]
    to: str | None
    by_ops: bool


TRANSITIONS: dict[str, Transition] = {
    "dispatch": Transition(("new", "returned", "dispatched"), "dispatched", True),
    "accept": Transition(("dispatched",), "accepted", False),
    "return": Transition(("dispatched", "accepted"), "returned", False),
    "handle": Transition(("accepted", "handling"), "handling", False),
    "feedback": Transition(("accepted", "handling"), "resolved", False),
    "rate": Transition(("resolved", "closed"), None, True),
    "close": Transition(("resolved",), "closed", True),
    "reopen": Transition(("resolved", "closed"), "handling", True),
    "merge": Transition(("new", "returned", "dispatched"), "merged", True),
}


def ops_department() -> str:
    """The operations centre's department code (dispatchers work there). The 12345 hotline centre is
    the city's dispatcher in the demo; a city sets URBANBRAIN_OPS_DEPARTMENT to its own."""
    return os.environ.get("URBANBRAIN_OPS_DEPARTMENT", "hotline")


def allowed_actions(status: str) -> list[str]:
    """Actions that may be taken from `status`, in the table's order (the console shows these)."""
    return list(_allowed(status))


@lru_cache(maxsize=64)
def _allowed(status: str) -> tuple[str, ...]:
    """The table is fixed at import: each status's actions are worked out once (every case shown asks)."""
    return tuple(name for name, t in TRANSITIONS.items() if status in t.sources)


def target_status(action: str, status: str) -> str:
    t = TRANSITIONS[action]
    return t.to or status

"""Two people acting on one case at once on PostgreSQL: exactly one wins, the other is told, nothing lost."""

from __future__ import annotations

import threading

import pytest

from tests.operate.helpers import DISPATCHER, T0, URBAN, make_departments, report
from urbanbrain.core.settings import get_settings
from urbanbrain.operate.cases import create_case, get_case, transition
from urbanbrain.operate.errors import StaleVersionError


def test_two_writers_one_winner(pg_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANBRAIN_DATABASE_URL", pg_db)
    get_settings.cache_clear()
    make_departments()
    rounds = 12
    for k in range(rounds):
        cid = create_case(report(f"c{k}"), DISPATCHER, now=T0)[0]["id"]
        transition(cid, "dispatch", DISPATCHER, version=1, department="urban")
        barrier = threading.Barrier(2)
        outcomes: dict[str, str] = {}

        def act(name: str, action: str, params: dict[str, str], case_id: str = cid,
                out: dict[str, str] = outcomes, gate: threading.Barrier = barrier) -> None:
            gate.wait(timeout=30)
            try:
                transition(case_id, action, URBAN, version=2, **params)
                out[name] = "won"
            except StaleVersionError:
                out[name] = "stale"

        threads = [threading.Thread(target=act, args=("accept", "accept", {})),
                   threading.Thread(target=act, args=("return", "return", {"reason": "not ours"}))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert sorted(outcomes.values()) == ["stale", "won"], outcomes
        case = get_case(cid, DISPATCHER)
        winner = next(n for n, o in outcomes.items() if o == "won")
        assert case["version"] == 3 and len(case["history"]) == 3
        assert case["history"][-1]["action"] == winner
        assert case["status"] == ("accepted" if winner == "accept" else "returned")

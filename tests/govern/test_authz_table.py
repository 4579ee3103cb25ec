"""The actions × roles table: one module, sorted, documented from itself, reached by every write route."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from urbanbrain.core.errors import PermissionDeniedError
from urbanbrain.govern.authz import RULES, allowed, authorize
from urbanbrain.govern.principals import ANALYST, DEPT_ADMIN, STEWARD, SYSTEM, Principal
from urbanbrain.web.actions import DOC, NOT_GOVERNED, ROUTE_ACTIONS, render, rules_of
from urbanbrain.web.app import create_app

READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def test_rules_are_sorted_so_additions_merge_cleanly() -> None:
    assert list(RULES) == sorted(RULES)


def test_docs_governance_md_is_generated_from_the_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text, "docs/governance.md is stale: run `python -m urbanbrain.web.actions --write`"
    for action in RULES:
        assert f"`{action}`" in text


def _app_writes() -> set[tuple[str, str]]:
    """Every state-changing (method, path): the OpenAPI document's, and the console's (not in it)."""
    app = create_app()
    found: set[tuple[str, str]] = set()
    with TestClient(app) as client:
        spec = client.get("/openapi.json").json()
    for path, operations in spec["paths"].items():
        found |= {(m.upper(), path) for m in operations if m.upper() not in READ_METHODS}
    for path, methods in _all_routes(app.routes, ""):
        found |= {(m, path) for m in methods if m not in READ_METHODS}
    return found


def _all_routes(routes: list[Any], prefix: str) -> list[tuple[str, set[str]]]:
    """Every route's (path, methods), including routers included with include_in_schema=False
    (FastAPI 0.165 keeps those as `_IncludedRouter` wrappers around the original router)."""
    out: list[tuple[str, set[str]]] = []
    for route in routes:
        context = getattr(route, "include_context", None)
        if context is not None:
            out += _all_routes(route.original_router.routes, prefix + context.prefix)
        elif isinstance(route, APIRoute):
            out.append((prefix + route.path, set(route.methods)))
    return out


def test_every_state_changing_route_has_a_rule() -> None:
    writes = _app_writes()
    assert ("POST", "/api/systems") in writes and ("POST", "/sharing/{grant_id}/approve") in writes
    missing = sorted(writes - set(ROUTE_ACTIONS))
    assert not missing, f"routes with no entry in urbanbrain.web.actions.ROUTE_ACTIONS: {missing}"
    stale = sorted(set(ROUTE_ACTIONS) - writes)
    assert not stale, f"ROUTE_ACTIONS names routes the app no longer has: {stale}"
    for route, action in ROUTE_ACTIONS.items():
        if action is None:
            assert route in NOT_GOVERNED, f"{route} maps to no action and says not why"
        else:
            assert rules_of(action), f"{route} reaches {action!r}, which has no rule"


STEWARD_POLICE = Principal("user", "s", frozenset({"police"}), frozenset({STEWARD}))
ANALYST_MARKET = Principal("user", "a", frozenset({"market"}), frozenset({ANALYST}))
MIXED = Principal("user", "m", frozenset({"police", "market"}), frozenset({STEWARD, ANALYST}),
                  frozenset({(STEWARD, "police"), (ANALYST, "market")}))


def test_roles_count_only_in_their_own_department() -> None:
    authorize("capability.approve", STEWARD_POLICE, "police")
    authorize("capability.approve", MIXED, "POLICE")
    with pytest.raises(PermissionDeniedError, match="steward of department 'market'"):
        authorize("capability.approve", MIXED, "market")
    with pytest.raises(PermissionDeniedError):
        authorize("capability.approve", ANALYST_MARKET, "police")
    with pytest.raises(PermissionDeniedError):
        authorize("capability.approve", STEWARD_POLICE, None)  # no target department: no department rule


def test_platform_rules_and_unknown_actions_fail_closed() -> None:
    admin_of_police = Principal("user", "d", frozenset({"police"}), frozenset({DEPT_ADMIN}))
    assert not allowed("department.create", admin_of_police)
    assert not allowed("user.role", admin_of_police, "police")
    assert not allowed("no.such.action", admin_of_police, "police")
    assert allowed("no.such.action", SYSTEM)
    assert allowed("token.create", ANALYST_MARKET)  # any signed-in user, for their own token
    assert not allowed("token.create", Principal("consumer", "app", frozenset({"market"})))
    assert allowed("audit.read", MIXED) and not allowed("audit.read", ANALYST_MARKET)

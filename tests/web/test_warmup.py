"""The server's background warm-up (`web.warmup`): it runs after start, primes only what is the same for
every viewer, and can be turned off. Attacks: a viewer the facilities' policies keep out still gets no
facility points, and a masked address still places nothing, after the warm-up filled the address cache
and after another principal's request placed the very same addresses."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.operate.test_ioc_geocode import HOSPITALS, SCHOOLS, city  # noqa: F401 - the fixture
from urbanbrain.core.settings import Settings, get_settings
from urbanbrain.govern import audit
from urbanbrain.govern import classification as cls
from urbanbrain.govern.users import add_user, create_token
from urbanbrain.operate import ioc_geocode
from urbanbrain.web import warmup
from urbanbrain.web.app import create_app


def _warmup(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    monkeypatch.setenv("URBANBRAIN_WARMUP", "true" if on else "false")
    get_settings.cache_clear()
    warmup.reset()


def _facility_points(body: dict) -> list[dict]:
    return [p for p in body["points"] if p.get("layer") == "facilities"]


def test_the_warm_up_primes_and_the_wall_stays_governed(city: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    add_user("dispatcher", "correct horse battery", roles=[("operator", "hotline")])
    add_user("health.analyst", "correct horse battery", roles=[("analyst", "health")])
    _warmup(monkeypatch, True)
    before = dict(ioc_geocode.stats)
    with TestClient(create_app(), follow_redirects=False) as client:
        assert warmup.done.wait(120), "the warm-up finished"
        assert set(warmup.report) == {name for name, _ in warmup.STEPS}
        assert all(isinstance(v, float) for v in warmup.report.values()), warmup.report
        # the hospitals' and the school's addresses were placed by the warm-up, as SYSTEM, and logged
        assert ioc_geocode.stats["matched"] >= before["matched"] + 4
        reads = audit.list_entries(principal="system:urbanbrain", action="data.read", limit=50)
        assert {HOSPITALS, SCHOOLS} <= {e.target for e in reads}

        disp = {"Authorization": f"Bearer {create_token('dispatcher').token}"}
        health = {"Authorization": f"Bearer {create_token('health.analyst').token}"}
        # attack: a warm cache gives the hotline nothing from a table it may not read
        closed = client.get("/api/ioc/facilities", headers=disp).json()
        assert closed["points"] == [] and closed["total"] == 0
        assert not _facility_points(client.get("/api/ioc/snapshot", headers=disp).json())

        own = client.get("/api/ioc/facilities", headers=health).json()  # another principal's request
        assert (own["located"], own["total"]) == (2, 3)
        assert not [p for p in own["points"] if p["id"].startswith(f"f:{SCHOOLS}:")]  # warm, still not health's

        # attack: after the owner's request, the hotline still gets nothing, from the API or the snapshot
        again = client.get("/api/ioc/facilities", headers=disp).json()
        assert again["points"] == [] and again["total"] == 0
        assert not _facility_points(client.get("/api/ioc/snapshot", headers=disp).json())

        # attack: the table shared but its addresses masked: every address is in the cache, none is placed
        cls.set_default_level(HOSPITALS, "open")
        for column in ("hospital_id", "name", "level", "address", "district_code"):
            cls.set_field(HOSPITALS, column, level="open")
        masked = client.get("/api/ioc/facilities", headers=disp).json()
        assert masked["points"] == [] and (masked["located"], masked["total"]) == (0, 3)
        assert client.get("/api/ioc/facilities", headers=health).json()["located"] == 2  # the owner, in clear


def test_the_warm_up_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("URBANBRAIN_WARMUP", raising=False)
    assert Settings().warmup is True  # on by default: `urbanbrain serve` and `urbanbrain demo` warm up
    _warmup(monkeypatch, False)
    with TestClient(create_app()) as client:
        assert client.get("/api/health").status_code == 200
    assert not warmup.started() and not warmup.done.is_set() and warmup.report == {}


def test_the_warm_up_runs_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    _warmup(monkeypatch, True)
    with TestClient(create_app()):
        assert warmup.done.wait(120)
    with TestClient(create_app()):
        pass
    assert warmup.started() and warmup.start_warmup() is None  # a second app does not warm up again
    warmup.reset()

"""Issue 13, point 6: data APIs are proposals a steward reviews, titled from field names in both
languages; a lookup by a personal field is published only with a purpose; the catalog pages and
counts by kind. On one small synced dataset (SQLite → lake), with real principals and the audit log."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.sync.helpers import register
from urbanbrain.capability import catalog
from urbanbrain.capability.suggest import publish_suggestion, suggest_capabilities
from urbanbrain.core.errors import PermissionDeniedError, ValidationError
from urbanbrain.govern import audit
from urbanbrain.govern import classification as cls
from urbanbrain.govern.labels import labels_of, set_label
from urbanbrain.govern.principals import ANALYST, DEVELOPER, STEWARD, Principal
from urbanbrain.sync.runner import run_sync

ELDERLY = "civil.care.elderly"
STEVE = Principal("user", "steve", frozenset({"civil"}), frozenset({STEWARD}))
ANA = Principal("user", "ana", frozenset({"civil"}), frozenset({ANALYST}))
MARK = Principal("user", "mark", frozenset({"market"}), frozenset({STEWARD}))


@pytest.fixture
def elderly(tmp_path: Path) -> str:
    db = tmp_path / "care.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE elderly (elder_id TEXT PRIMARY KEY, phone TEXT, district TEXT, care_level TEXT)")
    conn.executemany("INSERT INTO elderly VALUES (?, ?, ?, ?)",
                     [(f"E{i:04d}", f"139{i:08d}", ["芙蓉区", "岳麓区"][i % 2], ["自理", "半护理", "全护理"][i % 3])
                      for i in range(60)])
    conn.commit()
    conn.close()
    register("care", "sqlite", {"url": f"sqlite:///{db}"}, dept="civil")
    register("licences", "sqlite", {"url": f"sqlite:///{db}"}, dept="market")  # so `market` exists
    assert run_sync("care").status == "succeeded"
    cls.set_field(ELDERLY, "phone", pii_type="mobile", level="conditional")
    return ELDERLY


def test_suggestions_are_titled_from_field_names_and_publish_nothing(elderly: str) -> None:
    set_label(elderly, "", label_zh="养老服务对象", label_en="elderly care recipients", by=STEVE)
    set_label(elderly, "elder_id", label_zh="老人编号", label_en="elder ID", by=STEVE)
    set_label(elderly, "care_level", label_zh="照护等级", label_en="care level", by=STEVE)
    found = {s.name: s for s in suggest_capabilities(elderly, by=STEVE)}
    lookup = found["civil_elderly_lookup_elder_id"]
    assert lookup.spec.title_zh == "养老服务对象查询（按老人编号）"
    assert lookup.spec.title_en == "elderly care recipients by elder ID"
    assert found["civil_elderly_count_by_care_level"].spec.title_zh == "养老服务对象按照护等级统计"
    assert found["civil_elderly_count_by_district"].spec.title_en == "elderly care recipients: count by district"
    assert not any("elder_id" in s.spec.title_zh or "elderly" in s.spec.title_zh for s in found.values())
    assert found["civil_elderly_lookup_phone"].needs_purpose and not lookup.needs_purpose
    assert catalog.list_capabilities(department="civil") == []  # proposals only
    assert labels_of(elderly)["district"].label_en == "district"  # the vocabulary's name, until a steward's


def test_a_lookup_by_a_personal_field_needs_a_purpose_which_is_kept_and_audited(elderly: str) -> None:
    with pytest.raises(ValidationError, match="stated purpose"):
        publish_suggestion(elderly, "civil_elderly_lookup_phone", by=STEVE)
    with pytest.raises(ValidationError):
        publish_suggestion(elderly, "civil_elderly_lookup_phone", purpose="ok", by=STEVE)  # a word is no purpose
    assert catalog.list_capabilities(department="civil") == []
    purpose = "回访核实养老服务对象身份 (call-back identity checks)"
    cap = publish_suggestion(elderly, "civil_elderly_lookup_phone", purpose=purpose, by=STEVE)
    assert cap.status == "published" and cap.owner == "civil" and cap.approved_by == STEVE.label
    assert cap.implementation["purpose"] == purpose and purpose in cap.description_en
    audit.flush()
    entries = audit.list_entries(action="capability.publish_suggestion")
    assert [e.detail.get("purpose") for e in entries] == [purpose]
    plain = publish_suggestion(elderly, "civil_elderly_count_by_care_level", by=STEVE)  # not personal: no purpose
    assert [s.published for s in suggest_capabilities(elderly, by=STEVE) if s.name == plain.name] == [True]


def test_only_the_owning_departments_stewards_suggest_publish_and_name(elderly: str) -> None:
    for who in (ANA, MARK):
        with pytest.raises(PermissionDeniedError):
            suggest_capabilities(elderly, by=who)
        with pytest.raises(PermissionDeniedError):
            publish_suggestion(elderly, "civil_elderly_count_by_district", by=who)
        with pytest.raises(PermissionDeniedError):
            set_label(elderly, "elder_id", label_en="hijacked", by=who)
    assert labels_of(elderly)["elder_id"].label_en == "elder id" and catalog.list_capabilities(department="civil") == []
    set_label(elderly, "elder_id", label_en="elder ID", by=STEVE)
    audit.flush()
    [entry] = audit.list_entries(action="classification.label")
    assert entry.principal == STEVE.label and entry.detail["changed"] == {"elder_id": {"label_en": "elder ID"}}


def test_the_catalog_pages_and_counts_by_kind(elderly: str) -> None:
    catalog.publish_builtins()
    for name in ("civil_elderly_count_by_district", "civil_elderly_count_by_care_level", "civil_elderly_list"):
        publish_suggestion(elderly, name, by=STEVE)
    every = catalog.catalog_page(limit=None)
    assert every.kinds["data_api"] == 3 and every.kinds["builtin"] >= 5 and every.kinds["indicator"] == 0
    assert every.total == sum(every.kinds.values())
    apis = catalog.catalog_page(kind="data_api", limit=2)
    assert apis.total == 3 and len(apis.items) == 2 and {c.kind for c in apis.items} == {"data_api"}
    rest = catalog.catalog_page(kind="data_api", offset=2, limit=2)
    assert [c.name for c in rest.items] == ["civil_elderly_list"] and rest.kinds == every.kinds


def test_the_terminal_suggests_names_and_publishes_with_a_purpose(elderly: str) -> None:
    from typer.testing import CliRunner

    from urbanbrain.cli.main import app

    runner = CliRunner()
    named = runner.invoke(app, ["dataset", "label", elderly, "elder_id", "--zh", "老人编号", "--en", "elder ID"])
    assert named.exit_code == 0, named.output
    listed = runner.invoke(app, ["capability", "suggest", elderly, "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert "按老人编号" in listed.output and "civil_elderly_lookup_phone" in listed.output
    refused = runner.invoke(app, ["capability", "publish", "--dataset", elderly, "--suggestion",
                                  "civil_elderly_lookup_phone"])
    assert refused.exit_code != 0 and "--purpose" in refused.output
    done = runner.invoke(app, ["capability", "publish", "--dataset", elderly, "--suggestion",
                               "civil_elderly_lookup_phone", "--purpose", "call-back identity checks"])
    assert done.exit_code == 0, done.output
    assert catalog.get_capability("civil_elderly_lookup_phone").implementation["purpose"] == "call-back identity checks"


def test_grant_many_checks_both_departments_and_audits_each_grant(elderly: str) -> None:
    from urbanbrain.capability import consumers
    from urbanbrain.capability.batch import GrantWish, grant_many
    from urbanbrain.capability.grants import list_grants
    from urbanbrain.govern.principals import SYSTEM

    cap = publish_suggestion(elderly, "civil_elderly_count_by_district", by=STEVE)
    consumers.add_consumer("market-app", "market")
    wish = GrantWish("market-app", cap.name, purpose="district statistics")
    dev = Principal("user", "dev", frozenset({"market"}), frozenset({DEVELOPER}))
    granted, skipped = grant_many([wish], by=dev)  # market's developer may ask, but only civil may approve
    assert granted == [] and "capability_grant.approve" in skipped[0] and list_grants() == []
    granted, skipped = grant_many([wish], by=STEVE)  # civil's steward may approve, but not ask for market
    assert granted == [] and "capability_grant.request" in skipped[0] and list_grants() == []
    granted, skipped = grant_many([wish, GrantWish("market-app", "no_such_api")], by=SYSTEM)
    assert [g.status for g in granted] == ["approved"] and "no_such_api" in skipped[0]
    audit.flush()
    assert [e.target for e in audit.list_entries(action="grant.approve")] == [f"grant:{granted[0].id}"]
    assert [e.target for e in audit.list_entries(action="grant.request")] == [f"grant:{granted[0].id}"]


def test_the_api_and_the_console_page_the_catalog_by_kind(elderly: str) -> None:
    from fastapi.testclient import TestClient

    from urbanbrain.web.app import create_app

    catalog.publish_builtins()
    for name in ("civil_elderly_count_by_district", "civil_elderly_count_by_care_level", "civil_elderly_list"):
        publish_suggestion(elderly, name, by=STEVE)
    with TestClient(create_app()) as client:
        answer = client.get("/api/capabilities", params={"kind": "data_api", "limit": 2})
        assert answer.status_code == 200 and len(answer.json()) == 2
        assert answer.headers["x-total-count"] == "3" and "data_api=3" in answer.headers["x-kind-counts"]
        assert len(client.get("/api/capabilities", params={"kind": "data_api", "offset": 2}).json()) == 1
        html = client.get("/capabilities", params={"kind": "data_api"}, cookies={"lang": "zh-CN"}).text
        assert 'data-kind="data_api"' in html and "数据接口" in html and "civil_elderly_list" in html
        assert "validate_id_number" not in html  # a built-in, filtered out
        suggestions = client.get(f"/api/datasets/{elderly}/suggestions").json()
        assert {s["name"]: s["published"] for s in suggestions}["civil_elderly_list"] is True

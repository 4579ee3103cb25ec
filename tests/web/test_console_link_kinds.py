"""/link shows every entity kind (presets and a steward's) with its fields' comparison types and the
datasets mapped to it; a steward defines a kind and maps columns from the console, through the same
service functions as `urbanbrain link kind define` and `urbanbrain link map` (issue 18)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from urbanbrain.link import kinds, mapping
from urbanbrain.web.app import create_app


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:  # the local operator (no users yet): a platform admin
        yield c


def test_a_steward_defines_a_kind_and_maps_columns_from_the_console(client: TestClient) -> None:
    page = client.get("/link").text
    assert 'id="kind-organisation"' in page and "credit_code</span>: identifier" in page
    assert 'action="/link/kinds"' in page and "Define a kind" in page
    done = client.post("/link/kinds", data={"name": "venue", "fields": "name=name\nplace=text, phone=phone",
                                            "prefix": "VEN", "mode": "link_only"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/link?kind=venue"
    assert kinds.get_kind("venue").fields == {"name": "name", "place": "text", "phone": "phone"}
    assert kinds.get_kind("venue").mode == "link_only"

    done = client.post("/link/venue/mappings", data={
        "dataset": "guides.fodors.fodors", "key": "id", "action": "save",
        "columns": "name=name\nplace=addr+city\nphone==regexp_replace(phone, '[^0-9]', '', 'g')"},
        follow_redirects=False)
    assert done.status_code == 303
    (saved,) = mapping.load_mappings("venue")
    assert saved.columns == {"name": "name", "place": ["addr", "city"],
                             "phone": "=regexp_replace(phone, '[^0-9]', '', 'g')"}
    client.post("/link/venue/mappings", data={"dataset": "guides.fodors.fodors", "columns": "phone="})
    assert mapping.load_mappings("venue")[0].columns == {"name": "name", "place": ["addr", "city"]}

    page = client.get("/link", params={"kind": "venue"}).text
    assert 'href="/link?kind=venue"' in page and "place</span>: text" in page
    assert "guides.fodors.fodors" in page and "place = addr+city" in page

    zh = client.get("/link", params={"kind": "venue"}, headers={"accept-language": "zh-CN"}).text
    assert "定义实体类型" in zh and "映射到 venue 的数据集" in zh


def test_console_forms_refuse_what_the_cli_refuses(client: TestClient) -> None:
    bad = client.post("/link/kinds", data={"name": "shop", "fields": "name=fuzzy"})
    assert bad.status_code == 422 and "unknown comparison type" in bad.text
    bad = client.post("/link/person/mappings", data={"dataset": "x.y.z", "key": "id", "columns": "city==1; DROP"})
    assert bad.status_code == 422
    bad = client.post("/link/person/mappings", data={"dataset": "x.y.z", "key": "id", "columns": "colour=paint"})
    assert bad.status_code == 422 and "person has no field colour" in bad.text
    assert mapping.load_mappings("person") == []

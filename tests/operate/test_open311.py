"""Open311 GeoReport v2: every field the spec lists, in JSON and XML; errors in Open311's shape."""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from tests.operate.helpers import OPS_HEAD, make_departments
from urbanbrain.capability.consumers import add_consumer, create_key
from urbanbrain.operate import catalogue
from urbanbrain.operate.intake.open311 import REQUEST_FIELDS, SERVICE_FIELDS
from urbanbrain.web.app import create_app

BASE = "/open311/v2"
POST_FIELDS = ("service_request_id", "service_notice", "account_id")
DISCOVERY_FIELDS = ("changeset", "contact", "key_service", "endpoints")
ENDPOINT_FIELDS = ("specification", "url", "changeset", "type", "formats")


@pytest.fixture
def client() -> Iterator[tuple[TestClient, str]]:
    make_departments()
    catalogue.set_rule(OPS_HEAD, "路灯", "urban")
    catalogue.set_rule(OPS_HEAD, "噪音", "ecology")
    add_consumer("grid-app", "hotline")
    key = create_key("grid-app").key
    with TestClient(create_app()) as c:
        yield c, key


def xml_items(body: bytes, root: str) -> list[dict[str, str]]:
    top = ET.fromstring(body)
    assert top.tag == root
    return [{child.tag: (child.text or "") for child in item} for item in top]


def test_services_json_and_xml(client: tuple[TestClient, str]) -> None:
    c, _ = client
    services = c.get(f"{BASE}/services.json").json()
    assert [s["service_code"] for s in services] == ["噪音", "路灯"]
    assert all(set(SERVICE_FIELDS) == set(s) for s in services)
    xml = c.get(f"{BASE}/services.xml")
    assert xml.headers["content-type"].startswith("text/xml")
    items = xml_items(xml.content, "services")
    assert len(items) == 2 and all(set(SERVICE_FIELDS) == set(i) for i in items)
    assert items[0]["metadata"] == "false"
    assert c.get(f"{BASE}/services/路灯.json").json() == {"service_code": "路灯", "attributes": []}
    discovery = c.get(f"{BASE}/discovery.json").json()
    assert set(DISCOVERY_FIELDS) == set(discovery) and set(ENDPOINT_FIELDS) == set(discovery["endpoints"][0])
    assert ET.fromstring(c.get(f"{BASE}/discovery.xml").content).find("endpoints/endpoint/formats/format") is not None


def test_post_then_get_request(client: tuple[TestClient, str]) -> None:
    c, key = client
    posted = c.post(f"{BASE}/requests.json", data={"api_key": key, "service_code": "路灯", "lat": "28.2",
                                                    "long": "112.98", "description": "路灯不亮", "email": "a@b.cn"})
    assert posted.status_code == 201, posted.text
    [answer] = posted.json()
    assert set(answer) == set(POST_FIELDS)
    rid = answer["service_request_id"]
    [req] = c.get(f"{BASE}/requests/{rid}.json").json()
    assert set(req) == set(REQUEST_FIELDS)
    assert req["status"] == "open" and req["agency_responsible"] == "urban" and req["service_code"] == "路灯"
    assert "a@b.cn" not in str(req)  # public: no personal data
    [ext] = c.get(f"{BASE}/requests/{rid}.json?extensions=true").json()
    assert ext["extended_attributes"]["detailed_status"] == "DISPATCHED"
    items = xml_items(c.get(f"{BASE}/requests.xml?service_code=路灯&status=open").content, "service_requests")
    assert [i["service_request_id"] for i in items] == [rid] and set(REQUEST_FIELDS) == set(items[0])
    posted_xml = c.post(f"{BASE}/requests.xml", data={"api_key": key, "service_code": "噪音",
                                                       "address_string": "长沙市岳麓区麓山南路2号"})
    assert set(xml_items(posted_xml.content, "service_requests")[0]) == set(POST_FIELDS)
    token = c.get(f"{BASE}/tokens/{rid}.json").json()
    assert token == [{"service_request_id": rid, "token": rid}]
    assert len(c.get(f"{BASE}/requests.json").json()) == 2


@pytest.mark.parametrize(("fields", "status", "words"), [
    ({"service_code": "路灯", "lat": "28.2", "long": "112.98"}, 403, "api_key is required"),
    ({"api_key": "nope", "service_code": "路灯", "lat": "28.2", "long": "112.98"}, 403, "not valid"),
    ({"api_key": "KEY", "service_code": "井盖", "lat": "28.2", "long": "112.98"}, 404, "service_code '井盖' not found"),
    ({"api_key": "KEY", "service_code": "路灯"}, 400, "location is required"),
    ({"api_key": "KEY", "service_code": "路灯", "lat": "39.9", "long": "116.4"}, 400, "outside the city"),
])
def test_errors_in_open311_shape(client: tuple[TestClient, str], fields: dict[str, str], status: int,
                                 words: str) -> None:
    c, key = client
    data = {k: (key if v == "KEY" else v) for k, v in fields.items()}
    r = c.post(f"{BASE}/requests.json", data=data)
    assert r.status_code == status
    [err] = r.json()
    assert set(err) == {"code", "description"} and err["code"] == status and words in err["description"]
    rx = c.post(f"{BASE}/requests.xml", data=data)
    assert xml_items(rx.content, "errors")[0]["code"] == str(status)
    assert c.get(f"{BASE}/requests.json").json() == []  # nothing half-done


def test_unknown_things(client: tuple[TestClient, str]) -> None:
    c, _ = client
    assert c.get(f"{BASE}/requests/C-none.json").json()[0]["code"] == 404
    assert c.get(f"{BASE}/services.csv").status_code == 404
    assert c.get(f"{BASE}/requests.json?status=maybe").json()[0]["code"] == 400
    big = c.post(f"{BASE}/requests.json", content=b"x" * 70_000,
                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert big.status_code == 413


def test_media_url_is_only_a_residents_absolute_http_link(client: tuple[TestClient, str]) -> None:
    """GeoReport v2's media_url is the submitter's own link to a photo: shown only when it is an absolute
    http(s) URL; never a department's uploaded photo or an internal path (those need the case's read rule)."""
    from sqlalchemy import update

    from tests.operate.helpers import URBAN
    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import Case
    from urbanbrain.operate.attachments import Upload
    from urbanbrain.operate.cases import transition

    c, key = client
    place = {"api_key": key, "service_code": "路灯", "lat": "28.2", "long": "112.98"}
    for bad in ("javascript:alert(1)", "/api/cases/C1/attachments/att1", "file:///etc/passwd", "https://",
                "data:image/png;base64,iVBORw0KGgo=", "ftp://example.org/a.jpg", "https://a.org/x" + "y" * 2100):
        refused = c.post(f"{BASE}/requests.json", data={**place, "media_url": bad})
        assert refused.status_code == 400 and "media_url must be an absolute http" in refused.text, bad
    link = "https://photos.example.org/p/123.jpg?size=large"
    rid = c.post(f"{BASE}/requests.json", data={**place, "media_url": link}).json()[0]["service_request_id"]
    [req] = c.get(f"{BASE}/requests/{rid}.json").json()
    assert req["media_url"] == link
    assert xml_items(c.get(f"{BASE}/requests/{rid}.xml").content, "service_requests")[0]["media_url"] == link
    plain = c.post(f"{BASE}/requests.json", data={**place, "lat": "28.21", "long": "113.0"}).json()[0]
    pid = plain["service_request_id"]
    transition(pid, "accept", URBAN)
    transition(pid, "feedback", URBAN, note="fixed",
               photos=[Upload("after.jpg", "image/jpeg", b"\xff\xd8\xff\xe0" + b"\0" * 100)])
    [done] = c.get(f"{BASE}/requests/{pid}.json").json()
    assert done["media_url"] == "" and "attachments" not in str(done) and "att" not in done["media_url"]
    with session_scope() as s:  # a row written before intake checked the link is still never shown
        s.execute(update(Case).where(Case.id == pid).values(proposal={"media_url": "/home/ub/attachments/ab/x"}))
    assert c.get(f"{BASE}/requests/{pid}.json").json()[0]["media_url"] == ""

"""`/ioc/screens`, the console editor of wall screens: the form is drawn only for roles `authz.allowed` lets
configure (the role matrix), a post from any other role is refused by the service (attack: 403, nothing
saved, nothing audited), a saved form changes the screen and is audited, in both languages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.operate.helpers import make_departments
from urbanbrain.govern import audit
from urbanbrain.govern.users import add_user, create_token
from urbanbrain.operate import ioc
from urbanbrain.web.app import create_app
from urbanbrain.web.i18n import COOKIE

PASSWORD = "correct horse battery"
# user -> (role, department, may configure): the operations centre (hotline) operators and heads may
MATRIX = {"disp": ("operator", "hotline", True), "ops.head": ("dept_admin", "hotline", True),
          "ops.analyst": ("analyst", "hotline", False), "urban.head": ("dept_admin", "urban", False),
          "urban.handler": ("operator", "urban", False)}
FORM = ("title=%E7%8E%AF%E5%A2%83%E4%B8%93%E5%B1%8F&tiles=environment&tiles=hotline&extra=&layers=sensors"
        "&layers=facilities")


@pytest.fixture
def client() -> Iterator[TestClient]:
    make_departments()
    for user, (role, dept, _) in MATRIX.items():
        add_user(user, PASSWORD, roles=[(role, dept)])
    with TestClient(create_app(), follow_redirects=False) as c:
        yield c


def _as(user: str, lang: str = "zh-CN") -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(user).token}", "Cookie": f"{COOKIE}={lang}"}


def _post(client: TestClient, user: str, path: str, body: str) -> int:
    headers = {**_as(user), "Content-Type": "application/x-www-form-urlencoded"}
    return client.post(path, content=body, headers=headers).status_code


def test_the_form_and_the_refusals_follow_the_role_matrix(client: TestClient) -> None:
    for user, (_, _, may) in MATRIX.items():
        page = client.get("/ioc/screens", headers=_as(user))
        assert page.status_code == 200, user
        assert ('class="screen-form"' in page.text) is may, user  # the buttons only where allowed
        assert ('id="screens-readonly"' in page.text) is not may, user
        if not may:  # attack: the form posted by hand is refused by the service, nothing saved
            assert _post(client, user, "/ioc/screens/main", FORM) == 403, user
            assert _post(client, user, "/ioc/screens", "name=mine&" + FORM) == 403, user
    assert audit.list_entries(action="ioc.configure") == []
    assert ioc.get_screen("main")["updated_at"] is None

    assert _post(client, "ops.head", "/ioc/screens/main", FORM + "&extra=no_such_indicator") == 422
    assert _post(client, "disp", "/ioc/screens/main", FORM) == 303
    saved = ioc.get_screen("main")
    assert saved["title"] == "环境专屏" and saved["tiles"] == ["environment", "hotline"]
    assert saved["layers"] == ["sensors", "facilities"] and saved["updated_by"]
    assert _post(client, "ops.head", "/ioc/screens", "name=night&" + FORM.replace("&layers=facilities", "")) == 303
    assert ioc.get_screen("night")["layers"] == ["sensors"]
    assert sorted(e.target for e in audit.list_entries(action="ioc.configure")) == ["ioc_screen:main",
                                                                                     "ioc_screen:night"]

    zh = client.get("/ioc/screens?saved=main", headers=_as("disp")).text
    assert "大屏配置" in zh and "设施" in zh and "已保存" in zh and 'id="screen-night"' in zh
    en = client.get("/ioc/screens", headers=_as("urban.handler", "en")).text
    assert "Operations-centre screens" in en and "Facilities" in en and "环境专屏" in en  # read-only, but shown

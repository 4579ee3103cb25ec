"""Feedback photos end to end: uploaded through the API (multipart), the console and the CLI, read back
through the one audited download, and refused (oversize, wrong type, stale version, the wrong people,
path tricks) with nothing half-done: no case change, no file, no audit entry of a change."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.operate.helpers import OPS_HEAD, make_departments
from urbanbrain.capability.consumers import add_consumer, create_key
from urbanbrain.core.settings import get_settings
from urbanbrain.govern import audit
from urbanbrain.govern.users import add_user, create_token
from urbanbrain.operate import catalogue
from urbanbrain.web.app import create_app

PASSWORD = "correct-horse-battery-staple-9"
BODY = {"description": "五一大道100号路灯不亮", "category": "路灯", "lon": 112.98, "lat": 28.2}


def png(width: int = 2, height: int = 2, seed: int = 0) -> bytes:
    """A real (tiny) PNG, so the bytes are an image and not only its first four bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\0" + bytes([(seed + x + y) % 256, 0, 0] * width) for y in range(height) for x in range(1))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x11" * 200 + b"\xff\xd9"


def files_under(home: Path) -> list[Path]:
    root = home / "attachments"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def client() -> Iterator[TestClient]:
    make_departments()
    catalogue.set_rule(OPS_HEAD, "路灯", "urban")
    add_user("dispatcher", PASSWORD, roles=[("operator", "hotline")])
    add_user("urban.handler", PASSWORD, roles=[("operator", "urban")])
    add_user("urban.head", PASSWORD, roles=[("dept_admin", "urban")])
    add_user("urban.analyst", PASSWORD, roles=[("analyst", "urban")])
    add_user("housing.handler", PASSWORD, roles=[("operator", "housing")])
    add_user("health.head", PASSWORD, roles=[("dept_admin", "health")])
    with TestClient(create_app(), follow_redirects=False) as c:
        yield c


def bearer(user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(user).token}"}


def accepted_case(c: TestClient, ref: str = "att-1", lon: float = 112.98) -> tuple[str, int]:
    made = c.post("/api/cases", json={**BODY, "source_ref": ref, "lon": lon}, headers=bearer("dispatcher"))
    assert made.status_code == 201, made.text
    case = made.json()
    assert case["department"] == "urban" and case["status"] == "dispatched"
    done = c.post(f"/api/cases/{case['id']}/accept", json={"version": case["version"]},
                  headers=bearer("urban.handler"))
    assert done.status_code == 200, done.text
    return case["id"], done.json()["version"]


def state(c: TestClient, cid: str) -> tuple[str, int, int]:
    case = c.get(f"/api/cases/{cid}", headers=bearer("dispatcher")).json()
    return case["status"], case["version"], len(case["attachments"])


def feedback_entries() -> int:
    return len(audit.list_entries(action="case.feedback", limit=None))


def test_upload_through_the_api_and_download_with_safe_headers(client: TestClient, ub_home: Path) -> None:
    cid, version = accepted_case(client)
    photos = [("photos", ("before.png", png(seed=1), "image/png")), ("photos", ("现场 after.jpg", JPEG, "image/jpeg"))]
    done = client.post(f"/api/cases/{cid}/feedback", data={"note": "路灯已更换", "version": str(version)},
                       files=photos, headers=bearer("urban.handler"))
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "resolved" and done.json()["version"] == version + 1
    case = client.get(f"/api/cases/{cid}", headers=bearer("dispatcher")).json()
    assert [a["name"] for a in case["attachments"]] == ["before.png", "现场 after.jpg"]
    assert case["history"][-1]["detail"]["attachments"] == [a["id"] for a in case["attachments"]]
    assert len(files_under(ub_home)) == 2
    for who in ("dispatcher", "urban.head", "urban.analyst"):  # the ops centre and the owning department read
        got = client.get(case["attachments"][1]["url"], headers=bearer(who))
        assert got.status_code == 200 and got.content == JPEG
        assert got.headers["content-type"] == "image/jpeg"
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-disposition"].startswith('inline; filename="')
        assert "filename*=UTF-8''%E7%8E%B0%E5%9C%BA%20after.jpg" in got.headers["content-disposition"]
        assert "sandbox" in got.headers["content-security-policy"]
    reads = audit.list_entries(action="case.attachment.read", limit=None)
    assert len(reads) == 3 and {r.target for r in reads} == {f"case:{cid}"}
    assert client.get(case["attachments"][0]["url"], headers=bearer("dispatcher")).content == png(seed=1)


def test_a_20_mb_photo_is_refused_with_413_and_nothing_changes(client: TestClient, ub_home: Path) -> None:
    cid, version = accepted_case(client)
    before = feedback_entries()
    huge = b"\xff\xd8\xff\xe0" + b"\0" * (20 * 1024 * 1024)
    too_big = client.post(f"/api/cases/{cid}/feedback", data={"note": "fixed", "version": str(version)},
                          files=[("photos", ("ok.png", png(), "image/png")),
                                 ("photos", ("after.jpg", huge, "image/jpeg"))],
                          headers=bearer("urban.handler"))
    assert too_big.status_code == 413, too_big.text
    body = too_big.json()
    assert body["error"] == "PayloadTooLargeError" and "after.jpg" in body["message"] and "10 MB" in body["message"]
    assert state(client, cid) == ("accepted", version, 0) and files_under(ub_home) == []
    assert feedback_entries() == before
    # the same feedback without the oversize photo goes through
    ok = client.post(f"/api/cases/{cid}/feedback", data={"note": "fixed", "version": str(version)},
                     files=[("photos", ("ok.png", png(), "image/png"))], headers=bearer("urban.handler"))
    assert ok.status_code == 200 and state(client, cid) == ("resolved", version + 1, 1)


def test_the_photo_limit_is_a_setting(client: TestClient, ub_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("URBANBRAIN_UPLOAD_MAX_BYTES", "2048")
    get_settings.cache_clear()
    cid, version = accepted_case(client)
    big = b"\xff\xd8\xff\xe0" + b"\0" * 4096
    refused = client.post(f"/api/cases/{cid}/feedback", data={"note": "fixed", "version": str(version)},
                          files=[("photos", ("big.jpg", big, "image/jpeg"))], headers=bearer("urban.handler"))
    assert refused.status_code == 413 and "big.jpg is larger than 0.00195312 MB" in refused.json()["message"]
    assert state(client, cid) == ("accepted", version, 0) and files_under(ub_home) == []


@pytest.mark.parametrize(("name", "data", "ctype", "message"), [
    ("page.html", b"<script>alert(1)</script>", "text/html", "text/html is not accepted"),
    ("fake.png", b"<svg onload=alert(1)>", "image/png", "fake.png does not look like image/png"),
    ("logo.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", "image/svg+xml is not accepted"),
    ("gif.jpg", b"GIF89a" + b"\0" * 20, "image/jpeg", "does not look like image/jpeg"),
])
def test_wrong_types_are_refused_and_nothing_changes(client: TestClient, ub_home: Path, name: str, data: bytes,
                                                     ctype: str, message: str) -> None:
    cid, version = accepted_case(client)
    before = feedback_entries()
    refused = client.post(f"/api/cases/{cid}/feedback", data={"note": "fixed", "version": str(version)},
                          files=[("photos", ("ok.png", png(), "image/png")), ("photos", (name, data, ctype))],
                          headers=bearer("urban.handler"))
    assert refused.status_code == 422 and message in refused.json()["message"], refused.text
    assert state(client, cid) == ("accepted", version, 0) and files_under(ub_home) == []
    assert feedback_entries() == before


def test_a_stale_version_is_refused_and_leaves_no_file(client: TestClient, ub_home: Path) -> None:
    cid, version = accepted_case(client)
    stale = client.post(f"/api/cases/{cid}/feedback", data={"note": "fixed", "version": str(version - 1)},
                        files=[("photos", ("a.png", png(), "image/png"))], headers=bearer("urban.handler"))
    assert stale.status_code == 409 and int(stale.json()["current_version"]) == version, stale.text
    assert state(client, cid) == ("accepted", version, 0) and files_under(ub_home) == []
    # a note alone still works as JSON, like every other action
    plain = client.post(f"/api/cases/{cid}/feedback", json={"note": "fixed", "version": version},
                        headers=bearer("urban.handler"))
    assert plain.status_code == 200 and plain.json()["status"] == "resolved"


def test_only_the_handling_department_may_report_back(client: TestClient, ub_home: Path) -> None:
    cid, version = accepted_case(client)
    add_consumer("grid-app", "urban")
    key = create_key("grid-app").key
    photo = [("photos", ("a.png", png(), "image/png"))]
    form = {"note": "fixed", "version": str(version)}
    for who, status in ((bearer("housing.handler"), 403), (bearer("health.head"), 403),
                        (bearer("dispatcher"), 403),  # the operations centre dispatches; it does not report back
                        (bearer("urban.analyst"), 403),  # reads the department's cases, does not act on them
                        ({}, 401), ({"Authorization": f"Bearer {key}"}, 401), ({"X-API-Key": key}, 401)):
        refused = client.post(f"/api/cases/{cid}/feedback", data=form, files=photo, headers=who)
        assert refused.status_code == status, (who, refused.text)
        console = client.post(f"/cases/{cid}/feedback", data=form, files=photo, headers=who)
        assert console.status_code in (status, 303 if status == 401 else status), (who, console.status_code)
        if console.status_code == 303:
            assert console.headers["location"].startswith("/login")
    assert state(client, cid) == ("accepted", version, 0) and files_under(ub_home) == []
    head = client.post(f"/api/cases/{cid}/feedback", data=form, files=photo, headers=bearer("urban.head"))
    assert head.status_code == 200 and head.json()["status"] == "resolved"


def test_downloads_follow_the_case_read_rule_and_refuse_path_tricks(client: TestClient) -> None:
    cid, version = accepted_case(client, "dl-1")
    other, other_version = accepted_case(client, "dl-2", lon=113.0)  # not a duplicate
    for case, v, name in ((cid, version, "mine.png"), (other, other_version, "theirs.png")):
        assert client.post(f"/api/cases/{case}/feedback", data={"note": "done", "version": str(v)},
                           files=[("photos", (name, png(seed=len(name)), "image/png"))],
                           headers=bearer("urban.handler")).status_code == 200
    mine = client.get(f"/api/cases/{cid}", headers=bearer("dispatcher")).json()["attachments"][0]
    theirs = client.get(f"/api/cases/{other}", headers=bearer("dispatcher")).json()["attachments"][0]
    url = f"/api/cases/{cid}/attachments/{mine['id']}"
    assert client.get(url, headers=bearer("housing.handler")).status_code == 403
    assert client.get(url, headers=bearer("health.head")).status_code == 403
    assert client.get(url).status_code == 401
    # another case's attachment through this case's URL: not found, and not served
    crossed = client.get(f"/api/cases/{cid}/attachments/{theirs['id']}", headers=bearer("dispatcher"))
    assert crossed.status_code == 404 and crossed.content != png(seed=len("theirs.png"))
    digest = next(iter(files_under(get_settings().home_dir))).name
    sneaky = client.get(f"/api/cases/{cid}/attachments/..", headers=bearer("dispatcher"))  # httpx: the case itself
    assert not sneaky.headers["content-type"].startswith("image/")
    for trick in ("..%2F..%2Fsecret", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", digest, mine["id"] + "%00",
                  "x" * 300, f"{mine['id']}/../{theirs['id']}"):
        got = client.get(f"/api/cases/{cid}/attachments/{trick}", headers=bearer("dispatcher"))
        assert got.status_code == 404, (trick, got.status_code)
    assert client.get(f"/api/cases/C-none/attachments/{mine['id']}", headers=bearer("dispatcher")).status_code == 404
    reads = audit.list_entries(action="case.attachment.read", limit=None)
    assert reads == []  # only served reads are audited; every refusal above served nothing


def test_console_feedback_form_uploads_photos_and_shows_thumbnails(client: TestClient) -> None:
    cid, _ = accepted_case(client)
    with TestClient(create_app(), follow_redirects=False, base_url="https://testserver") as web:  # secure cookie
        login = web.post("/login", data={"name": "urban.handler", "password": PASSWORD, "next": "/"})
        assert login.status_code == 303
        console_round(web, cid)


def console_round(client: TestClient, cid: str) -> None:
    import re

    page = client.get(f"/cases/{cid}", headers={"accept-language": "en"}).text
    assert 'id="act-feedback"' in page and 'enctype="multipart/form-data"' in page and 'name="photos"' in page
    assert "at most 10 MB each" in page and 'id="case-attachments-none"' in page
    shown = re.search(r'id="act-feedback".*?name="version" value="(\d+)"', page, re.S).group(1)  # type: ignore[union-attr]
    too_big = client.post(f"/cases/{cid}/feedback", data={"note": "x", "version": shown},
                          files=[("photos", ("huge.jpg", b"\xff\xd8\xff" + b"\0" * (11 * 1024 * 1024), "image/jpeg"))])
    assert too_big.status_code == 413 and "huge.jpg" in too_big.text  # the console's error page names the photo
    posted = client.post(f"/cases/{cid}/feedback", data={"note": "换了灯泡", "version": shown},
                         files=[("photos", ("after.png", png(seed=9), "image/png")),
                                ("photos", ("", b"", "application/octet-stream"))])  # an input left empty
    assert posted.status_code == 303 and posted.headers["location"] == f"/cases/{cid}"
    zh = client.get(f"/cases/{cid}", headers={"accept-language": "zh-CN"}).text
    att = client.get(f"/api/cases/{cid}").json()["attachments"]
    assert len(att) == 1 and f'<img src="{att[0]["url"]}"' in zh and "现场照片" in zh
    assert client.get(att[0]["url"]).content == png(seed=9)  # the console's session reads the thumbnail


def test_feedback_with_photos_from_the_shell(client: TestClient, ub_home: Path, tmp_path: Path) -> None:
    from urbanbrain.cli.main import app

    cid, version = accepted_case(client)
    (tmp_path / "a.jpg").write_bytes(JPEG)
    (tmp_path / "b.png").write_bytes(png(seed=3))
    (tmp_path / "notes.txt").write_text("not a photo")
    runner = CliRunner()
    wrong = runner.invoke(app, ["case", "feedback", cid, "--note", "fixed", "--photo", str(tmp_path / "notes.txt"),
                                "--as", "operator@urban"])
    assert wrong.exit_code == 1 and "notes.txt" in wrong.output and "not accepted" in wrong.output
    assert files_under(ub_home) == []
    done = runner.invoke(app, ["case", "feedback", cid, "--note", "fixed", "--photo", str(tmp_path / "a.jpg"),
                               "--photo", str(tmp_path / "b.png"), "--as", "operator@urban",
                               "--version", str(version)])
    assert done.exit_code == 0 and "resolved" in done.output, done.output
    att = client.get(f"/api/cases/{cid}", headers=bearer("dispatcher")).json()["attachments"]
    assert [(a["name"], a["content_type"]) for a in att] == [("a.jpg", "image/jpeg"), ("b.png", "image/png")]
    shown = runner.invoke(app, ["case", "show", cid, "--as", "operator@urban"])
    assert shown.exit_code == 0 and "photos" in shown.output and "b.png" in shown.output, shown.output
    assert client.get(att[1]["url"], headers=bearer("urban.handler")).content == png(seed=3)


def test_forget_removes_only_files_no_committed_row_cites(ub_home: Path) -> None:
    from urbanbrain.meta.db import session_scope
    from urbanbrain.meta.models import CaseAttachment
    from urbanbrain.operate.attachments import Upload, check, forget, store

    kept, lost = Upload("k.png", "image/png", png(seed=1)), Upload("l.png", "image/png", png(seed=2))
    paths = []
    for upload in (kept, lost):
        path = store(upload, check(upload))
        assert path is not None and path.exists()
        paths.append(path)
    assert store(kept, check(kept)) is None  # already there: not this call's file
    with session_scope() as s:
        s.add(CaseAttachment(case_id="C1", name="k.png", content_type="image/png", size=1, sha256=paths[0].name))
    forget(paths)
    assert paths[0].exists() and not paths[1].exists()


def test_caps_before_reading_and_json_feedback_keeps_the_1_mb_limit(client: TestClient, ub_home: Path) -> None:
    cid, version = accepted_case(client)
    boundary = "b0undary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n"
            f"fixed\r\n--{boundary}--\r\n").encode()
    declared = client.post(f"/api/cases/{cid}/feedback", content=head, headers={
        **bearer("urban.handler"), "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(200 * 1024 * 1024)})  # a lie the server refuses before reading
    assert declared.status_code == 413 and "at most 64.0 MB" in declared.json()["message"], declared.text
    too_many = client.post(f"/api/cases/{cid}/feedback", data={"note": "fixed", "version": str(version)},
                           files=[("photos", (f"p{i}.png", png(seed=i), "image/png")) for i in range(7)],
                           headers=bearer("urban.handler"))
    assert too_many.status_code == 422 and "at most 6" in too_many.json()["message"]
    odd_field = client.post(f"/api/cases/{cid}/feedback", data={"note": "fixed"},
                            files=[("avatar", ("a.png", png(), "image/png"))], headers=bearer("urban.handler"))
    assert odd_field.status_code == 422 and "unexpected file field 'avatar'" in odd_field.json()["message"]
    big_json = client.post(f"/api/cases/{cid}/feedback", json={"note": "x" * 1_100_000, "version": version},
                           headers=bearer("urban.handler"))
    assert big_json.status_code == 413  # only multipart photo posts pass the 1 MB body buffer
    assert state(client, cid) == ("accepted", version, 0) and files_under(ub_home) == []


def test_a_feedback_that_loses_a_race_after_storing_removes_its_files(pg_db: str, ub_home: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """On PostgreSQL two handlers can act on one version at once: the one whose UPDATE finds the version
    moved (after its photo was stored) rolls back, and its photo file goes with it."""
    import threading

    from sqlalchemy import event

    from tests.operate.helpers import DISPATCHER, T0, URBAN, report
    from urbanbrain.meta.db import get_engine
    from urbanbrain.operate.attachments import Upload
    from urbanbrain.operate.cases import create_case, get_case, transition
    from urbanbrain.operate.errors import StaleVersionError

    monkeypatch.setenv("URBANBRAIN_DATABASE_URL", pg_db)
    get_settings.cache_clear()
    make_departments()
    cid = create_case(report("race"), DISPATCHER, now=T0)[0]["id"]
    transition(cid, "dispatch", DISPATCHER, department="urban")
    version = transition(cid, "accept", URBAN)["version"]
    engine = get_engine()
    stored = threading.Event()

    def between(conn: object, cursor: object, statement: str, *args: object) -> None:
        if "INSERT INTO case_attachments" in statement and not stored.is_set():
            stored.set()  # the other handler's note commits now, between this photo and this feedback's UPDATE
            other = threading.Thread(target=lambda: transition(cid, "handle", URBAN, version=version, note="on it"))
            other.start()
            other.join(timeout=30)

    event.listen(engine, "after_cursor_execute", between)
    try:
        with pytest.raises(StaleVersionError):
            transition(cid, "feedback", URBAN, version=version, note="fixed",
                       photos=[Upload("late.png", "image/png", png(seed=42))])
    finally:
        event.remove(engine, "after_cursor_execute", between)
    case = get_case(cid, DISPATCHER)
    assert stored.is_set() and files_under(ub_home) == []
    assert (case["status"], case["version"], case["attachments"]) == ("handling", version + 1, [])

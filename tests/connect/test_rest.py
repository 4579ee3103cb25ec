"""REST connector: the shared contract plus paging, auth, errors and JSON->Arrow conversion,
all over real HTTP on loopback (see `rest_server`)."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pytest

from tests.connect.contract import ContractCase, SourceContract
from tests.connect.rest_server import API_KEY, COMPANIES, PASSWORD, TOKEN, USER, Reply, RestServer, serve
from urbanbrain.connect.base import Batch, Cursor, ReadRequest
from urbanbrain.connect.rest import RestSource
from urbanbrain.core.errors import (
    AuthenticationError,
    ConfigurationError,
    ObjectNotFoundError,
    SourceFormatError,
    SourceServerError,
    SourceUnreachableError,
)

PAGE = {"type": "page", "page_param": "page", "size_param": "page_size", "size": 3}


@pytest.fixture
def api() -> Iterator[RestServer]:
    yield from serve()


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def source(api: RestServer, path: str, **endpoint: Any) -> RestSource:
    options: dict[str, Any] = {"url": api.url, "timeout": 5, **endpoint.pop("top", {})}
    options["endpoints"] = [{"name": "things", "path": path, **endpoint}]
    return RestSource(options)


def read_all(src: RestSource, **request: Any) -> list[Batch]:
    try:
        return list(src.read(ReadRequest(object="things", **request)))
    finally:
        src.close()


def rows(batches: list[Batch]) -> list[dict[str, Any]]:
    return [r for b in batches if b.data is not None for r in b.data.to_pylist()]


class TestRestContract(SourceContract):
    @pytest.fixture
    def case(self, api: RestServer) -> ContractCase:
        endpoint = {"name": "companies", "path": "/api/page", "records_path": "data.items",
                    "primary_key": ["id"], "cursor_param": "updated_since", "cursor_column": "updated_at",
                    "pagination": PAGE}
        return ContractCase(
            kind="rest",
            options={"url": api.url, "timeout": 5, "endpoints": [endpoint]},
            object_name="companies", expected_rows=7, id_column="id", cursor_column="updated_at",
            cursor=Cursor("updated_at", "2024-01-04T10:00:00Z", "TIMESTAMPTZ"), rows_after_cursor=3,
            broken_options={"url": closed_port_url(), "timeout": 2, "endpoints": [endpoint]},
        )


# --- pagination ---------------------------------------------------------------------------------


def test_page_pagination_stops_on_short_page(api: RestServer) -> None:
    got = rows(read_all(source(api, "/api/page", records_path="data.items", pagination=PAGE)))
    assert [r["id"] for r in got] == [1, 2, 3, 4, 5, 6, 7]
    assert [(s.query["page"], s.query["page_size"]) for s in api.seen] == [("1", "3"), ("2", "3"), ("3", "3")]


def test_offset_pagination(api: RestServer) -> None:
    spec = {"type": "offset", "offset_param": "offset", "limit_param": "limit", "limit": 3}
    got = rows(read_all(source(api, "/api/offset", pagination=spec)))
    assert [r["id"] for r in got] == [1, 2, 3, 4, 5, 6, 7]
    assert [s.query["offset"] for s in api.seen] == ["0", "3", "6"]


def test_cursor_pagination_follows_next_cursor_until_null(api: RestServer) -> None:
    spec = {"type": "cursor", "cursor_param": "cursor", "next_path": "meta.next_cursor"}
    got = rows(read_all(source(api, "/api/cursor", pagination=spec)))
    assert [r["id"] for r in got] == [1, 2, 3, 4, 5, 6, 7]
    assert [s.query.get("cursor") for s in api.seen] == [None, "3", "6"]


def test_link_header_pagination(api: RestServer) -> None:
    got = rows(read_all(source(api, "/api/link", pagination={"type": "link"})))
    assert [r["id"] for r in got] == [1, 2, 3, 4, 5, 6, 7]
    assert len(api.seen) == 3


def test_link_in_body_pagination(api: RestServer) -> None:
    got = rows(read_all(source(api, "/api/link-body", records_path="items",
                               pagination={"type": "link", "next_path": "links.next"})))
    assert [r["id"] for r in got] == [1, 2, 3, 4, 5, 6, 7]


def test_next_link_to_another_host_is_refused(api: RestServer) -> None:
    api.route("/api/leaky", lambda s: Reply(body=COMPANIES[:1],
                                            headers={"Link": '<http://198.51.100.7/steal>; rel="next"'}))
    src = source(api, "/api/leaky", pagination={"type": "link"}, top={"auth": {"type": "bearer", "token": TOKEN}})
    with pytest.raises(SourceFormatError, match="another host"):
        read_all(src)
    assert len(api.seen) == 1


def test_api_key_in_query_survives_next_links(api: RestServer) -> None:
    auth = {"type": "api_key", "name": "apikey", "value": API_KEY, "in": "query"}
    got = rows(read_all(source(api, "/api/link", pagination={"type": "link"}, top={"auth": auth})))
    assert len(got) == 7
    assert [(s.query.get("from"), s.query["apikey"]) for s in api.seen] == [(None, API_KEY), ("3", API_KEY),
                                                                          ("6", API_KEY)]


def test_repeated_next_cursor_is_detected(api: RestServer) -> None:
    spec = {"type": "cursor", "next_path": "meta.next_cursor"}
    with pytest.raises(SourceFormatError, match="repeats next cursor"):
        read_all(source(api, "/api/loop", pagination=spec))
    assert len(api.seen) == 2


def test_server_ignoring_page_param_is_detected(api: RestServer) -> None:
    with pytest.raises(SourceFormatError, match="identical to the page before"):
        read_all(source(api, "/api/ignores-page", pagination=PAGE))


def test_max_pages_is_a_hard_cap(api: RestServer) -> None:
    with pytest.raises(SourceFormatError, match="more than 2 pages"):
        read_all(source(api, "/api/page", records_path="data.items", pagination={**PAGE, "max_pages": 2}))
    assert len(api.seen) == 2


def test_unknown_pagination_option_is_a_configuration_error(api: RestServer) -> None:
    with pytest.raises(ConfigurationError, match="unknown pagination type"):
        source(api, "/api/page", pagination={"type": "scroll"})
    with pytest.raises(ConfigurationError, match="page_szie"):
        source(api, "/api/page", pagination={"type": "page", "page_szie": 3})
    with pytest.raises(ConfigurationError, match="url"):
        RestSource({"endpoints": []})


# --- auth -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "auth"), [
    ("/auth/bearer", {"type": "bearer", "token": TOKEN}),
    ("/auth/basic", {"type": "basic", "username": USER, "password": PASSWORD}),
    ("/auth/key-header", {"type": "api_key", "name": "X-API-Key", "value": API_KEY, "in": "header"}),
    ("/auth/key-query", {"type": "api_key", "name": "apikey", "key_value": API_KEY, "in": "query"}),
])
def test_auth_styles_are_sent_as_the_server_expects(api: RestServer, path: str, auth: dict[str, str]) -> None:
    src = source(api, path, top={"auth": auth})
    src.test()
    assert len(rows(read_all(src))) == 2


@pytest.mark.parametrize(("path", "auth", "secret"), [
    ("/auth/bearer", {"type": "bearer", "token": "wrong-" + TOKEN}, "wrong-" + TOKEN),
    ("/auth/basic", {"type": "basic", "username": USER, "password": "bad-" + PASSWORD}, "bad-" + PASSWORD),
    ("/auth/key-query", {"type": "api_key", "name": "apikey", "value": "bad-" + API_KEY, "in": "query"},
     "bad-" + API_KEY),
])
def test_rejected_credentials_raise_authentication_error_without_the_secret(
        api: RestServer, path: str, auth: dict[str, str], secret: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="urbanbrain")
    src = source(api, path, top={"auth": auth})
    with pytest.raises(AuthenticationError) as info:
        src.test()
    src.close()
    assert not info.value.transient
    assert "401" in str(info.value)
    # the server echoed the credential it got; none of it may reach the message or the logs
    assert secret not in str(info.value)
    assert secret not in json.dumps(info.value.to_dict())
    assert secret not in caplog.text
    assert "***" in str(info.value)


def test_forbidden_is_an_authentication_error(api: RestServer) -> None:
    with pytest.raises(AuthenticationError, match="403"):
        source(api, "/err/403").test()


# --- errors ---------------------------------------------------------------------------------------


def test_server_error_is_transient(api: RestServer) -> None:
    with pytest.raises(SourceServerError, match="500") as info:
        source(api, "/err/500").test()
    assert info.value.transient


def test_html_body_is_a_format_error_showing_type_and_start(api: RestServer) -> None:
    with pytest.raises(SourceFormatError) as info:
        source(api, "/err/html").test()
    text = str(info.value)
    assert "text/html" in text and "<!DOCTYPE html><html><head><title>Login" in text


def test_missing_path_is_object_not_found(api: RestServer) -> None:
    with pytest.raises(ObjectNotFoundError, match="404"):
        source(api, "/api/nope").test()


def test_test_without_endpoints_gets_the_base_url(api: RestServer) -> None:
    with pytest.raises(ObjectNotFoundError):  # the test server has nothing at /
        RestSource({"url": api.url}).test()
    RestSource({"url": api.url + "/api/single"}).test()


def test_non_json_page_midway_names_endpoint_and_page(api: RestServer) -> None:
    with pytest.raises(SourceFormatError, match=r"'things' page 2 is not JSON"):
        read_all(source(api, "/api/bad-second-page", pagination=PAGE))


def test_closed_port_is_unreachable_and_transient() -> None:
    src = RestSource({"url": closed_port_url(), "timeout": 2})
    with pytest.raises(SourceUnreachableError) as info:
        src.test()
    assert info.value.transient


def test_hanging_server_times_out_as_unreachable(api: RestServer) -> None:
    src = source(api, "/hang", top={"timeout": 0.5})
    started = time.monotonic()
    with pytest.raises(SourceUnreachableError, match=r"within 0.5s"):
        src.test()
    assert time.monotonic() - started < 60  # gave up long before the server's 120 s hang ended


def test_503_with_retry_after_is_retried(api: RestServer) -> None:
    assert len(rows(read_all(source(api, "/flaky")))) == 1
    assert len(api.seen) == 3


def test_long_retry_after_is_not_waited_for(api: RestServer) -> None:
    started = time.monotonic()
    with pytest.raises(SourceServerError, match="429") as info:
        source(api, "/err/429-long").test()
    assert info.value.transient and time.monotonic() - started < 60  # did not sleep out the long Retry-After
    assert len(api.seen) == 1


# --- JSON -> Arrow --------------------------------------------------------------------------------


def test_discover_infers_types_keys_and_cursor_candidates(api: RestServer) -> None:
    src = source(api, "/api/page", records_path="data.items", primary_key=["id"], cursor_column="updated_at",
                 total_path="data.total", pagination=PAGE)
    [obj] = src.discover()
    src.close()
    types = {c.name: c.type for c in obj.columns}
    assert types == {"id": pa.int64(), "name": pa.string(), "updated_at": pa.timestamp("us", tz="UTC"),
                     "employees": pa.int64(), "active": pa.bool_(), "score": pa.float64(),
                     "address": pa.string(), "tags": pa.string(), "_extra": pa.string()}
    assert (obj.name, obj.kind, obj.primary_key, obj.row_estimate) == ("things", "endpoint", ["id"], 7)
    assert obj.cursor_candidates == ["updated_at", "id"]


def test_read_after_discover_uses_the_discovered_schema(api: RestServer) -> None:
    src = source(api, "/api/page", records_path="data.items", pagination=PAGE)
    [obj] = src.discover()
    batches = read_all(src, batch_rows=2)
    assert [b.data.num_rows for b in batches if b.data] == [2, 1, 2, 1, 1]  # one page -> batches of <= 2
    assert all(b.data.schema.equals(obj.schema()) for b in batches if b.data)


def test_default_records_are_the_first_list_valued_key(api: RestServer) -> None:
    spec = {"type": "cursor", "next_path": "meta.next_cursor"}
    assert len(rows(read_all(source(api, "/api/cursor", pagination=spec)))) == 7


def test_single_object_body_is_one_record(api: RestServer) -> None:
    assert rows(read_all(source(api, "/api/single"))) == [{"status": "ok", "version": 3, "_extra": None}]


def test_missing_records_path_says_what_is_there(api: RestServer) -> None:
    with pytest.raises(SourceFormatError, match=r"records_path 'payload\.rows' not found; top-level keys: data"):
        read_all(source(api, "/api/page", records_path="payload.rows", pagination=PAGE))


def test_paginated_body_without_a_list_asks_for_records_path(api: RestServer) -> None:
    with pytest.raises(SourceFormatError, match="records_path"):
        read_all(source(api, "/api/page", pagination=PAGE))


def test_nested_values_become_json_text(api: RestServer) -> None:
    first = rows(read_all(source(api, "/api/page", records_path="data.items", pagination=PAGE)))[0]
    assert json.loads(first["address"]) == {"street": "1 Xiangjiang Rd", "city": "Changsha"}
    assert json.loads(first["tags"]) == ["a", "1"]
    assert first["updated_at"].isoformat() == "2024-01-01T10:00:00+00:00"


def test_bad_values_are_rejected_with_the_reason(api: RestServer) -> None:
    batches = read_all(source(api, "/api/mixed", columns={"count": "int64"}))  # inference says string
    got = {r["id"]: r for r in rows(batches)}
    assert sorted(got) == [1, 3, 4]
    assert json.loads(got[3]["surprise"]) == {"new": True} and got[1]["surprise"] is None
    assert got[4]["count"] is None and got[4]["when"] is None
    rejects = [r for b in batches for r in b.rejects]
    assert [r.reason for r in rejects] == ["field 'count': cannot convert 'abc' to int64"]
    assert json.loads(rejects[0].record)["id"] == 2
    assert batches[0].data is not None
    assert batches[0].data.schema.field("when").type == pa.timestamp("us")


def test_keys_added_after_the_first_page_are_kept_in_extra(api: RestServer) -> None:
    batches = read_all(source(api, "/api/grows", pagination={**PAGE, "size": 2}))
    assert batches[0].data is not None and batches[1].data is not None
    assert batches[0].data.schema.names == batches[1].data.schema.names == ["id", "name", "_extra"]
    got = rows(batches)
    assert [r["_extra"] for r in got[:2]] == [None, None]
    assert json.loads(got[2]["_extra"]) == {"district": {"code": "430102", "name": "Furong"}}


def test_pinned_column_types_override_inference(api: RestServer) -> None:
    got = rows(read_all(source(api, "/api/grows", columns={"id": "string", "district": "json"},
                               pagination={**PAGE, "size": 2})))
    assert [r["id"] for r in got] == ["1", "2", "3"]
    assert json.loads(got[2]["district"])["code"] == "430102" and got[2]["_extra"] is None


# --- cursor -----------------------------------------------------------------------------------------


def test_cursor_is_sent_to_the_server_and_applied_client_side(api: RestServer) -> None:
    src = source(api, "/api/page", records_path="data.items", cursor_param="updated_since", pagination=PAGE)
    got = rows(read_all(src, cursor=Cursor("updated_at", "2024-01-05T10:00:00Z", "TIMESTAMPTZ")))
    assert [r["id"] for r in got] == [6, 7]
    assert api.seen[0].query["updated_since"] == "2024-01-05T10:00:00Z"


@pytest.mark.parametrize(("inclusive", "expected"), [(False, [5, 6, 7]), (True, [4, 5, 6, 7])])
def test_cursor_filters_client_side_when_the_api_ignores_it(
        api: RestServer, inclusive: bool, expected: list[int]) -> None:
    spec = {"type": "offset", "limit": 3}
    got = rows(read_all(source(api, "/api/offset", cursor_param="since_id", pagination=spec),
                        cursor=Cursor("id", "4", "BIGINT"), inclusive=inclusive))
    assert [r["id"] for r in got] == expected

"""The city's district boundaries are served once, as GeoJSON, to every map."""

from fastapi.testclient import TestClient

from urbanbrain.web.app import create_app


def test_districts_geojson_needs_no_sign_in_and_names_every_district():
    with TestClient(create_app()) as client:
        r = client.get("/api/geo/districts")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
        features = r.json()["features"]
        assert len(features) == 9
        assert {f["properties"]["code"] for f in features} >= {"430102", "430104", "430181"}
        assert client.get("/static/citymap.js").status_code == 200

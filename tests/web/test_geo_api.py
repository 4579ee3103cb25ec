"""The city's district boundaries are served once, as GeoJSON, to every map."""

from fastapi.testclient import TestClient

from urbanbrain.web.app import create_app


def test_districts_geojson_needs_no_sign_in_and_names_every_district() -> None:
    with TestClient(create_app()) as client:
        r = client.get("/api/geo/districts")
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
        features = r.json()["features"]
        assert len(features) == 9
        assert {f["properties"]["code"] for f in features} >= {"430102", "430104", "430181"}
        assert client.get("/static/citymap.js").status_code == 200


def test_the_maps_get_simplified_borders_and_full_ones_on_request() -> None:
    from urbanbrain.reference.boundaries import districts, feature_collection

    with TestClient(create_app()) as client:
        wall = client.get("/api/geo/districts")
        full = client.get("/api/geo/districts?detail=full")
        assert full.status_code == 200 and full.json() == feature_collection("430100")  # the bundled borders
        assert len(wall.content) < len(full.content) / 2  # a third of the bytes the wall has to parse
        assert client.get("/api/geo/districts?detail=tiny").status_code == 422

    def vertices(fc: dict) -> list[tuple[float, float]]:
        return [tuple(p) for f in fc["features"] for poly in f["geometry"]["coordinates"] for ring in poly
                for p in ring]

    simple, original = wall.json(), full.json()
    assert [f["properties"] for f in simple["features"]] == [f["properties"] for f in original["features"]]
    assert len(vertices(simple)) < len(vertices(original)) / 2
    for feature in simple["features"]:  # every ring stays a closed ring
        for poly in feature["geometry"]["coordinates"]:
            for ring in poly:
                assert len(ring) >= 4 and ring[0] == ring[-1]

    # a border two districts share stays shared: a kept vertex that both had is kept in both
    rings = {f["properties"]["code"]: {tuple(p) for poly in f["geometry"]["coordinates"] for ring in poly
                                       for p in ring} for f in simple["features"]}
    before = {d.code: {(round(x, 5), round(y, 5)) for poly in d.polygons for ring in poly for x, y in ring}
              for d in districts("430100")}
    shared = 0
    for a in rings:
        for b in rings:
            if a < b:
                for p in rings[a] & before[b]:
                    assert p in rings[b], (a, b, p)
                    shared += 1
    assert shared > 100

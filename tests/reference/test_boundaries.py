"""The bundled district polygons place points by boundary, not by the nearest centre."""

from urbanbrain.reference import boundaries


def test_changsha_has_nine_districts_with_names() -> None:
    found = boundaries.districts("430100")
    assert len(found) == 9
    assert {d.name for d in found} >= {"芙蓉区", "天心区", "岳麓区", "开福区", "雨花区", "望城区", "长沙县", "浏阳市"}


def test_points_fall_in_their_district_and_outside_points_in_none() -> None:
    # 五一广场 (芙蓉区), 岳麓山 (岳麓区), 浏阳市区 (浏阳市)
    assert getattr(boundaries.district_at("430100", 112.9768, 28.1958), "code", None) == "430102"
    assert getattr(boundaries.district_at("430100", 112.9360, 28.1830), "code", None) == "430104"
    assert getattr(boundaries.district_at("430100", 113.6330, 28.1630), "code", None) == "430181"
    assert boundaries.district_at("430100", 116.40, 39.90) is None  # Beijing


def test_feature_collection_is_geojson_and_other_cities_have_none() -> None:
    fc = boundaries.feature_collection("430100")
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 9
    assert fc["features"][0]["geometry"]["type"] == "MultiPolygon"
    assert not boundaries.has_polygons("110100")


def test_simplified_borders_keep_every_district_and_a_city_without_any_has_none() -> None:
    simple = boundaries.simplified("430100")
    assert [d.code for d in simple] == [d.code for d in boundaries.districts("430100")]
    assert boundaries.feature_collection_for("110100") == {"type": "FeatureCollection", "features": []}
    for full, thin in zip(boundaries.districts("430100"), simple, strict=True):
        count = sum(len(r) for p in full.polygons for r in p)
        assert sum(len(r) for p in thin.polygons for r in p) < count / 2, full.code
        assert thin.bbox == full.bbox

"""PII proposals on real data: Baltimore 311 requests and OpenAQ sensors (tests/data), and the demo
city's identifiers (which carry valid GB 11643 / GB 32100 check characters)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest

from urbanbrain.demo import identity
from urbanbrain.demo.people import _names
from urbanbrain.govern.pii import DETECTORS, is_bank_card, is_resident_id, luhn, propose_column, propose_table


def _sample(path: Path, rows: int = 500) -> dict[str, list[object]]:
    table = pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 24))
    return {n: table.column(n).to_pylist()[:rows] for n in table.column_names}


def test_311_requests_flag_exactly_the_address_and_coordinates(shared_data: Path) -> None:
    sample = _sample(shared_data / "service-requests" / "311_sample.csv")
    found = {p.column: p.pii_type for p in propose_table(sample)}
    expected = {"Address": "address", "Latitude": "coordinates", "Longitude": "coordinates",
                "GeoLocation": "coordinates"}
    assert found == expected  # recall 4/4 and precision 4/4 over all 26 columns
    assert len(sample) == 26


def test_sensor_readings_flag_only_the_coordinates(shared_data: Path) -> None:
    path = next((shared_data / "air-quality" / "openaq-toronto").glob("*.csv"))
    found = {p.column: p.pii_type for p in propose_table(_sample(path))}
    assert found == {"latitude": "coordinates", "longitude": "coordinates"}


def _demo_columns(n: int = 400) -> dict[str, list[str]]:
    rng = np.random.default_rng(7)
    areas = np.array(["430102", "430103", "430104", "430111"])[rng.integers(0, 4, n)]
    birth = np.datetime64("1950-01-01") + rng.integers(0, 365 * 60, n).astype("timedelta64[D]")
    return {
        "id_number": identity.id_numbers(areas, birth, rng.integers(0, 2, n).astype(bool), rng),
        "credit_code": identity.credit_codes(areas, rng),
        "mobile": identity.mobiles(n, rng),
        "plate": identity.plates(n, rng),
        "name": [str(x) for x in _names(n, rng)],
        "email": [f"user{i}@example.com.cn" for i in range(n)],
        "landline": [f"0731-8{i:07d}" for i in range(n)],
        "address": [f"湖南省长沙市岳麓区麓山南路{i}号" for i in range(n)],
        "passport": [f"E{10000000 + i * 37}" for i in range(n)],
        "amount": [str(i * 13 % 9973) for i in range(n)],
        "district": ["岳麓区", "天心区"] * (n // 2),
        "status": ["已办结", "处理中"] * (n // 2),
    }


EXPECTED = {"id_number": "resident_id", "credit_code": "credit_code", "mobile": "mobile", "plate": "plate",
            "name": "person_name", "email": "email", "landline": "landline", "address": "address",
            "passport": "passport"}


def test_demo_identifiers_get_their_types_and_plain_columns_none() -> None:
    found = {p.column: p.pii_type for p in propose_table(_demo_columns())}
    assert found == EXPECTED  # amount, district and status get no proposal


@pytest.mark.parametrize("column", list(EXPECTED))
def test_detectors_rarely_accept_another_types_values(column: str) -> None:
    """Value-level precision: at most 2% of one type's values pass any other type's detector."""
    values = _demo_columns()[column]
    for det in DETECTORS:
        if det.pii_type == EXPECTED[column]:
            continue
        share = sum(det.accepts(v) for v in values) / len(values)
        assert share <= 0.02, (column, det.pii_type, share)


def test_checksums_reject_one_changed_digit() -> None:
    good = identity.id_numbers(np.array(["430102"]), np.array(["1990-05-01"], dtype="datetime64[D]"),
                               np.array([True]), np.random.default_rng(1))[0]
    bad = good[:16] + str((int(good[16]) + 1) % 10) + good[17]
    assert is_resident_id(good) and not is_resident_id(bad)
    assert luhn("79927398713") and not luhn("79927398710") and is_bank_card("4111111111111111")
    assert not is_bank_card("4111111111111112")


def test_a_name_column_needs_a_name_like_header() -> None:
    values = ["张伟", "李娜", "王芳"] * 10
    assert propose_column("name", values) is not None
    assert propose_column("category", values) is None

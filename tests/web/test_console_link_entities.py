"""/link: find an entity and open its golden record with the source records it came from (issue 13),
read through the lake's policy like any other dataset."""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from urbanbrain.link import store
from urbanbrain.link.golden import golden_schema
from urbanbrain.web.app import create_app


@pytest.fixture
def registry() -> None:
    golden = {f.name: [None, None] for f in golden_schema("person")}
    golden.update(entity_id=["PID0000000001", "PID0000000002"], record_count=[2, 1], name=["王琳琳", "李强"],
                  name_source=["police.hukou.residents|HK1", "civil.elderly.elderly|YL7"],
                  address=["岳麓区麓山南路1号", "天心区坡子街2号"])
    store.write("person", "golden", pa.Table.from_pydict(golden, schema=golden_schema("person")))
    xref = {"unique_id": ["police.hukou.residents|HK1", "civil.elderly.elderly|YL7", "health.patients.p|P9"],
            "entity_id": ["PID0000000001", "PID0000000001", "PID0000000002"],
            "source_dataset": ["police.hukou.residents", "civil.elderly.elderly", "health.patients.p"],
            "record_key": ["HK1", "YL7", "P9"], "match_probability": [0.99, 0.97, None], "run_id": ["r1"] * 3}
    store.write("person", "xref", pa.Table.from_pydict(xref, schema=store.XREF))


@pytest.fixture
def client(registry: None) -> Iterator[TestClient]:
    with TestClient(create_app()) as c:  # the local operator (no users yet)
        yield c


def test_search_finds_entities_by_name_address_or_id(client: TestClient) -> None:
    by_name = client.get("/link", params={"kind": "person", "q": "琳琳"}).text
    assert "/link/entities/PID0000000001" in by_name and "PID0000000002" not in by_name
    by_address = client.get("/link", params={"kind": "person", "q": "坡子街"}).text
    assert "/link/entities/PID0000000002" in by_address and "PID0000000001" not in by_address
    by_id = client.get("/link", params={"kind": "person", "q": "PID0000000002"}).text
    assert "/link/entities/PID0000000002" in by_id
    nothing = client.get("/link", params={"kind": "person", "q": "' OR 1=1 --"}).text  # bound, not spliced
    assert "/link/entities/" not in nothing


def test_the_golden_record_page_lists_its_sources(client: TestClient) -> None:
    page = client.get("/link/entities/PID0000000001")
    assert page.status_code == 200
    assert "王琳琳" in page.text and "police.hukou.residents|HK1" in page.text
    assert 'href="/datasets/civil.elderly.elderly"' in page.text and "YL7" in page.text and "P9" not in page.text
    assert client.get("/link/entities/PID0000000999").status_code == 404
    assert client.get("/link/entities/nonsense").status_code == 404

"""A small governed lake shared by the governance tests: police residents and social benefits.

`police.hukou.residents` holds PII at every level: `id_number` closed, `name` and `mobile`
conditional, `address` open but masked (partial), `district`/`age` open. `social.benefits.recipients`
shares `id_number` open under a keyed hash, so two departments' rows join without showing it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.sync.helpers import register
from urbanbrain.core.settings import get_settings
from urbanbrain.govern import classification as cls
from urbanbrain.govern.principals import ANALYST, STEWARD, Principal
from urbanbrain.reference.identifiers import id_check_char
from urbanbrain.sync.runner import run_sync

RESIDENTS = "police.hukou.residents"
BENEFITS = "social.benefits.recipients"
ANALYST_TRANSPORT = Principal("user", "ana", frozenset({"transport"}), frozenset({ANALYST}))
STEWARD_POLICE = Principal("user", "steve", frozenset({"police"}), frozenset({STEWARD}))
ANALYST_POLICE = Principal("user", "pat", frozenset({"police"}), frozenset({ANALYST}))
SURNAMES = "王李张刘陈杨黄赵吴周"
GIVEN = "伟芳娜秀英敏静丽强磊"
DISTRICTS = ["岳麓区", "天心区", "芙蓉区", "开福区"]
N = 200


def id_number(i: int) -> str:
    body = f"430104{1960 + i % 40}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return body + id_check_char(body)


@dataclass
class City:
    home: Path
    ids: list[str]
    names: list[str]
    mobiles: list[str]
    addresses: list[str]

    @property
    def protected(self) -> list[str]:
        """Values an analyst of another department must never see in clear."""
        return self.ids + self.mobiles + self.addresses + [n for n in self.names if len(n) >= 2]


@contextmanager
def home(path: Path) -> Iterator[None]:
    old = os.environ.get("URBANBRAIN_HOME")
    os.environ["URBANBRAIN_HOME"] = str(path)
    get_settings.cache_clear()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("URBANBRAIN_HOME", None)
        else:
            os.environ["URBANBRAIN_HOME"] = old
        get_settings.cache_clear()


def build_city(root: Path) -> City:
    """Sync both datasets from SQLite and classify them as a steward would (under URBANBRAIN_HOME)."""
    ids = [id_number(i) for i in range(N)]
    names = [SURNAMES[i % 10] + GIVEN[(i * 7) % 10] + GIVEN[(i * 3) % 10] for i in range(N)]
    mobiles = [f"138{i:08d}" for i in range(N)]
    addresses = [f"湖南省长沙市{DISTRICTS[i % 4]}麓山南路{100 + i}号" for i in range(N)]
    db = root / "police.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE residents (id INTEGER PRIMARY KEY, name TEXT, id_number TEXT, mobile TEXT, "
                 "address TEXT, district TEXT, age INTEGER)")
    conn.executemany("INSERT INTO residents VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(i, names[i], ids[i], mobiles[i], addresses[i], DISTRICTS[i % 4], 20 + i % 60)
                      for i in range(N)])
    conn.commit()
    conn.close()
    sdb = root / "social.db"
    conn = sqlite3.connect(sdb)
    conn.execute("CREATE TABLE recipients (rid INTEGER PRIMARY KEY, id_number TEXT, benefit TEXT, amount REAL)")
    conn.executemany("INSERT INTO recipients VALUES (?, ?, ?, ?)",
                     [(i, ids[i * 2], "低保" if i % 2 else "医疗救助", 500.0 + i) for i in range(N // 2)])
    conn.commit()
    conn.close()
    register("hukou", "sqlite", {"url": f"sqlite:///{db}"}, dept="police")
    register("benefits", "sqlite", {"url": f"sqlite:///{sdb}"}, dept="social")
    assert run_sync("hukou").status == "succeeded"
    assert run_sync("benefits").status == "succeeded"
    cls.set_default_level(RESIDENTS, "open")
    cls.set_field(RESIDENTS, "id_number", level="closed")
    cls.set_field(RESIDENTS, "name", level="conditional", pii_type="person_name")
    cls.set_field(RESIDENTS, "mobile", level="conditional", pii_type="mobile")
    cls.set_field(RESIDENTS, "address", level="open", pii_type="address")
    cls.set_default_level(BENEFITS, "open")
    cls.set_field(BENEFITS, "id_number", level="open", pii_type="resident_id", mask="hash")
    return City(root, ids, names, mobiles, addresses)

"""The administrative-division dictionary shared by governance, One ID and the built-ins (ID numbers,
credit codes, addresses).

The division dictionary is read from the CSV that ships inside `cpca` (found on disk, not imported:
importing `cpca` pulls in pandas and builds an automaton, ~1 s we do not need). `urbanbrain.demo.geo`
reads the same file, but nothing else may import the demo package (see DESIGN.md, layers), so the
few lines that locate it live here too.
"""

from __future__ import annotations

import csv
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from urbanbrain.core.errors import ConfigurationError

# Codes created after cpca's dictionary was compiled (State Council approvals); the old codes stay
# valid too, because ID numbers and credit codes keep the code that was current when they were issued.
LATER_CODES = {"430182": "宁乡市"}


@dataclass(frozen=True)
class Division:
    """One province, prefecture or county-level division: 6-digit code, name, centre (may be unknown)."""

    code: str
    name: str
    lon: float | None
    lat: float | None

    @property
    def level(self) -> str:
        if self.code.endswith("0000"):
            return "province"
        if self.code.endswith("00"):
            return "city"
        return "district"


def adcodes_file() -> Path:
    spec = importlib.util.find_spec("cpca")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError("the division dictionary ships with cpca, which is not installed",
                                 hint="pip install cpca")
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "adcodes.csv"
    if not path.exists():
        raise ConfigurationError(f"cpca is installed but {path} is missing", hint="pip install --force-reinstall cpca")
    return path


@lru_cache(maxsize=1)
def divisions() -> dict[str, Division]:
    """Every division by 6-digit code (about 3,500; read once, ~10 ms)."""
    out: dict[str, Division] = {}
    with adcodes_file().open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            code = row["adcode"][:6]
            lon = float(row["longitude"]) if row["longitude"] else None
            lat = float(row["latitude"]) if row["latitude"] else None
            out[code] = Division(code, row["name"], lon, lat)
    for code, name in LATER_CODES.items():
        if code not in out:
            parent = out.get(code[:4] + "00")
            out[code] = Division(code, name, parent.lon if parent else None, parent.lat if parent else None)
    return out


def region_names(code: str) -> dict[str, str | None]:
    """Province, city and district names of a 6-digit code (None where a level does not apply/exist)."""
    table = divisions()
    province = table.get(code[:2] + "0000")
    city = table.get(code[:4] + "00") if not code.endswith("0000") else None
    district = table.get(code) if not code.endswith("00") else None
    city_name = city.name if city else None
    if city_name == "市辖区" and province:  # municipalities (北京, 上海, ...): the city is the province
        city_name = province.name
    return {"province": province.name if province else None, "city": city_name,
            "district": district.name if district else None}

"""Generate the city and write every department system's data where that system keeps it.

Databases go to PostgreSQL/MariaDB (`ub_demo_<dept>`, one schema per PostgreSQL system) when the
local servers answer within a second, else to SQLite files; exports go to files under
`URBANBRAIN_HOME/demo/files/<system>/`; API-served objects to `demo/api/<system>/` for the simulator.
Residents and hotline tickets are generated in chunks, so memory stays bounded at every scale.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from urbanbrain.core.naming import dataset_name, sql_identifier
from urbanbrain.core.settings import get_settings
from urbanbrain.demo import enterprises as firms_mod
from urbanbrain.demo import geo, hotline, people, sensors, writers
from urbanbrain.demo.departments import ObjectSpec, SystemSpec
from urbanbrain.demo.producers import PRODUCERS, Basis, World
from urbanbrain.demo.truth import TruthWriter


def _db(dept: str) -> str:
    """The demo database of a department (prefix from settings, so tests never touch a real demo's)."""
    return f"{get_settings().demo_db_prefix}_{dept}"


@dataclass(frozen=True)
class Scale:
    addresses: int
    persons: int
    enterprises: int
    tickets: int
    ticket_days: int
    sensor_days: int
    chunk: int = 250_000


SCALES = {
    "tiny": Scale(400, 300, 80, 300, 30, 1),
    "small": Scale(8_000, 20_000, 5_000, 30_000, 90, 3),
    "medium": Scale(60_000, 200_000, 50_000, 300_000, 365, 7),
    "large": Scale(1_000_000, 5_000_000, 1_000_000, 5_000_000, 365, 30),
}
EXTENSIONS = {"csv": "csv", "csv-gbk": "csv", "xlsx": "xlsx", "parquet": "parquet", "ndjson": "ndjson"}


@dataclass
class Placement:
    """Where a system's data went: the connector kind and options to register it with (REST: filled later)."""

    spec: SystemSpec
    connector: str
    options: dict[str, Any]
    objects: dict[str, str] = field(default_factory=dict)  # spec object name -> lake object name
    rows: int = 0


def place(spec: SystemSpec, demo: Path, pg_ok: bool, my_ok: bool) -> Placement:
    ident = sql_identifier(spec.name)
    kind = spec.kind
    if (kind == "postgres" and not pg_ok) or (kind == "mysql" and not my_ok):
        kind = "sqlite"
    if kind == "postgres":
        opts: dict[str, Any] = {"url": writers.pg_url(_db(spec.dept)), "schema": ident, "schemas": [ident]}
        return Placement(spec, "postgres", opts, {o.name: o.name for o in spec.objects})
    if kind == "mysql":
        return Placement(spec, "mysql", {"url": writers.mysql_url(_db(spec.dept))},
                         {o.name: o.name for o in spec.objects})
    if kind == "sqlite":
        return Placement(spec, "sqlite", {"url": f"sqlite:///{demo / 'db' / (spec.name + '.db')}"},
                         {o.name: o.name for o in spec.objects})
    if kind in EXTENSIONS:
        ext = EXTENSIONS[kind]
        opts = {"path": str(demo / "files" / spec.name / f"*.{ext}"),
                "encoding": "gbk" if kind == "csv-gbk" else "auto"}
        suffix = "_sheet1" if kind == "xlsx" else ""
        return Placement(spec, "files", opts, {o.name: sql_identifier(o.name) + suffix for o in spec.objects})
    return Placement(spec, "rest", {}, {o.name: o.name for o in spec.objects})


def _writer(p: Placement, obj: ObjectSpec, schema: pa.Schema, demo: Path) -> writers.Writer:
    if p.connector == "postgres":
        return writers.PostgresWriter(_db(p.spec.dept), p.options["schema"], obj.name, schema, obj.key)
    if p.connector == "mysql":
        return writers.MySQLWriter(_db(p.spec.dept), obj.name, schema, obj.key)
    if p.connector == "sqlite":
        return writers.SQLiteWriter(Path(p.options["url"].removeprefix("sqlite:///")), obj.name, schema, obj.key)
    if p.connector == "rest":
        return writers.ParquetWriter(demo / "api" / p.spec.name / f"{obj.name}.parquet")
    folder = demo / "files" / p.spec.name
    if p.spec.kind == "xlsx":
        return writers.XLSXWriter(folder / f"{obj.name}.xlsx")
    if p.spec.kind == "parquet":
        return writers.ParquetWriter(folder / f"{obj.name}.parquet")
    if p.spec.kind == "ndjson":
        return writers.NDJSONWriter(folder / f"{obj.name}.ndjson")
    return writers.CSVWriter(folder / f"{obj.name}.csv", "gbk" if p.spec.kind == "csv-gbk" else "utf-8")


@dataclass
class BuildResult:
    placements: list[Placement]
    truth_counts: dict[str, int]
    world: World


def build(specs: list[SystemSpec], demo: Path, scale: Scale, seed: int, now: np.datetime64,
          on_step: Callable[[str, int], None] | None = None, write: set[str] | None = None,
          placed: dict[str, Placement] | None = None) -> BuildResult:
    """Generate the truth and write the systems named in `write` (default: all of `specs`).

    Every object has its own RNG (seed, system, object, chunk), so skipping a system's writes does
    not change anyone else's data: growing the city writes only the new systems, yet the truth
    files (always rewritten) still cover all of them. `placed` pins where earlier runs put systems.
    `on_step(label, rows)` reports progress.
    """
    step = on_step or (lambda label, rows: None)
    write = {s.name for s in specs} if write is None else write
    pg_ok, my_ok = writers.reachable("postgres"), writers.reachable("mysql")
    placements = [(placed or {}).get(s.name) or place(s, demo, pg_ok, my_ok) for s in specs]
    for kind in ("postgres", "mysql"):
        fresh_dbs = {_db(p.spec.dept) for p in placements if p.connector == kind and p.spec.name in write}
        if fresh_dbs:
            writers.create_databases(kind, sorted(fresh_dbs))
    rng = np.random.default_rng(seed)
    addresses = geo.addresses(scale.addresses, rng)
    firms = firms_mod.enterprises(scale.enterprises, addresses, rng)
    start = (now - np.timedelta64(scale.sensor_days, "D")).astype("datetime64[D]").astype("datetime64[s]")
    world = World(seed, addresses, firms, sensors.inventory(seed), start, now)
    truth = TruthWriter(demo / "truth")
    truth.entities("address", addresses)
    truth.entities("enterprise", firms)
    step("truth: addresses and enterprises", addresses.num_rows + firms.num_rows)
    open_writers: dict[tuple[str, str], writers.Writer] = {}

    def emit(p: Placement, obj: ObjectSpec, basis: Basis, chunk_no: int) -> None:
        if p.spec.kind == "live" and obj.basis == "sensor":
            return  # live feeds are computed by the simulator on request, not stored
        sub = np.random.default_rng([seed, hash_name(p.spec.name + "/" + obj.name), chunk_no])
        table = PRODUCERS[obj.producer](world, Basis(basis.persons, basis.tickets, basis.events, p.spec.district), sub)
        lake_obj = p.objects[obj.name]
        table = truth.split(table, dataset=dataset_name(p.spec.dept, p.spec.name, lake_obj), department=p.spec.dept,
                            system=p.spec.name, obj=lake_obj, key=obj.key)
        if p.spec.name not in write:
            return
        w = open_writers.get((p.spec.name, obj.name))
        if w is None:
            w = open_writers[(p.spec.name, obj.name)] = _writer(p, obj, table.schema, demo)
        w.append(table)
        p.rows += table.num_rows
        step(f"{p.spec.name}.{obj.name}", table.num_rows)

    by_basis: dict[str, list[tuple[Placement, ObjectSpec]]] = {}
    for p in placements:
        for obj in p.spec.objects:
            by_basis.setdefault(obj.basis, []).append((p, obj))
    for basis_name in ("static", "addresses", "enterprises", "sensor"):
        for p, obj in by_basis.get(basis_name, []):
            emit(p, obj, Basis(), 0)
    firm_ids = firms.column("enterprise_id").to_pylist()
    for k in range(math.ceil(scale.persons / scale.chunk)):
        n = min(scale.chunk, scale.persons - k * scale.chunk)
        crng = np.random.default_rng([seed, 1, k])
        chunk = people.persons(n, addresses, firm_ids, crng, first_id=k * scale.chunk + 1)
        truth.entities("person", chunk)
        step("truth: residents", n)
        for p, obj in by_basis.get("persons", []):
            emit(p, obj, Basis(persons=chunk), k)
        if k == 0:
            first_people = chunk
    ticket_start = (now - np.timedelta64(scale.ticket_days, "D")).astype("datetime64[D]")
    per_day = scale.ticket_days / max(1, math.ceil(scale.tickets / scale.chunk))
    for k in range(math.ceil(scale.tickets / scale.chunk)):
        n = min(scale.chunk, scale.tickets - k * scale.chunk)
        crng = np.random.default_rng([seed, 2, k])
        tickets, events = hotline.tickets(n, first_people, addresses,
                                          ticket_start + np.timedelta64(int(k * per_day), "D"),
                                          max(1, int(per_day)), crng, first_id=k * scale.chunk + 1)
        step("hotline tickets", n)
        for p, obj in by_basis.get("tickets", []):
            emit(p, obj, Basis(tickets=tickets, events=events), k)
    for w in open_writers.values():
        w.close()
    truth.close()
    return BuildResult(placements, dict(truth.counts), world)


def hash_name(text: str) -> int:
    """A stable (not salted per process, unlike `hash`) integer for seeding per-object RNGs."""
    import zlib

    return zlib.crc32(text.encode("utf-8"))

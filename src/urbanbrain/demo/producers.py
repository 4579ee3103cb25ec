"""Producers: how each department system's objects are derived from the ground truth.

A producer takes the `World` (the truth tables and the sensor inventory), one chunk of its basis
(residents, enterprises, addresses, hotline tickets; nothing for static tables) and a seeded RNG, and
returns the object's rows as Arrow. Hidden columns `__person_id`, `__enterprise_id`, `__address_id`
carry the ground truth; the builder strips them before the data reaches the department system.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from urbanbrain.demo import geo, identity, sensors
from urbanbrain.demo.enterprises import enterprise_view
from urbanbrain.demo.hotline import CATEGORIES
from urbanbrain.demo.people import person_view


@dataclass
class World:
    """Everything producers may read: truth tables, the sensor inventory and the demo's clock."""

    seed: int
    addresses: pa.Table
    enterprises: pa.Table
    sensors: sensors.Sensors
    start: np.datetime64  # first day of sensor history and of hotline tickets
    now: np.datetime64


@dataclass
class Basis:
    """One chunk of the basis an object is built from (only the fields its basis needs are set)."""

    persons: pa.Table | None = None
    tickets: pa.Table | None = None
    events: pa.Table | None = None
    district: str | None = None  # branch systems: keep this district's rows only


Producer = Callable[[World, Basis, np.random.Generator], pa.Table]
PRODUCERS: dict[str, Producer] = {}


def producer(name: str) -> Callable[[Producer], Producer]:
    def register(fn: Producer) -> Producer:
        PRODUCERS[name] = fn
        return fn
    return register


def _ids(prefix: str, entities: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Record ids that look arbitrary but are unique: an affine bijection of the entity's ordinal.

    Each view holds an entity at most once, so ids stay unique across chunks at any scale.
    """
    ordinal = np.asarray(pc.cast(pc.utf8_slice_codeunits(entities, 1), pa.int64()).to_numpy(zero_copy_only=False))
    salt = sum(ord(c) * 7919 for c in prefix)
    scrambled = (ordinal * 7_654_321 + salt) % 10_000_000_000  # 7654321 is coprime to 10: a bijection
    return np.char.add(prefix, np.char.zfill(scrambled.astype(str), 10)) if len(ordinal) else np.array([], dtype=str)


def _pick(rng: np.random.Generator, n: int, options: list[Any]) -> np.ndarray:
    """n uniform choices among `options` (a department's code list)."""
    return np.array(options)[rng.integers(0, len(options), n)]


def _stamps(rng: np.random.Generator, n: int, end: np.datetime64, days: int) -> pa.Array:
    t = end - rng.integers(0, days * 86400, n).astype("timedelta64[s]")
    return pa.array(t.astype("datetime64[s]"), pa.timestamp("s"))


def _people(world: World, basis: Basis, rng: np.random.Generator, **kw: Any) -> pa.Table:
    assert basis.persons is not None
    people = basis.persons
    if basis.district:
        people = people.filter(pc.equal(people.column("hukou_district_code"), basis.district))
    return person_view(people, world.addresses, rng, **kw)


def _firms(world: World, basis: Basis, rng: np.random.Generator, **kw: Any) -> pa.Table:
    firms = world.enterprises
    if basis.district:
        firms = firms.filter(pc.equal(firms.column("district_code"), basis.district))
    return enterprise_view(firms, world.addresses, rng, **kw)


def _finish(key: str, key_values: Any, view: pa.Table, fields: dict[str, Any], drop: tuple[str, ...] = ()) -> pa.Table:
    cols = {key: key_values}
    cols.update({c: view.column(c) for c in view.column_names if c not in drop and not c.startswith("__")})
    cols.update(fields)
    cols.update({c: view.column(c) for c in view.column_names if c.startswith("__")})
    return pa.table(cols)


@producer("hukou")
def hukou(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _people(world, basis, rng, name_typo=0.005, id_typo=0.0, stale_phone=0.3, no_phone=0.1, styles=(0,))
    n = v.num_rows
    return _finish("record_id", _ids("HK", v.column("__person_id")), v, {
        "household_type": np.where(rng.random(n) < 0.7, "城镇", "农村"),
        "relation": _pick(rng, n, ["户主", "配偶", "子", "女", "父母"]),
        "updated_at": _stamps(rng, n, world.now, 3650)})


@producer("vehicles")
def vehicles(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _people(world, basis, rng, share=0.3, name_typo=0.01, styles=(1, 2))
    n = v.num_rows
    return _finish("vehicle_id", _ids("VH", v.column("__person_id")), v, {
        "plate": identity.plates(n, rng),
        "brand": _pick(rng, n, ["比亚迪", "大众", "丰田", "本田", "吉利", "长安", "特斯拉", "广汽传祺"]),
        "registered_at": _stamps(rng, n, world.now, 4000), "updated_at": _stamps(rng, n, world.now, 700)},
        drop=("sex", "birth_date"))


@producer("floating")
def floating(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _people(world, basis, rng, share=0.08, name_typo=0.05, stale_phone=0.3, styles=(3, 4, 5))
    n = v.num_rows
    return pa.table({"登记编号": _ids("LD", v.column("__person_id")), "姓名": v.column("name"),
                     "身份证号": v.column("id_number"),
                     "联系电话": v.column("phone"), "暂住地址": v.column("address"),
                     "登记日期": pc.strftime(_stamps(rng, n, world.now, 900), "%Y-%m-%d"),
                     "__person_id": v.column("__person_id"), "__address_id": v.column("__address_id")})


@producer("insured")
def insured(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    assert basis.persons is not None
    people = basis.persons.filter(pc.not_equal(basis.persons.column("employer_id"), ""))
    v = _people(world, Basis(persons=people, district=basis.district), rng, name_typo=0.02, stale_phone=0.25,
                styles=(1, 2, 4))
    n = v.num_rows
    employer_rows = pc.index_in(people.take(pc.index_in(v.column("__person_id"), people.column("person_id")))
                                .column("employer_id"), world.enterprises.column("enterprise_id"))
    employer = world.enterprises.take(employer_rows)
    return _finish("record_id", _ids("SB", v.column("__person_id")), v, {
        "employer_name": employer.column("name"), "employer_credit_code": employer.column("credit_code"),
        "insurance_types": np.array(["养老,医疗,失业,工伤", "养老,医疗", "医疗"])[rng.choice(3, n, p=[.7, .2, .1])],
        "monthly_base": np.round(rng.lognormal(8.5, 0.4, n), 2), "updated_at": _stamps(rng, n, world.now, 365)})


@producer("job_seekers")
def job_seekers(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _people(world, basis, rng, share=0.05, name_typo=0.04, stale_phone=0.1, styles=(2, 4))
    n = v.num_rows
    return _finish("seeker_id", _ids("JS", v.column("__person_id")), v, {
        "wanted_job": _pick(rng, n, ["软件开发", "销售", "厨师", "司机", "会计", "护工", "教师"]),
        "updated_at": pc.strftime(_stamps(rng, n, world.now, 200), "%Y-%m-%dT%H:%M:%S")},
        drop=("birth_date",))


@producer("patients")
def patients(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _people(world, basis, rng, share=0.8, name_typo=0.02, stale_phone=0.2, styles=(0, 1, 2, 3))
    n = v.num_rows
    return _finish("record_id", _ids("JK", v.column("__person_id")), v, {
        "blood_type": _pick(rng, n, ["A", "B", "O", "AB", None]),
        "chronic": _pick(rng, n, ["无", "高血压", "糖尿病", "无", "无"]),
        "updated_at": _stamps(rng, n, world.now, 1000)})


@producer("vaccinations")
def vaccinations(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _people(world, basis, rng, share=0.3, name_typo=0.03, no_phone=0.3, styles=(2,))
    n = v.num_rows
    return _finish("record_id", _ids("YM", v.column("__person_id")), v, {
        "vaccine": _pick(rng, n, ["新冠疫苗", "流感疫苗", "乙肝疫苗", "HPV疫苗"]),
        "dose": rng.integers(1, 4, n), "vaccinated_on": pc.strftime(_stamps(rng, n, world.now, 1500), "%Y/%m/%d")},
        drop=("address",))


@producer("students")
def students(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    assert basis.persons is not None
    born = basis.persons.column("birth_date")
    young = basis.persons.filter(pc.and_(pc.greater(born, pa.scalar(date.fromisoformat("2006-09-01"), pa.date32())),
                                         pc.less(born, pa.scalar(date.fromisoformat("2018-09-01"), pa.date32()))))
    v = _people(world, Basis(persons=young, district=basis.district), rng, name_typo=0.01, no_phone=0.5,
                styles=(1, 2))
    n = v.num_rows
    return _finish("student_id", _ids("XJ", v.column("__person_id")), v, {
        "school_id": np.array([f"SC{x:04d}" for x in rng.integers(1, 61, n)], dtype=str),
        "grade": rng.integers(1, 13, n), "updated_at": _stamps(rng, n, world.now, 300)})


@producer("marriages")
def marriages(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _people(world, basis, rng, share=0.15, name_typo=0.01, styles=(0, 1))
    n = v.num_rows
    return _finish("record_id", _ids("HY", v.column("__person_id")), v, {
        "registration": np.where(rng.random(n) < 0.85, "结婚登记", "离婚登记"),
        "registered_at": _stamps(rng, n, world.now, 7000)}, drop=("phone",))


@producer("dibao")
def dibao(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _people(world, basis, rng, share=0.03, name_typo=0.06, stale_phone=0.4, no_phone=0.2, styles=(2, 3, 5))
    n = v.num_rows
    return pa.table({"序号": _ids("DB", v.column("__person_id")), "姓名": v.column("name"),
                     "身份证号码": v.column("id_number"),
                     "家庭住址": v.column("address"), "保障人数": rng.integers(1, 5, n),
                     "月保障金额(元)": rng.integers(300, 900, n), "联系电话": v.column("phone"),
                     "__person_id": v.column("__person_id"), "__address_id": v.column("__address_id")})


@producer("elderly")
def elderly(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    assert basis.persons is not None
    old = basis.persons.filter(pc.less(basis.persons.column("birth_date"),
                                       pa.scalar(date.fromisoformat("1964-06-30"), pa.date32())))
    v = _people(world, Basis(persons=old, district=basis.district), rng, share=0.5, name_typo=0.03,
                stale_phone=0.4, styles=(1, 4))
    n = v.num_rows
    return _finish("elder_id", _ids("YL", v.column("__person_id")), v, {
        "care_level": np.array(["自理", "半失能", "失能"])[rng.choice(3, n, p=[.75, .18, .07])],
        "updated_at": pc.strftime(_stamps(rng, n, world.now, 400), "%Y-%m-%dT%H:%M:%S")})


@producer("transactions")
def transactions(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _people(world, basis, rng, share=0.1, name_typo=0.01, styles=(0, 3))
    n = v.num_rows
    return _finish("contract_no", _ids("WQ", v.column("__person_id")), v, {
        "area_m2": np.round(rng.normal(105, 25, n).clip(35, 300), 2),
        "price_yuan": np.round(rng.normal(11000, 2500, n).clip(5000, 30000), 0),
        "signed_at": _stamps(rng, n, world.now, 1800)}, drop=("sex", "birth_date"))


@producer("vendors")
def vendors(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _people(world, basis, rng, share=0.01, name_typo=0.08, stale_phone=0.3, styles=(4, 5))
    n = v.num_rows
    return pa.table({"备案号": _ids("TF", v.column("__person_id")), "经营者": v.column("name"),
                     "身份证": v.column("id_number"),
                     "电话": v.column("phone"), "经营地点": v.column("address"),
                     "经营品类": _pick(rng, n, ["水果", "小吃", "日用品", "花卉"]),
                     "__person_id": v.column("__person_id"), "__address_id": v.column("__address_id")})


def _firm_fields(world: World, v: pa.Table) -> pa.Table:
    return world.enterprises.take(pc.index_in(v.column("__enterprise_id"), world.enterprises.column("enterprise_id")))


@producer("enterprise_registry")
def enterprise_registry(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _firms(world, basis, rng, name_variation=0.0, no_code=0.0, styles=(0,))
    truth = _firm_fields(world, v)
    n = v.num_rows
    return _finish("record_id", _ids("QY", v.column("__enterprise_id")), v, {
        "form": truth.column("form"), "registered_capital_wan": truth.column("registered_capital_wan"),
        "established": truth.column("established"), "status": truth.column("status"),
        "phone": truth.column("phone"), "updated_at": _stamps(rng, n, world.now, 1500)})


@producer("licences")
def licences(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _firms(world, basis, rng, share=0.6, name_variation=0.1, no_code=0.02)
    n = v.num_rows
    issued = _stamps(rng, n, world.now, 1800)
    return _finish("licence_no", _ids("JY", v.column("__enterprise_id")), v, {
        "licence_type": _pick(rng, n, ["食品经营许可证", "营业执照", "药品经营许可证", "特种设备使用登记"]),
        "issued_on": pc.strftime(issued, "%Y-%m-%d"),
        "updated_at": pc.strftime(_stamps(rng, n, world.now, 300), "%Y-%m-%dT%H:%M:%S")})


@producer("annual_reports")
def annual_reports(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _firms(world, basis, rng, share=0.7, name_variation=0.15, no_code=0.05, styles=(1, 4))
    n = v.num_rows
    return pa.table({"report_id": _ids("NB", v.column("__enterprise_id")), "企业名称": v.column("name"),
                     "统一社会信用代码": v.column("credit_code"),
                     "通信地址": v.column("address"), "营业收入(万元)": np.round(rng.lognormal(6, 1.5, n), 2),
                     "从业人数": rng.integers(1, 500, n), "__enterprise_id": v.column("__enterprise_id"),
                     "__address_id": v.column("__address_id")})


@producer("pollution_permits")
def pollution_permits(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _firms(world, basis, rng, share=0.08, name_variation=0.25, no_code=0.05)
    n = v.num_rows
    return _finish("permit_no", _ids("PW", v.column("__enterprise_id")), v, {
        "pollutants": _pick(rng, n, ["COD,氨氮", "SO2,NOx", "VOCs", "颗粒物"]),
        "valid_until": pc.strftime(_stamps(rng, n, world.now + np.timedelta64(1800, "D"), 1500), "%Y-%m-%d"),
        "updated_at": _stamps(rng, n, world.now, 500)})


@producer("construction_permits")
def construction_permits(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _firms(world, basis, rng, share=0.05, name_variation=0.2, no_code=0.1, styles=(1, 2))
    n = v.num_rows
    return _finish("permit_no", _ids("SG", v.column("__enterprise_id")), v, {
        "project": np.char.add(_pick(rng, n, ["安置房", "商业综合体", "学校", "道路改造"]), "项目"),
        "contract_value_wan": np.round(rng.lognormal(8, 1, n), 2), "updated_at": _stamps(rng, n, world.now, 900)})


@producer("hazard")
def hazard(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    v = _firms(world, basis, rng, share=0.05, name_variation=0.35, no_code=0.15, styles=(3, 4))
    n = v.num_rows
    return pa.table({"ledger_id": _ids("WH", v.column("__enterprise_id")), "单位名称": v.column("name"),
                     "信用代码": v.column("credit_code"),
                     "地址": v.column("address"),
                     "风险等级": _pick(rng, n, ["一级", "二级", "三级", "四级"]),
                     "__enterprise_id": v.column("__enterprise_id"), "__address_id": v.column("__address_id")})


def _addresses(world: World, basis: Basis) -> pa.Table:
    a = world.addresses
    return a.filter(pc.equal(a.column("district_code"), basis.district)) if basis.district else a


@producer("address_registry")
def address_registry(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    a = _addresses(world, basis)
    return a.append_column("updated_at", _stamps(rng, a.num_rows, world.now, 2000)).append_column(
        "__address_id", a.column("address_id"))


@producer("parcels")
def parcels(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    a = _addresses(world, basis)
    a = a.take(pa.array(np.flatnonzero(rng.random(a.num_rows) < 0.3)))
    n = a.num_rows
    return pa.table({"parcel_id": _ids("ZD", a.column("address_id")),
                     "located_at": geo.format_addresses(a, np.full(n, 1, np.int8)),
                     "land_use": _pick(rng, n, ["住宅用地", "商服用地", "工业用地", "公共管理与公共服务用地"]),
                     "area_m2": np.round(rng.lognormal(8, 0.8, n), 1), "__address_id": a.column("address_id")})


@producer("incidents")
def incidents(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    a = _addresses(world, basis)
    a = a.take(pa.array(np.flatnonzero(rng.random(a.num_rows) < 0.02)))
    n = a.num_rows
    return pa.table({"incident_id": _ids("SJ", a.column("address_id")),
                     "kind": _pick(rng, n, ["火灾", "交通事故", "燃气泄漏", "内涝", "建筑施工事故"]),
                     "location": geo.format_addresses(a, np.full(n, 2, np.int8)), "lon": a.column("lon"),
                     "lat": a.column("lat"), "reported_at": _stamps(rng, n, world.now, 365),
                     "__address_id": a.column("address_id")})


def _tickets(basis: Basis) -> pa.Table:
    assert basis.tickets is not None
    t = basis.tickets
    if basis.district:
        t = t.filter(pc.equal(t.column("district"), geo.district_by_code(basis.district).name))
    return t


@producer("tickets")
def tickets(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    return _tickets(basis)


@producer("ticket_events")
def ticket_events(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    assert basis.events is not None
    return basis.events


@producer("city_cases")
def city_cases(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    t = _tickets(basis)
    t = t.filter(pc.equal(t.column("department"), "urban"))
    n = t.num_rows
    return pa.table({"case_id": np.char.add("CG", np.asarray(t.column("ticket_id").to_pylist(), dtype=str)),
                     "source": np.where(rng.random(n) < 0.6, "12345转办", "网格员上报"),
                     "category": t.column("category"), "address": t.column("address"), "status": t.column("status"),
                     "updated_at": t.column("updated_at"), "__address_id": t.column("__address_id")})


@producer("hospitals")
def hospitals(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    names = ["中南大学湘雅医院", "中南大学湘雅二医院", "中南大学湘雅三医院", "湖南省人民医院", "长沙市中心医院",
             "长沙市第一医院", "长沙市第三医院", "长沙市第四医院", "湖南省儿童医院", "长沙县人民医院", "浏阳市人民医院",
             "宁乡市人民医院", "望城区人民医院"]
    a = world.addresses.slice(0, len(names))
    return pa.table({"hospital_id": [f"H{k + 1:03d}" for k in range(len(names))], "name": names,
                     "level": ["三级甲等"] * 9 + ["二级甲等"] * 4, "address": a.column("standard"),
                     "beds": rng.integers(300, 3500, len(names)), "__address_id": a.column("address_id")})


@producer("schools")
def schools(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    """60 schools across the districts, each at a registry address of its district written the way a school
    register does (长沙市芙蓉区五一大道123号), so the wall can geocode them."""
    ds = geo.districts()
    kinds = ["小学", "中学", "实验学校", "外国语学校"]
    in_district = np.asarray(world.addresses.column("district").to_pylist(), dtype=str)
    rows, at = [], []
    for k in range(60):
        d = ds[k % len(ds)]
        rows.append((f"SC{k + 1:04d}", f"长沙市{d.name}{d.streets[k % len(d.streets)][:2]}{kinds[k % 4]}", d.name))
        where = np.flatnonzero(in_district == d.name)
        at.append(int(where[(k // len(ds)) % len(where)]) if len(where) else k % world.addresses.num_rows)
    a = world.addresses.take(pa.array(at, pa.int64()))
    return pa.table({"school_id": [r[0] for r in rows], "学校名称": [r[1] for r in rows],
                     "所在区县": [r[2] for r in rows],
                     "在校生人数": rng.integers(300, 4000, 60),
                     "学校地址": geo.format_addresses(a, np.full(60, 1, np.int8)),
                     "__address_id": a.column("address_id")})


@producer("bus_lines")
def bus_lines(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    lines = sorted(set(world.sensors.buses.column("line").to_pylist()))
    roads = [r for d in geo.districts() for r in d.roads]
    return pa.table({"line": lines, "first_stop": [roads[k * 3 % len(roads)] + "站" for k in range(len(lines))],
                     "last_stop": [roads[(k * 5 + 7) % len(roads)] + "站" for k in range(len(lines))],
                     "fare_yuan": np.where(rng.random(len(lines)) < 0.8, 2.0, 1.0)})


@producer("knowledge")
def knowledge(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    rows = [(f"KB{k + 1:04d}", cat, dept, f"关于{cat}类诉求的办理指引（第{k + 1}版）", tpls[0])
            for k, (cat, (dept, tpls)) in enumerate(CATEGORIES.items())]
    return pa.table({"article_id": [r[0] for r in rows], "category": [r[1] for r in rows],
                     "department": [r[2] for r in rows], "title": [r[3] for r in rows],
                     "example": [r[4] for r in rows]})


@producer("stations")
def stations(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
    return world.sensors.stations


def _history(feed: str) -> Producer:
    def build(world: World, basis: Basis, rng: np.random.Generator) -> pa.Table:
        return sensors.FEEDS[feed](world.sensors, world.seed, world.start, world.now)
    return build


PRODUCERS["air_history"] = _history("air")
PRODUCERS["traffic_history"] = _history("traffic")

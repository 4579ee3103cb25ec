"""The demo city's catalogue: 13 departments of Changsha, their information systems, and what each holds.

Each system has a kind, as real departments do: relational databases (PostgreSQL/MariaDB, SQLite
where a vendor shipped an embedded one), spreadsheet and CSV exports (some GBK, with Chinese headers),
REST APIs behind the department simulator, and live sensor feeds. Every object names a `producer`
(see `producers.py`) and the `basis` it is built from, so large scales can build it chunk by chunk.
`branches()` grows the city towards Changsha's 356+ systems with per-district branch systems.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from urbanbrain.demo import geo

# kinds: postgres, mysql, sqlite, csv, csv-gbk, xlsx, parquet, ndjson, rest (static API), live (sensor API)
FILE_KINDS = {"csv", "csv-gbk", "xlsx", "parquet", "ndjson"}


@dataclass(frozen=True)
class ObjectSpec:
    """One table/file/endpoint: built by `producer` from `basis`; `key` is its record id column."""

    name: str
    producer: str
    basis: str  # persons | enterprises | addresses | tickets | static | sensor
    key: str
    cursor: str | None = None
    options: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class SystemSpec:
    name: str
    dept: str
    kind: str
    title: str
    objects: tuple[ObjectSpec, ...]
    schedule: str = "every 1d"
    district: str | None = None  # branch systems hold one district's share

    @property
    def connector(self) -> str:
        return "files" if self.kind in FILE_KINDS else "rest" if self.kind == "live" else self.kind


@dataclass(frozen=True)
class DepartmentSpec:
    code: str
    name: str
    name_en: str
    systems: tuple[SystemSpec, ...] = field(default_factory=tuple)


def _o(name: str, producer: str, basis: str, key: str, cursor: str | None = None, **options: object) -> ObjectSpec:
    return ObjectSpec(name, producer, basis, key, cursor, tuple(sorted(options.items())))


def _s(name: str, dept: str, kind: str, title: str, *objects: ObjectSpec, schedule: str = "every 1d") -> SystemSpec:
    return SystemSpec(name, dept, kind, title, tuple(objects), schedule)


DEPARTMENTS: tuple[DepartmentSpec, ...] = (
    DepartmentSpec("police", "长沙市公安局", "Public Security Bureau", (
        _s("hukou-registry", "police", "postgres", "人口户籍管理系统",
           _o("residents", "hukou", "persons", "record_id", "updated_at")),
        _s("vehicle-registry", "police", "mysql", "机动车登记系统",
           _o("vehicles", "vehicles", "persons", "vehicle_id", "updated_at")),
        _s("floating-population", "police", "csv-gbk", "流动人口登记导出",
           _o("floating_population", "floating", "persons", "登记编号")),
    )),
    DepartmentSpec("market", "长沙市市场监督管理局", "Market Regulation Administration", (
        _s("enterprise-registry", "market", "postgres", "企业登记注册系统",
           _o("enterprises", "enterprise_registry", "enterprises", "record_id", "updated_at")),
        _s("licence-service", "market", "rest", "许可证照服务接口",
           _o("licences", "licences", "enterprises", "licence_no", "updated_at", paging="page")),
        _s("annual-reports", "market", "xlsx", "企业年报汇总表",
           _o("annual_reports_2023", "annual_reports", "enterprises", "report_id")),
    )),
    DepartmentSpec("hrss", "长沙市人力资源和社会保障局", "Human Resources and Social Security Bureau", (
        _s("social-insurance", "hrss", "mysql", "社会保险参保系统",
           _o("insured_persons", "insured", "persons", "record_id", "updated_at")),
        _s("employment-service", "hrss", "rest", "就业服务平台接口",
           _o("job_seekers", "job_seekers", "persons", "seeker_id", "updated_at", paging="offset")),
    )),
    DepartmentSpec("health", "长沙市卫生健康委员会", "Health Commission", (
        _s("health-records", "health", "postgres", "全民健康档案系统",
           _o("patients", "patients", "persons", "record_id", "updated_at")),
        _s("medical-institutions", "health", "sqlite", "医疗机构管理系统",
           _o("hospitals", "hospitals", "static", "hospital_id")),
        _s("vaccination-export", "health", "csv", "预防接种数据导出",
           _o("vaccinations", "vaccinations", "persons", "record_id")),
    )),
    DepartmentSpec("education", "长沙市教育局", "Education Bureau", (
        _s("school-registry", "education", "xlsx", "学校名录",
           _o("schools", "schools", "static", "school_id")),
        _s("student-registry", "education", "sqlite", "学籍管理系统",
           _o("students", "students", "persons", "student_id", "updated_at")),
    )),
    DepartmentSpec("civil", "长沙市民政局", "Civil Affairs Bureau", (
        _s("marriage-registry", "civil", "sqlite", "婚姻登记系统",
           _o("marriages", "marriages", "persons", "record_id", "registered_at")),
        _s("subsistence-allowance", "civil", "csv-gbk", "城乡低保对象名册",
           _o("dibao_roster", "dibao", "persons", "序号")),
        _s("elderly-care", "civil", "rest", "养老服务平台接口",
           _o("elderly", "elderly", "persons", "elder_id", "updated_at", paging="cursor")),
    )),
    DepartmentSpec("transport", "长沙市交通运输局", "Transport Bureau", (
        _s("bus-gps", "transport", "live", "公交车辆实时定位",
           _o("positions", "buses", "sensor", "position_id", "ts", window_hours=6), schedule="every 1m"),
        _s("traffic-detectors", "transport", "live", "交通流量检测器",
           _o("flows", "traffic", "sensor", "record_id", "ts", window_hours=24), schedule="every 1m"),
        _s("bus-lines", "transport", "csv", "公交线路资料",
           _o("bus_lines", "bus_lines", "static", "line")),
        _s("traffic-archive", "transport", "parquet", "交通流量历史归档",
           _o("traffic_history", "traffic_history", "sensor", "record_id")),
    )),
    DepartmentSpec("ecology", "长沙市生态环境局", "Ecology and Environment Bureau", (
        _s("air-quality", "ecology", "live", "空气质量自动监测",
           _o("readings", "air", "sensor", "reading_id", "ts", window_hours=0),
           _o("stations", "stations", "static", "station_id"), schedule="every 1m"),
        _s("air-archive", "ecology", "parquet", "空气质量历史归档",
           _o("air_history", "air_history", "sensor", "reading_id")),
        _s("pollution-permits", "ecology", "mysql", "排污许可管理系统",
           _o("permits", "pollution_permits", "enterprises", "permit_no", "updated_at")),
    )),
    DepartmentSpec("housing", "长沙市住房和城乡建设局", "Housing and Urban-Rural Development Bureau", (
        _s("construction-permits", "housing", "postgres", "施工许可管理系统",
           _o("permits", "construction_permits", "enterprises", "permit_no", "updated_at")),
        _s("housing-transactions", "housing", "sqlite", "商品房网签备案系统",
           _o("transactions", "transactions", "persons", "contract_no", "signed_at")),
    )),
    DepartmentSpec("urban", "长沙市城市管理和综合执法局", "Urban Management and Law Enforcement Bureau", (
        _s("city-cases", "urban", "mysql", "数字城管案件系统",
           _o("cases", "city_cases", "tickets", "case_id", "updated_at")),
        _s("street-vendors", "urban", "csv-gbk", "摊贩备案登记",
           _o("vendors", "vendors", "persons", "备案号")),
    )),
    DepartmentSpec("emergency", "长沙市应急管理局", "Emergency Management Bureau", (
        _s("hazard-enterprises", "emergency", "xlsx", "危险化学品企业台账",
           _o("hazard_ledger", "hazard", "enterprises", "ledger_id")),
        _s("incident-reports", "emergency", "sqlite", "突发事件信息报送",
           _o("incidents", "incidents", "addresses", "incident_id", "reported_at")),
    )),
    DepartmentSpec("hotline", "长沙市12345政务服务便民热线", "12345 Citizen Hotline Centre", (
        _s("hotline-tickets", "hotline", "postgres", "12345热线工单系统",
           _o("tickets", "tickets", "tickets", "ticket_id", "updated_at"),
           _o("ticket_events", "ticket_events", "tickets", "event_id", "at")),
        _s("hotline-knowledge", "hotline", "ndjson", "热线知识库",
           _o("knowledge", "knowledge", "static", "article_id")),
    )),
    DepartmentSpec("resources", "长沙市自然资源和规划局", "Natural Resources and Planning Bureau", (
        _s("address-registry", "resources", "postgres", "标准地址库",
           _o("addresses", "address_registry", "addresses", "address_id", "updated_at")),
        _s("land-parcels", "resources", "sqlite", "不动产登记宗地信息",
           _o("parcels", "parcels", "addresses", "parcel_id")),
    )),
)

# what a branch system of each department holds: (object name, producer, basis, key)
BRANCH_OBJECTS = {
    "police": ("residents", "hukou", "persons", "record_id"),
    "market": ("enterprises", "enterprise_registry", "enterprises", "record_id"),
    "hrss": ("insured_persons", "insured", "persons", "record_id"),
    "health": ("patients", "patients", "persons", "record_id"),
    "education": ("students", "students", "persons", "student_id"),
    "civil": ("dibao_roster", "dibao", "persons", "序号"),
    "transport": ("bus_lines", "bus_lines", "static", "line"),
    "ecology": ("permits", "pollution_permits", "enterprises", "permit_no"),
    "housing": ("transactions", "transactions", "persons", "contract_no"),
    "urban": ("cases", "city_cases", "tickets", "case_id"),
    "emergency": ("hazard_ledger", "hazard", "enterprises", "ledger_id"),
    "hotline": ("tickets", "tickets", "tickets", "ticket_id"),
    "resources": ("addresses", "address_registry", "addresses", "address_id"),
}
BRANCH_WORD = {"police": "分局", "market": "市场监管局", "hrss": "人社局", "health": "卫健局", "education": "教育局",
               "civil": "民政局", "transport": "交通局", "ecology": "生态环境分局", "housing": "住建局",
               "urban": "城管执法局", "emergency": "应急管理局", "hotline": "热线分中心", "resources": "自然资源分局"}


def base_systems() -> list[SystemSpec]:
    return [s for d in DEPARTMENTS for s in d.systems]


def branches(total: int) -> list[SystemSpec]:
    """Per-district branch systems so that base + branches >= `total` (none if the base suffices).

    Branch k of department d in district x is `<d>-<x>-<k>`: SQLite and CSV alternate, as district
    bureaus run whatever their vendor shipped; each holds its district's share of the department's data.
    """
    need = total - len(base_systems())
    out: list[SystemSpec] = []
    round_no = 0
    while len(out) < need:
        round_no += 1
        for district in geo.districts():
            for dept in DEPARTMENTS:
                if len(out) >= need:
                    break
                obj, producer, basis, key = BRANCH_OBJECTS[dept.code]
                kind = "sqlite" if (len(out) + round_no) % 2 else "csv"
                title = f"{district.name}{BRANCH_WORD[dept.code]}业务系统{round_no}"
                out.append(SystemSpec(f"{dept.code}-{district.slug}-{round_no}", dept.code, kind, title,
                                      (ObjectSpec(obj, producer, basis, key),), "every 1d", district.code))
    return out

"""The demo city's vital signs (城市体征): 60+ indicators over its own datasets, defined and computed after sync.

Every indicator is plain SQL over the lake, owned by the department whose data it reads (so it runs as
that department's view, like any indicator), with a unit, direction, thresholds and, where one matches,
an ISO 37120:2018 / ISO 37122:2019 indicator number. Where no ISO indicator matches (a hotline's
satisfaction rate, bus speed) the code is left empty rather than stretched.

Time windows are relative to the newest record of each dataset (not the wall clock), so the same data
always gives the same values. Per-capita figures use the city's resident population from the 2023
statistical bulletin (长沙市 常住人口 1051.31 万), written in the SQL as a constant: the demo's registries
are samples, not censuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

POPULATION = 10_513_100
CITY_AREA_KM2 = 11_819.0
# the demo city's district codes and names (resources.address_registry and the bundled boundaries agree)
DISTRICTS = {"430102": "芙蓉区", "430103": "天心区", "430104": "岳麓区", "430105": "开福区", "430111": "雨花区",
             "430112": "望城区", "430121": "长沙县", "430181": "浏阳市", "430182": "宁乡市"}


def district_of(column: str) -> str:
    """A SQL expression naming the district of a 6-digit district code column (NULL when unknown)."""
    cases = " ".join(f"WHEN '{code}' THEN '{name}'" for code, name in DISTRICTS.items())
    return f"CASE CAST({column} AS VARCHAR) {cases} END"


def district_in_text(column: str) -> str:
    """A SQL expression finding the district named inside a free-text address (first match)."""
    cases = " ".join(f"WHEN {column} LIKE '%{name}%' THEN '{name}'" for name in DISTRICTS.values())
    return f"CASE {cases} END"


@dataclass(frozen=True)
class Def:
    name: str
    title_zh: str
    title_en: str
    theme: str
    department: str
    unit: str
    sql: str
    direction: str = "up"
    breakdown: str | None = None
    target: str | None = None
    warn: str | None = None
    alarm: str | None = None
    iso: str | None = None
    schedule: str = "every 1h"
    function: str | None = None  # a registered function (`demo.indicator_functions`) instead of the SQL


def _grouped(key: str, alias: str, select_value: str, source: str, where: str = "") -> str:
    """One row per key plus the city-wide row (key NULL), via GROUPING SETS; a missing key reads 未知."""
    cond = f" WHERE {where}" if where else ""
    return (f"SELECT CASE WHEN grouping({key}) = 0 THEN coalesce(CAST({key} AS VARCHAR), '未知') END AS {alias}, "
            f"{select_value} AS value FROM {source}{cond} GROUP BY GROUPING SETS (({key}), ())")


def _by_district(select_value: str, source: str, district_expr: str, where: str = "") -> str:
    return _grouped(district_expr, "district", select_value, source, where)


def _by_street(select_value: str, source: str, district_expr: str, street_expr: str, where: str = "") -> str:
    """One row per district (key `<district>`), one per street of it (`<district>/<street>`, the nesting
    `operate.indicators.NESTED` drills down) and the city-wide row (key NULL); a missing name reads 未知."""
    cond = f" WHERE {where}" if where else ""
    d, st = f"coalesce(CAST({district_expr} AS VARCHAR), '未知')", f"coalesce(CAST({street_expr} AS VARCHAR), '未知')"
    return (f"SELECT CASE WHEN grouping({street_expr}) = 0 THEN {d} || '/' || {st} "
            f"WHEN grouping({district_expr}) = 0 THEN {d} END AS street, {select_value} AS value FROM {source}{cond} "
            f"GROUP BY GROUPING SETS (({district_expr}, {street_expr}), ({district_expr}), ())")


AIR = "ecology.air_quality.readings"
STATIONS = "ecology.air_quality.stations"
_LAST24 = f"r.ts > (SELECT max(ts) FROM {AIR}) - INTERVAL 24 HOUR"
_AIR_JOIN = f"{AIR} r JOIN {STATIONS} s USING (station_id)"
FLOWS = "transport.traffic_detectors.flows"
_FLOW24 = f"ts > (SELECT max(ts) FROM {FLOWS}) - INTERVAL 24 HOUR"
TICKETS = "hotline.hotline_tickets.tickets"
EVENTS = "hotline.hotline_tickets.ticket_events"
_T_DISTRICT = "district"


def _env() -> list[Def]:
    d = district_of("s.district_code")
    daily = (f"(SELECT s.district_code, CAST(r.ts AS DATE) AS day, avg(r.pm25) AS pm25 FROM {_AIR_JOIN} "
             f"GROUP BY 1, 2)")
    return [
        Def("air_pm25_24h", "PM2.5 日均浓度", "PM2.5 concentration (24 h mean)", "environment", "ecology", "μg/m³",
            _by_district("round(avg(r.pm25), 1)", _AIR_JOIN, d, _LAST24), "down", "district",
            "<= 35", "> 50", "> 75", "37120:8.1"),
        Def("air_pm10_24h", "PM10 日均浓度", "PM10 concentration (24 h mean)", "environment", "ecology", "μg/m³",
            _by_district("round(avg(r.pm10), 1)", _AIR_JOIN, d, _LAST24), "down", "district",
            "<= 70", "> 100", "> 150", "37120:8.2"),
        Def("air_no2_24h", "二氧化氮日均浓度", "NO₂ concentration (24 h mean)", "environment", "ecology", "μg/m³",
            _by_district("round(avg(r.no2), 1)", _AIR_JOIN, d, _LAST24), "down", "district",
            "<= 40", "> 60", "> 80"),
        Def("air_o3_24h", "臭氧日均浓度", "O₃ concentration (24 h mean)", "environment", "ecology", "μg/m³",
            _by_district("round(avg(r.o3), 1)", _AIR_JOIN, d, _LAST24), "down", "district",
            "<= 100", "> 160", "> 200"),
        Def("air_pm25_max_1h", "PM2.5 小时峰值", "PM2.5 hourly peak (24 h)", "environment", "ecology", "μg/m³",
            _by_district("round(max(r.pm25), 1)", _AIR_JOIN, d, _LAST24 + " AND r.pm25 < 999"), "down", "district",
            "<= 75", "> 115", "> 150"),
        Def("air_good_hours_share", "空气质量优良小时比例", "Share of hours with good air (PM2.5 ≤ 35)",
            "environment", "ecology", "%",
            _by_district("round(100.0 * avg(CASE WHEN r.pm25 <= 35 THEN 1 ELSE 0 END), 1)", _AIR_JOIN, d, _LAST24),
            "up", "district", ">= 85", "< 80", "< 70"),
        Def("air_good_days_share", "空气质量优良天数比例", "Share of good-air days (daily PM2.5 ≤ 35)",
            "environment", "ecology", "%",
            _by_district("round(100.0 * avg(CASE WHEN pm25 <= 35 THEN 1 ELSE 0 END), 1)", f"{daily} s",
                         district_of("s.district_code")), "up", "district", ">= 85", "< 80", "< 70"),
        Def("air_stations_reporting", "在线空气监测站数", "Air stations reporting (last hour)", "environment",
            "ecology", "个",
            f"SELECT count(DISTINCT station_id) AS value FROM {AIR} WHERE ts > (SELECT max(ts) FROM {AIR}) "
            "- INTERVAL 1 HOUR", "up", None, ">= 20", "< 18", "< 10"),
        Def("air_station_density", "空气质量实时监测站密度", "Real-time air quality stations per 1000 km²",
            "environment", "ecology", "个/千km²",
            f"SELECT round(1000.0 * count(*) / {CITY_AREA_KM2}, 3) AS value FROM {STATIONS}", "up", None,
            ">= 1.5", "< 1", "< 0.5", "37122:8.2"),
        Def("air_national_station_share", "国控点占比", "Share of national control stations", "environment",
            "ecology", "%",
            f"SELECT round(100.0 * avg(CASE WHEN kind = '国控点' THEN 1 ELSE 0 END), 1) AS value FROM {STATIONS}",
            "up", None, ">= 40", "< 30", "< 20"),
        Def("pollution_permits", "排污许可证数", "Pollutant discharge permits", "environment", "ecology", "张",
            _by_district("count(*)", "ecology.pollution_permits.permits", district_of("district_code")),
            "up", "district", schedule="every 1d"),
        Def("air_readings_missing_share", "监测数据缺测率", "Share of air readings missing PM2.5", "environment",
            "ecology", "%",
            f"SELECT round(100.0 * avg(CASE WHEN pm25 IS NULL THEN 1 ELSE 0 END), 2) AS value FROM {AIR}",
            "down", None, "<= 1", "> 5", "> 10"),
    ]


def _transport() -> list[Def]:
    gps = "transport.bus_gps.positions"
    return [
        Def("traffic_avg_speed", "路网平均车速", "Average road speed (24 h)", "transport", "transport", "km/h",
            f"SELECT round(avg(avg_speed_kmh), 1) AS value FROM {FLOWS} WHERE {_FLOW24}", "up", None,
            ">= 30", "< 25", "< 18"),
        Def("traffic_congested_share", "拥堵时段比例", "Share of detector intervals congested (< 20 km/h)",
            "transport", "transport", "%",
            f"SELECT round(100.0 * avg(CASE WHEN avg_speed_kmh < 20 THEN 1 ELSE 0 END), 1) AS value FROM {FLOWS} "
            f"WHERE {_FLOW24}", "down", None, "<= 15", "> 25", "> 40"),
        Def("traffic_volume_24h", "24小时机动车流量", "Vehicles counted (24 h)", "transport", "transport", "辆",
            f"SELECT sum(vehicles) AS value FROM {FLOWS} WHERE {_FLOW24}", "up", None),
        Def("traffic_peak_hour_volume", "高峰小时流量", "Peak-hour vehicles (24 h)", "transport", "transport", "辆",
            f"SELECT max(v) AS value FROM (SELECT date_trunc('hour', ts) h, sum(vehicles) v FROM {FLOWS} "
            f"WHERE {_FLOW24} GROUP BY 1)", "down", None),
        Def("traffic_detectors_online", "在线交通检测器", "Traffic detectors reporting (last hour)", "transport",
            "transport", "个",
            f"SELECT count(DISTINCT detector_id) AS value FROM {FLOWS} WHERE ts > (SELECT max(ts) FROM {FLOWS}) "
            "- INTERVAL 1 HOUR", "up", None, ">= 40", "< 36", "< 20"),
        Def("traffic_speed_yoy_day", "车速日环比", "Road speed vs the previous day", "transport", "transport", "%",
            "SELECT round(100.0 * (avg(CASE WHEN ts > m - INTERVAL 24 HOUR THEN avg_speed_kmh END) / "
            "nullif(avg(CASE WHEN ts <= m - INTERVAL 24 HOUR THEN avg_speed_kmh END), 0) - 1), 2) AS value "
            "FROM transport.traffic_archive.traffic_history, (SELECT max(ts) AS m FROM "
            "transport.traffic_archive.traffic_history) WHERE ts > m - INTERVAL 48 HOUR", "up", None,
            ">= 0", "< -5", "< -15"),
        Def("bus_avg_speed", "公交平均运营速度", "Average bus operating speed", "transport", "transport", "km/h",
            _grouped("line", "line", "round(avg(speed_kmh), 1)", gps),
            "up", "line", ">= 18", "< 15", "< 12"),
        Def("bus_active_vehicles", "运营公交车辆数", "Buses in service (GPS seen)", "transport", "transport", "辆",
            f"SELECT count(DISTINCT bus_id) AS value FROM {gps}", "up", None),
        Def("bus_lines", "公交线路数", "Bus lines", "transport", "transport", "条",
            "SELECT count(*) AS value FROM transport.bus_lines.bus_lines", "up", None, schedule="every 1d"),
        Def("bus_avg_fare", "公交平均票价", "Average bus fare", "transport", "transport", "元",
            "SELECT round(avg(fare_yuan), 2) AS value FROM transport.bus_lines.bus_lines", "down", None,
            schedule="every 1d"),
        Def("bus_stopped_share", "公交停滞点位比例", "Share of bus GPS fixes standing still (< 5 km/h)",
            "transport", "transport", "%",
            f"SELECT round(100.0 * avg(CASE WHEN speed_kmh < 5 THEN 1 ELSE 0 END), 1) AS value FROM {gps}",
            "down", None, "<= 15", "> 25", "> 40"),
        Def("bus_gps_fix_rate", "公交定位上报频次", "Bus GPS fixes per bus", "transport", "transport", "次",
            f"SELECT round(count(*) * 1.0 / nullif(count(DISTINCT bus_id), 0), 1) AS value FROM {gps}", "up", None),
    ]


def _safety() -> list[Def]:
    incidents = "emergency.incident_reports.incidents"
    return [
        Def("incidents_total", "突发事件数", "Emergency incidents reported", "public_safety", "emergency", "起",
            f"SELECT count(*) AS value FROM {incidents}", "down", None, "<= 5", "> 10", "> 20"),
        Def("incidents_fire", "火灾事件数", "Fires reported", "public_safety", "emergency", "起",
            f"SELECT count(*) AS value FROM {incidents} WHERE kind = '火灾'", "down", None, "<= 2", "> 3", "> 6"),
        Def("incidents_fire_per_100k", "每十万人火灾数", "Fires per 100 000 population", "public_safety",
            "emergency", "起/10万人",
            f"SELECT round(100000.0 * count(*) / {POPULATION}, 4) AS value FROM {incidents} WHERE kind = '火灾'",
            "down", None, iso=None),
        Def("incidents_traffic", "交通事故数", "Traffic accidents reported", "public_safety", "emergency", "起",
            f"SELECT count(*) AS value FROM {incidents} WHERE kind = '交通事故'", "down", None, "<= 3", "> 5", "> 10"),
        Def("incidents_flooding", "内涝事件数", "Urban flooding incidents", "public_safety", "emergency", "起",
            f"SELECT count(*) AS value FROM {incidents} WHERE kind = '内涝'", "down", None, "<= 2", "> 4", "> 8"),
        Def("hazard_enterprises_major", "重大危险源企业数", "Major-hazard enterprises (level 1–2)",
            "public_safety", "emergency", "家",
            "SELECT count(*) AS value FROM emergency.hazard_enterprises.hazard_ledger_sheet1 "
            "WHERE 风险等级 IN ('一级', '二级')", "down", None, schedule="every 1d"),
        Def("registered_vehicles", "登记机动车数", "Registered motor vehicles (registry sample)", "public_safety",
            "police", "辆", "SELECT count(*) AS value FROM police.vehicle_registry.vehicles", "up", None,
            schedule="every 1d"),
        Def("new_energy_vehicle_share", "新能源品牌车辆占比", "Share of vehicles of new-energy brands (BYD, Tesla)",
            "public_safety", "police", "%",
            "SELECT round(100.0 * avg(CASE WHEN brand IN ('比亚迪', '特斯拉') THEN 1 ELSE 0 END), 1) AS value "
            "FROM police.vehicle_registry.vehicles", "up", None, ">= 30", "< 20", "< 10", schedule="every 1d"),
        Def("floating_population", "流动人口登记数", "Floating population registered", "public_safety", "police",
            "人", "SELECT count(*) AS value FROM police.floating_population.floating_population", "up", None,
            schedule="every 1d"),
    ]


def _health() -> list[Def]:
    hospitals = "health.medical_institutions.hospitals"
    patients = "health.health_records.patients"
    vacc = "health.vaccination_export.vaccinations"
    return [
        Def("hospital_beds_per_100k", "每十万人医院床位数", "Hospital beds per 100 000 population", "health",
            "health", "张/10万人",
            f"SELECT round(100000.0 * sum(beds) / {POPULATION}, 1) AS value FROM {hospitals}", "up", None,
            ">= 600", "< 400", "< 200", None, "every 1d"),
        Def("hospitals_tertiary", "三级甲等医院数", "Tertiary (3A) hospitals", "health", "health", "家",
            f"SELECT count(*) AS value FROM {hospitals} WHERE level = '三级甲等'", "up", None, schedule="every 1d"),
        Def("hospital_beds_avg", "医院平均床位", "Average beds per hospital", "health", "health", "张",
            f"SELECT round(avg(beds), 0) AS value FROM {hospitals}", "up", None, schedule="every 1d"),
        Def("health_records_chronic_share", "慢病建档比例", "Share of health records with a chronic disease",
            "health", "health", "%",
            f"SELECT round(100.0 * avg(CASE WHEN chronic <> '无' THEN 1 ELSE 0 END), 1) AS value FROM {patients}",
            "down", None, "<= 35", "> 45", "> 60"),
        Def("health_records_hypertension", "高血压患者建档数", "Hypertension patients on file", "health", "health",
            "人", f"SELECT count(*) AS value FROM {patients} WHERE chronic = '高血压'", "down", None),
        Def("health_records_diabetes", "糖尿病患者建档数", "Diabetes patients on file", "health", "health", "人",
            f"SELECT count(*) AS value FROM {patients} WHERE chronic = '糖尿病'", "down", None),
        Def("health_records_per_100k", "电子健康档案覆盖（每十万人）",
            "Electronic health records per 100 000 population",
            "health", "health", "份/10万人",
            f"SELECT round(100000.0 * count(*) / {POPULATION}, 2) AS value FROM {patients}", "up", None,
            iso="37122:11.1"),
        Def("vaccinations_total", "疫苗接种剂次", "Vaccine doses recorded", "health", "health", "剂次",
            _grouped("vaccine", "vaccine", "count(*)", vacc),
            "up", "vaccine"),
        Def("vaccination_full_course_share", "全程接种比例", "Share of doses completing a course (dose ≥ 2)",
            "health", "health", "%",
            f"SELECT round(100.0 * avg(CASE WHEN dose >= 2 THEN 1 ELSE 0 END), 1) AS value FROM {vacc}", "up", None,
            ">= 60", "< 50", "< 30"),
    ]


def _education() -> list[Def]:
    schools = "education.school_registry.schools_sheet1"
    return [
        Def("schools", "学校数", "Schools", "education", "education", "所",
            _by_district("count(*)", schools, "所在区县"),
            "up", "district", schedule="every 1d"),
        Def("students_enrolled", "在校生人数", "Students enrolled", "education", "education", "人",
            _by_district("sum(在校生人数)", schools, "所在区县"), "up", "district", schedule="every 1d"),
        Def("students_per_school", "校均在校生", "Students per school", "education", "education", "人",
            _by_district("round(avg(在校生人数), 0)", schools, "所在区县"), "down", "district",
            "<= 2500", "> 3000", "> 4000",
            schedule="every 1d"),
        Def("students_per_100k", "每十万人在校生", "Students enrolled per 100 000 population", "education",
            "education", "人/10万人",
            f"SELECT round(100000.0 * sum(在校生人数) / {POPULATION}, 0) AS value FROM {schools}", "up", None,
            schedule="every 1d"),
        Def("student_registry_senior_share", "高中学段学生占比", "Share of registered students in grades 10–12",
            "education", "education", "%",
            "SELECT round(100.0 * avg(CASE WHEN grade >= 10 THEN 1 ELSE 0 END), 1) AS value "
            "FROM education.student_registry.students", "up", None),
        Def("student_registry_female_share", "女生占比", "Share of registered students who are female",
            "education", "education", "%",
            "SELECT round(100.0 * avg(CASE WHEN sex = '女' THEN 1 ELSE 0 END), 1) AS value "
            "FROM education.student_registry.students", "up", None),
    ]


def _economy() -> list[Def]:
    ent = "market.enterprise_registry.enterprises"
    reports = "market.annual_reports.annual_reports_2023_sheet1"
    active = "status IN ('在业', '存续')"
    return [
        Def("enterprises_active", "在营企业数", "Active enterprises", "economy", "market", "家",
            _by_district("count(*)", ent, district_of("district_code"), active), "up", "district",
            schedule="every 1d"),
        Def("businesses_per_100k", "每十万人企业数", "Businesses per 100 000 population", "economy", "market",
            "家/10万人", f"SELECT round(100000.0 * count(*) / {POPULATION}, 3) AS value FROM {ent} WHERE {active}",
            "up", None, schedule="every 1d"),
        Def("enterprise_exit_share", "企业注销吊销迁出比例", "Share of enterprises closed, revoked or moved out",
            "economy", "market", "%",
            f"SELECT round(100.0 * avg(CASE WHEN {active} THEN 0 ELSE 1 END), 1) AS value FROM {ent}", "down", None,
            "<= 10", "> 15", "> 25"),
        Def("registered_capital", "在营企业注册资本", "Registered capital of active enterprises", "economy",
            "market", "万元",
            _by_district("round(sum(registered_capital_wan), 0)", ent, district_of("district_code"), active),
            "up", "district", schedule="every 1d"),
        Def("manufacturing_share", "制造业企业占比", "Share of enterprises in manufacturing", "economy", "market",
            "%", f"SELECT round(100.0 * avg(CASE WHEN industry = '制造业' THEN 1 ELSE 0 END), 1) AS value FROM {ent}",
            "up", None),
        Def("annual_revenue", "年报营业收入合计", "Revenue in annual reports (2023)", "economy", "market", "万元",
            f"SELECT round(sum(\"营业收入(万元)\"), 0) AS value FROM {reports}", "up", None, schedule="every 1d"),
        Def("annual_report_employees", "年报从业人数", "Employees in annual reports (2023)", "economy", "market",
            "人", f"SELECT sum(从业人数) AS value FROM {reports}", "up", None, schedule="every 1d"),
        Def("revenue_per_employee", "人均营业收入", "Revenue per employee (2023 reports)", "economy", "market",
            "万元/人", f"SELECT round(sum(\"营业收入(万元)\") / nullif(sum(从业人数), 0), 2) AS value FROM {reports}",
            "up", None),
        Def("licences_issued", "行政许可证件数", "Licences on record", "economy", "market", "件",
            _by_district("count(*)", "market.licence_service.licences", district_of("district_code")),
            "up", "district"),
        Def("food_licence_share", "食品经营许可占比", "Share of licences for food business", "economy", "market", "%",
            "SELECT round(100.0 * avg(CASE WHEN licence_type = '食品经营许可证' THEN 1 ELSE 0 END), 1) AS value "
            "FROM market.licence_service.licences", "up", None),
        Def("insured_persons", "参保人数", "Persons with social insurance (sample)", "economy", "hrss", "人",
            "SELECT count(*) AS value FROM hrss.social_insurance.insured_persons", "up", None),
        Def("insurance_full_coverage_share", "五险全覆盖比例",
            "Share insured for pension, medical, unemployment, injury",
            "economy", "hrss", "%",
            "SELECT round(100.0 * avg(CASE WHEN insurance_types LIKE '%失业%' AND insurance_types LIKE '%工伤%' "
            "THEN 1 ELSE 0 END), 1) AS value FROM hrss.social_insurance.insured_persons", "up", None,
            ">= 70", "< 60", "< 40"),
        Def("insured_monthly_base", "平均缴费基数", "Average monthly contribution base", "economy", "hrss", "元",
            "SELECT round(avg(monthly_base), 0) AS value FROM hrss.social_insurance.insured_persons", "up", None),
        Def("job_seekers", "登记求职人数", "Registered job seekers", "economy", "hrss", "人",
            "SELECT count(*) AS value FROM hrss.employment_service.job_seekers", "down", None),
    ]


def _housing() -> list[Def]:
    tx = "housing.housing_transactions.transactions"
    last = f"signed_at > (SELECT max(signed_at) FROM {tx}) - INTERVAL 365 DAY"
    return [
        Def("housing_transactions_12m", "近12个月房屋成交套数", "Home sales (12 months)", "housing", "housing", "套",
            f"SELECT count(*) AS value FROM {tx} WHERE {last}", "up", None),
        Def("housing_price_per_m2", "成交均价", "Average sale price per m²", "housing", "housing", "元/m²",
            f"SELECT round(sum(price_yuan) / nullif(sum(area_m2), 0), 0) AS value FROM {tx} WHERE {last}", "down",
            None),
        Def("housing_avg_area", "套均面积", "Average floor area sold", "housing", "housing", "m²",
            f"SELECT round(avg(area_m2), 1) AS value FROM {tx}", "up", None),
        Def("housing_sales_yoy", "房屋成交同比", "Home sales, last 12 months vs the 12 before", "housing", "housing",
            "%", f"SELECT round(100.0 * (count(*) FILTER (WHERE signed_at > m - INTERVAL 365 DAY) * 1.0 / "
            f"nullif(count(*) FILTER (WHERE signed_at <= m - INTERVAL 365 DAY AND signed_at > m - INTERVAL 730 DAY), "
            f"0) - 1), 1) AS value FROM {tx}, (SELECT max(signed_at) AS m FROM {tx})", "up", None),
        Def("construction_permits", "施工许可数", "Construction permits", "housing", "housing", "件",
            _by_district("count(*)", "housing.construction_permits.permits", district_of("district_code")),
            "up", "district"),
        Def("construction_contract_value", "施工合同额", "Contract value of permitted construction", "housing",
            "housing", "万元",
            "SELECT round(sum(contract_value_wan), 0) AS value FROM housing.construction_permits.permits", "up", None),
    ]


def _urban() -> list[Def]:
    cases = "urban.city_cases.cases"
    return [
        Def("urban_cases_open", "城管案件在办数", "Urban management cases open", "urban_management", "urban", "件",
            f"SELECT count(*) AS value FROM {cases} WHERE status IN ('已派单', '处理中')", "down", None,
            "<= 10", "> 15", "> 30"),
        Def("urban_cases_closed_share", "城管案件结案率", "Urban management cases closed", "urban_management", "urban",
            "%", f"SELECT round(100.0 * avg(CASE WHEN status IN ('已办结', '已回访') THEN 1 ELSE 0 END), 1) AS value "
            f"FROM {cases}", "up", None, ">= 90", "< 85", "< 70"),
        Def("urban_cases_grid_share", "网格员主动发现占比", "Share of cases found by grid inspectors",
            "urban_management", "urban", "%",
            f"SELECT round(100.0 * avg(CASE WHEN source = '网格员上报' THEN 1 ELSE 0 END), 1) AS value FROM {cases}",
            "up", None, ">= 50", "< 40", "< 25"),
        Def("urban_cases_by_category", "城管案件数（按类别）", "Urban management cases by category",
            "urban_management", "urban", "件",
            _grouped("category", "category", "count(*)", cases),
            "down", "category"),
        Def("street_vendors_registered", "备案摊贩数", "Street vendors on record", "urban_management", "urban", "户",
            "SELECT count(*) AS value FROM urban.street_vendors.vendors", "up", None),
        Def("addresses_standardised", "标准地址数", "Standard addresses", "urban_management", "resources", "个",
            _by_street("count(*)", "resources.address_registry.addresses", "district", "street"), "up", "street",
            schedule="every 1d"),
        Def("land_public_service_share", "公共服务用地占比", "Share of parcel area for public services",
            "urban_management", "resources", "%",
            "SELECT round(100.0 * sum(CASE WHEN land_use = '公共管理与公共服务用地' THEN area_m2 ELSE 0 END) / "
            "nullif(sum(area_m2), 0), 1) AS value FROM resources.land_parcels.parcels", "up", None,
            ">= 20", "< 15", "< 10"),
        Def("elderly_disabled_share", "失能半失能老人占比", "Share of elderly in care who are (semi-)disabled",
            "urban_management", "civil", "%",
            "SELECT round(100.0 * avg(CASE WHEN care_level IN ('失能', '半失能') THEN 1 ELSE 0 END), 1) AS value "
            "FROM civil.elderly_care.elderly", "down", None),
        Def("dibao_beneficiaries", "低保保障人数", "People covered by subsistence allowance", "urban_management",
            "civil", "人", "SELECT sum(保障人数) AS value FROM civil.subsistence_allowance.dibao_roster", "down", None),
        Def("marriages_registered", "结婚登记数", "Marriages registered", "urban_management", "civil", "对",
            "SELECT count(*) AS value FROM civil.marriage_registry.marriages WHERE registration = '结婚登记'",
            "up", None),
    ]


def _hotline() -> list[Def]:
    district = _T_DISTRICT
    done = "status IN ('已办结', '已回访')"
    first = (f"(SELECT ticket_id, min(CASE WHEN status = '已受理' THEN \"at\" END) AS received, "
             f"min(CASE WHEN status = '已办结' THEN \"at\" END) AS closed FROM {EVENTS} GROUP BY 1)")
    return [
        Def("hotline_tickets_30d", "12345 近30天工单量", "12345 tickets (30 days)", "hotline", "hotline", "件",
            _by_district("count(*)", TICKETS, district,
                         f"created_at > (SELECT max(created_at) FROM {TICKETS}) - INTERVAL 30 DAY"),
            "down", "district"),
        Def("hotline_closure_rate", "12345 办结率", "12345 tickets closed", "hotline", "hotline", "%",
            _by_district(f"round(100.0 * avg(CASE WHEN {done} THEN 1 ELSE 0 END), 1)", TICKETS, district),
            "up", "district", ">= 90", "< 80", "< 70"),
        Def("hotline_satisfaction", "12345 满意率", "12345 satisfaction (satisfied or fairly)", "hotline",
            "hotline", "%",
            _by_district("round(100.0 * avg(CASE WHEN satisfaction IN ('满意', '基本满意') THEN 1 ELSE 0 END), 1)",
                         TICKETS, district, "satisfaction IS NOT NULL"), "up", "district", ">= 90", "< 85", "< 75"),
        Def("hotline_unsatisfied", "12345 不满意件数", "12345 tickets rated unsatisfied", "hotline", "hotline", "件",
            f"SELECT count(*) AS value FROM {TICKETS} WHERE satisfaction = '不满意'", "down", None,
            "<= 10", "> 15", "> 30"),
        Def("hotline_backlog", "12345 在办工单", "12345 tickets in progress", "hotline", "hotline", "件",
            _by_district("count(*)", TICKETS, district, "status IN ('已派单', '处理中')"), "down", "district"),
        Def("hotline_response_days", "12345 平均办结时长", "Average response time of the non-emergency hotline",
            "hotline", "hotline", "天",
            f"SELECT round(avg(epoch(closed - received)) / 86400.0, 2) AS value FROM {first} "
            "WHERE closed IS NOT NULL", "down", None, "<= 3", "> 5", "> 7"),
        Def("hotline_closed_within_3d", "12345 三日办结率", "12345 tickets closed within 3 days", "hotline", "hotline",
            "%", f"SELECT round(100.0 * avg(CASE WHEN closed <= received + INTERVAL 3 DAY THEN 1 ELSE 0 END), 1) "
            f"AS value FROM {first}", "up", None, ">= 70", "< 60", "< 40"),
        Def("hotline_phone_share", "12345 电话渠道占比", "Share of 12345 tickets by phone", "hotline", "hotline", "%",
            f"SELECT round(100.0 * avg(CASE WHEN channel = '电话' THEN 1 ELSE 0 END), 1) AS value FROM {TICKETS}",
            "down", None),
        Def("hotline_online_share", "12345 网络渠道占比", "Share of 12345 tickets online (app, web)", "hotline",
            "hotline", "%",
            f"SELECT round(100.0 * avg(CASE WHEN channel <> '电话' THEN 1 ELSE 0 END), 1) AS value FROM {TICKETS}",
            "up", None, ">= 30", "< 20", "< 10"),
        Def("hotline_noise_complaints", "噪音扰民诉求", "Noise complaints", "hotline", "hotline", "件",
            _by_district("count(*)", TICKETS, district, "category = '噪音扰民'"), "down", "district"),
        Def("hotline_by_category", "12345 诉求（按类别）", "12345 tickets by category", "hotline", "hotline", "件",
            _grouped("category", "category", "count(*)", TICKETS),
            "down", "category"),
        Def("hotline_backlog_days", "12345 积压消化天数", "Days to clear the 12345 backlog at the current pace",
            "hotline", "hotline", "天", "", "down", "district", "<= 7", "> 10", "> 20",
            function="hotline_backlog_days"),
        Def("hotline_daily_peak", "12345 日工单峰值", "12345 busiest day's tickets", "hotline", "hotline", "件",
            f"SELECT max(n) AS value FROM (SELECT CAST(created_at AS DATE) d, count(*) n FROM {TICKETS} GROUP BY 1)",
            "down", None),
    ]


CATALOGUE: tuple[Callable[[], list[Def]], ...] = (_env, _transport, _safety, _health, _education, _economy,
                                                 _housing, _urban, _hotline)


def city_indicators() -> list[Def]:
    """Every demo indicator, in theme order."""
    return [d for part in CATALOGUE for d in part()]


def define_city_indicators() -> int:
    """Define (or redefine, keeping history) every demo indicator as its owner's steward would; returns how many."""
    from urbanbrain.govern.principals import SYSTEM
    from urbanbrain.operate.indicators import define_indicator

    defs = city_indicators()
    for d in defs:
        define_indicator(SYSTEM, d.name, sql=d.sql, department=d.department, title_zh=d.title_zh,
                         title_en=d.title_en, unit=d.unit, theme=d.theme, direction=d.direction,
                         breakdown=d.breakdown, target=d.target, warn=d.warn, alarm=d.alarm, schedule=d.schedule,
                         iso_code=d.iso, replace=True, function=d.function)
    return len(defs)

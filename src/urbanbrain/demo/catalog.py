"""The demo city's curated capability catalog: services a city official would recognise, not one API per column.

Most entries are proposals of `capability.suggest` a steward picked (a pattern over a dataset, named
by hand); a few are hand-written SQL a department would write itself ("air quality now" joins the
latest reading of each station with the station's name). The one lookup by a personal field (a
vehicle by its plate) carries its stated purpose, as `publish_suggestion` requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from urbanbrain.capability.catalog import CapabilitySpec
from urbanbrain.capability.suggest import build, check_purpose, pii_types
from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.govern.labels import labels_of
from urbanbrain.meta.schemas import DatasetPublic


@dataclass(frozen=True)
class Pick:
    """A steward's choice: `pattern` over `dataset` (by `column`), published as `name`."""

    name: str
    dataset: str
    pattern: str
    column: str | None = None
    purpose: str | None = None


PICKS: tuple[Pick, ...] = (
    Pick("enterprise_by_credit_code", "market.enterprise_registry.enterprises", "lookup", "credit_code"),
    Pick("enterprises_by_status", "market.enterprise_registry.enterprises", "count_by", "status"),
    Pick("licence_by_number", "market.licence_service.licences", "lookup", "licence_no"),
    Pick("licences_by_credit_code", "market.licence_service.licences", "lookup", "credit_code"),
    Pick(
        "annual_report_by_credit_code", "market.annual_reports.annual_reports_2023_sheet1", "lookup", "统一社会信用代码"
    ),
    Pick(
        "vehicle_by_plate",
        "police.vehicle_registry.vehicles",
        "lookup",
        "plate",
        purpose="交通事故处置与违法处理时核查车辆登记信息 (checking registrations at accidents and offences)",
    ),
    Pick("medical_institutions", "health.medical_institutions.hospitals", "list"),
    Pick("schools", "education.school_registry.schools_sheet1", "list"),
    Pick("elderly_care_by_level", "civil.elderly_care.elderly", "count_by", "care_level"),
    Pick("marriage_registrations_daily", "civil.marriage_registry.marriages", "daily_counts", "registered_at"),
    Pick("job_seekers_by_wanted_job", "hrss.employment_service.job_seekers", "count_by", "wanted_job"),
    Pick("bus_line_by_number", "transport.bus_lines.bus_lines", "lookup", "line"),
    Pick("bus_lines", "transport.bus_lines.bus_lines", "list"),
    Pick("air_quality_stations", "ecology.air_quality.stations", "list"),
    Pick("pollution_permit_by_number", "ecology.pollution_permits.permits", "lookup", "permit_no"),
    Pick("pollution_permits_by_credit_code", "ecology.pollution_permits.permits", "lookup", "credit_code"),
    Pick("construction_permit_by_number", "housing.construction_permits.permits", "lookup", "permit_no"),
    Pick("housing_sales_daily", "housing.housing_transactions.transactions", "daily_counts", "signed_at"),
    Pick("city_cases_by_category", "urban.city_cases.cases", "count_by", "category"),
    Pick("city_cases_by_status", "urban.city_cases.cases", "count_by", "status"),
    Pick("hazard_enterprise_by_credit_code", "emergency.hazard_enterprises.hazard_ledger_sheet1", "lookup", "信用代码"),
    Pick("latest_incidents", "emergency.incident_reports.incidents", "latest", "reported_at"),
    Pick("hotline_tickets_by_district", "hotline.hotline_tickets.tickets", "count_by_district", "district"),
    Pick("hotline_tickets_by_category", "hotline.hotline_tickets.tickets", "count_by", "category"),
    Pick("hotline_tickets_daily", "hotline.hotline_tickets.tickets", "daily_counts", "created_at"),
    Pick("hotline_knowledge", "hotline.hotline_knowledge.knowledge", "list"),
    Pick("address_by_code", "resources.address_registry.addresses", "lookup", "address_id"),
    Pick("addresses_in_district", "resources.address_registry.addresses", "in_district", "district"),
    Pick("land_parcel_by_number", "resources.land_parcels.parcels", "lookup", "parcel_id"),
)


def _custom(
    name: str,
    owner: str,
    dataset: str,
    zh: str,
    en: str,
    sql: str,
    params: dict[str, Any],
    out: dict[str, Any],
    category: str = "data_service",
) -> CapabilitySpec:
    return CapabilitySpec(
        name=name,
        title_zh=zh,
        title_en=en,
        category=category,
        owner=owner,
        kind="data_api",
        description_zh=f"{zh}。由数据所属部门编写并发布。",
        description_en=f"{en}. Written and released by the data's department.",
        input_schema={"type": "object", "properties": params, "required": list(params), "additionalProperties": False},
        output_schema={"type": "array", "items": {"type": "object", "properties": out}},
        implementation={"sql": sql, "max_rows": 1000, "dataset": dataset, "pattern": "custom"},
    )


NUM = {"type": ["number", "null"]}
TEXT = {"type": ["string", "null"]}
WHEN = {"type": ["string", "null"], "format": "date-time"}
LATEST = "QUALIFY row_number() OVER (PARTITION BY {k} ORDER BY ts DESC) = 1"

CUSTOM: tuple[CapabilitySpec, ...] = (
    _custom(
        "air_quality_now",
        "ecology",
        "ecology.air_quality.readings",
        "空气质量实时监测（各站点最新读数）",
        "air quality now (latest reading of every station)",
        "SELECT s.station_id, s.name AS station, s.district_code, r.ts, r.pm25, r.pm10, r.no2, r.o3 "
        "FROM ecology.air_quality.readings AS r JOIN ecology.air_quality.stations AS s USING (station_id) "
        + LATEST.format(k="r.station_id")
        + " ORDER BY s.station_id",
        {},
        {
            "station_id": TEXT,
            "station": TEXT,
            "district_code": TEXT,
            "ts": WHEN,
            "pm25": NUM,
            "pm10": NUM,
            "no2": NUM,
            "o3": NUM,
        },
        "analytics",
    ),
    _custom(
        "air_quality_daily",
        "ecology",
        "ecology.air_archive.air_history",
        "空气质量日均值（按监测站）",
        "daily air quality averages of a station",
        "SELECT CAST(ts AS DATE) AS day, round(avg(pm25), 1) AS pm25, round(avg(pm10), 1) AS pm10, "
        "round(avg(no2), 1) AS no2, round(avg(o3), 1) AS o3 FROM ecology.air_archive.air_history "
        "WHERE station_id = $station_id GROUP BY 1 ORDER BY 1 DESC",
        {"station_id": {"type": "string", "description": "监测站编号 / station ID"}},
        {"day": {"type": "string", "format": "date"}, "pm25": NUM, "pm10": NUM, "no2": NUM, "o3": NUM},
        "analytics",
    ),
    _custom(
        "bus_positions_now",
        "transport",
        "transport.bus_gps.positions",
        "公交车辆实时位置（按线路）",
        "where the buses of a line are now",
        "SELECT bus_id, line, ts, lon, lat, speed_kmh FROM transport.bus_gps.positions WHERE line = $line "
        + LATEST.format(k="bus_id")
        + " ORDER BY bus_id",
        {"line": {"type": "string", "description": "线路 / line"}},
        {"bus_id": TEXT, "line": TEXT, "ts": WHEN, "lon": NUM, "lat": NUM, "speed_kmh": NUM},
        "spatial",
    ),
    _custom(
        "traffic_flow_now",
        "transport",
        "transport.traffic_detectors.flows",
        "道路交通流量实时（各检测器最新）",
        "traffic flow now (latest of every detector)",
        "SELECT detector_id, ts, vehicles, avg_speed_kmh FROM transport.traffic_detectors.flows "
        + LATEST.format(k="detector_id")
        + " ORDER BY detector_id",
        {},
        {"detector_id": TEXT, "ts": WHEN, "vehicles": {"type": ["integer", "null"]}, "avg_speed_kmh": NUM},
        "analytics",
    ),
    _custom(
        "enterprise_insured_count",
        "hrss",
        "hrss.social_insurance.insured_persons",
        "企业参保人数（按统一社会信用代码）",
        "insured employees of an enterprise (by credit code)",
        "SELECT count(*) AS insured FROM hrss.social_insurance.insured_persons "
        "WHERE employer_credit_code = $credit_code",
        {"credit_code": {"type": "string", "description": "统一社会信用代码 / unified social credit code"}},
        {"insured": {"type": "integer"}},
        "analytics",
    ),
)


def curated_specs(datasets: dict[str, DatasetPublic]) -> tuple[list[CapabilitySpec], list[str]]:
    """The demo's catalog over the datasets that exist: (specs, "name: why skipped")."""
    specs: list[CapabilitySpec] = []
    skipped: list[str] = []
    labels: dict[str, Any] = {}
    for pick in PICKS:
        ds = datasets.get(pick.dataset)
        if ds is None:
            skipped.append(f"{pick.name}: no dataset {pick.dataset}")
            continue
        try:
            if pick.dataset not in labels:
                labels[pick.dataset] = labels_of(pick.dataset)
            column_pii = pii_types(pick.dataset).get(pick.column or "") if pick.pattern == "lookup" else None
            suggestion = build(ds, labels[pick.dataset], pick.pattern, pick.column, name=pick.name, pii_type=column_pii)
            purpose = check_purpose(suggestion, pick.purpose)
        except UrbanBrainError as exc:
            skipped.append(f"{pick.name}: {exc.message}")
            continue
        if purpose:
            suggestion.spec.implementation["purpose"] = purpose
        specs.append(suggestion.spec)
    for spec in CUSTOM:
        if spec.implementation["dataset"] in datasets:
            specs.append(spec)
        else:
            skipped.append(f"{spec.name}: no dataset {spec.implementation['dataset']}")
    return specs, skipped

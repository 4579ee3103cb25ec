"""What the demo city's stewards call their datasets and fields, in zh-CN and English.

Seeded through `govern.labels.set_labels`, the function a steward's form calls, so generated titles
and the console read "养老服务对象" / "elderly care recipients" rather than `elderly`.
"""

from __future__ import annotations

from urbanbrain.core.errors import UrbanBrainError
from urbanbrain.govern.labels import DATASET, VOCABULARY, set_labels
from urbanbrain.lake.datasets import list_datasets

DATASETS: dict[str, tuple[str, str]] = {
    "civil.elderly_care.elderly": ("养老服务对象", "elderly care recipients"),
    "civil.marriage_registry.marriages": ("婚姻登记", "marriage registrations"),
    "civil.subsistence_allowance.dibao_roster": ("城乡低保对象", "subsistence allowance recipients"),
    "ecology.air_archive.air_history": ("空气质量历史数据", "air quality history"),
    "ecology.air_quality.readings": ("空气质量监测数据", "air quality readings"),
    "ecology.air_quality.stations": ("空气质量监测站", "air quality stations"),
    "ecology.pollution_permits.permits": ("排污许可证", "pollution permits"),
    "education.school_registry.schools_sheet1": ("学校", "schools"),
    "education.student_registry.students": ("学生学籍", "student records"),
    "emergency.hazard_enterprises.hazard_ledger_sheet1": ("危险化学品企业", "hazardous chemicals enterprises"),
    "emergency.incident_reports.incidents": ("突发事件", "incidents"),
    "health.health_records.patients": ("居民健康档案", "health records"),
    "health.medical_institutions.hospitals": ("医疗机构", "medical institutions"),
    "health.vaccination_export.vaccinations": ("预防接种记录", "vaccinations"),
    "hotline.hotline_knowledge.knowledge": ("热线知识库", "hotline knowledge base"),
    "hotline.hotline_tickets.ticket_events": ("12345工单流转记录", "12345 ticket events"),
    "hotline.hotline_tickets.tickets": ("12345热线工单", "12345 hotline tickets"),
    "housing.construction_permits.permits": ("建筑工程施工许可", "construction permits"),
    "housing.housing_transactions.transactions": ("商品房网签备案", "housing sale contracts"),
    "hrss.employment_service.job_seekers": ("求职登记", "job seekers"),
    "hrss.social_insurance.insured_persons": ("社会保险参保人员", "insured persons"),
    "market.annual_reports.annual_reports_2023_sheet1": ("企业年度报告（2023）", "enterprise annual reports (2023)"),
    "market.enterprise_registry.enterprises": ("企业登记信息", "registered enterprises"),
    "market.licence_service.licences": ("许可证照", "licences"),
    "police.floating_population.floating_population": ("流动人口登记", "floating population registrations"),
    "police.hukou_registry.residents": ("户籍人口", "registered residents"),
    "police.vehicle_registry.vehicles": ("机动车登记", "registered vehicles"),
    "resources.address_registry.addresses": ("标准地址", "standard addresses"),
    "resources.land_parcels.parcels": ("不动产宗地", "land parcels"),
    "transport.bus_gps.positions": ("公交车辆定位", "bus positions"),
    "transport.bus_lines.bus_lines": ("公交线路", "bus lines"),
    "transport.traffic_archive.traffic_history": ("交通流量历史数据", "traffic flow history"),
    "transport.traffic_detectors.flows": ("交通流量检测数据", "traffic flows"),
    "urban.city_cases.cases": ("数字城管案件", "city management cases"),
    "urban.street_vendors.vendors": ("摊贩备案", "street vendor registrations"),
}

FIELDS: dict[str, tuple[str, str]] = {
    "elder_id": ("老人编号", "elder ID"),
    "care_level": ("照护等级", "care level"),
    "registration": ("登记类型", "registration type"),
    "registered_at": ("登记时间", "registered at"),
    "reading_id": ("监测记录编号", "reading ID"),
    "station_id": ("监测站编号", "station ID"),
    "pm25": ("PM2.5（微克/立方米）", "PM2.5 (µg/m³)"),
    "pm10": ("PM10（微克/立方米）", "PM10 (µg/m³)"),
    "no2": ("二氧化氮", "NO₂"),
    "o3": ("臭氧", "O₃"),
    "pollutants": ("排放污染物", "pollutants"),
    "valid_until": ("有效期至", "valid until"),
    "school_id": ("学校编号", "school ID"),
    "student_id": ("学生编号", "student ID"),
    "ledger_id": ("台账编号", "ledger ID"),
    "信用代码": ("统一社会信用代码", "unified social credit code"),
    "风险等级": ("风险等级", "risk level"),
    "incident_id": ("事件编号", "incident ID"),
    "location": ("发生地点", "location"),
    "blood_type": ("血型", "blood type"),
    "chronic": ("慢性病", "chronic condition"),
    "hospital_id": ("医疗机构编号", "institution ID"),
    "beds": ("床位数", "beds"),
    "vaccine": ("疫苗", "vaccine"),
    "dose": ("剂次", "dose"),
    "vaccinated_on": ("接种日期", "vaccinated on"),
    "article_id": ("知识条目编号", "article ID"),
    "department": ("承办部门", "handling department"),
    "example": ("示例", "example"),
    "event_id": ("流转记录编号", "event ID"),
    "ticket_id": ("工单编号", "ticket ID"),
    "actor": ("处理人", "handled by"),
    "caller_name": ("来电人", "caller"),
    "caller_phone": ("来电号码", "caller phone"),
    "caller_id_number": ("来电人身份证号码", "caller ID number"),
    "satisfaction": ("满意度", "satisfaction"),
    "project": ("工程名称", "project"),
    "contract_value_wan": ("合同价（万元）", "contract value (10k yuan)"),
    "area_m2": ("面积（平方米）", "area (m²)"),
    "price_yuan": ("成交价（元）", "price (yuan)"),
    "signed_at": ("签约时间", "signed at"),
    "seeker_id": ("求职登记编号", "job seeker ID"),
    "wanted_job": ("求职意向", "wanted job"),
    "employer_name": ("用人单位", "employer"),
    "employer_credit_code": ("用人单位统一社会信用代码", "employer credit code"),
    "insurance_types": ("参保险种", "insurance types"),
    "monthly_base": ("缴费基数（元/月）", "monthly base (yuan)"),
    "report_id": ("年报编号", "report ID"),
    "统一社会信用代码": ("统一社会信用代码", "unified social credit code"),
    "form": ("企业类型", "company form"),
    "registered_capital_wan": ("注册资本（万元）", "registered capital (10k yuan)"),
    "established": ("成立日期", "established on"),
    "licence_type": ("许可类型", "licence type"),
    "issued_on": ("发证日期", "issued on"),
    "household_type": ("户口类型", "household type"),
    "relation": ("与户主关系", "relation to householder"),
    "vehicle_id": ("车辆编号", "vehicle ID"),
    "brand": ("品牌", "brand"),
    "address_id": ("地址编码", "address code"),
    "road": ("道路", "road"),
    "number": ("门牌号", "house number"),
    "building": ("楼栋", "building"),
    "unit": ("单元", "unit"),
    "room": ("房号", "room"),
    "standard": ("标准地址", "standard address"),
    "parcel_id": ("宗地编号", "parcel ID"),
    "located_at": ("坐落", "located at"),
    "land_use": ("土地用途", "land use"),
    "position_id": ("定位记录编号", "position ID"),
    "bus_id": ("车辆编号", "bus ID"),
    "line": ("线路", "line"),
    "speed_kmh": ("车速（公里/小时）", "speed (km/h)"),
    "first_stop": ("首站", "first stop"),
    "last_stop": ("末站", "last stop"),
    "fare_yuan": ("票价（元）", "fare (yuan)"),
    "detector_id": ("检测器编号", "detector ID"),
    "vehicles": ("车流量（辆）", "vehicles"),
    "avg_speed_kmh": ("平均车速（公里/小时）", "average speed (km/h)"),
    "case_id": ("案件编号", "case ID"),
    "source": ("案件来源", "source"),
    "备案号": ("备案号", "registration number"),
    "经营品类": ("经营品类", "goods sold"),
    "所在区县": ("区县", "district"),
    "学校名称": ("学校名称", "school name"),
    "学校地址": ("学校地址", "school address"),
}


BY_OBJECT = {name.split(".")[-1]: label for name, label in DATASETS.items()}  # district branches' copies


def seed_labels() -> int:
    """Name every demo dataset and the fields the vocabulary does not already know; returns datasets named."""
    named = 0
    for ds in list_datasets(include_quarantine=False):
        wanted: dict[str, dict[str, str | None]] = {}
        if ds.name in DATASETS or ds.name.split(".")[-1] in BY_OBJECT:
            zh, en = DATASETS.get(ds.name) or BY_OBJECT[ds.name.split(".")[-1]]
            wanted[DATASET] = {"label_zh": zh, "label_en": en}
        for column in (str(c["name"]) for c in ds.columns):
            if column in FIELDS and column.lower() not in VOCABULARY:
                zh, en = FIELDS[column]
                wanted[column] = {"label_zh": zh, "label_en": en}
        if not wanted:
            continue
        try:
            set_labels(ds.name, wanted)
            named += 1
        except UrbanBrainError:  # a branch system's copy may lack a column; the rest still get their names
            continue
    return named

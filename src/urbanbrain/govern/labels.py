"""Display names and descriptions of datasets and their fields, in zh-CN and English.

A column is called `elder_id` in its source system; a city official reads "老人编号" / "elder ID".
Stewards of the owning department name and describe each field (and the dataset itself, stored under
the column `""`); until they do, a small vocabulary of common column names gives a first name, and the
raw column name is the last resort. Generated capability titles (`capability.suggest`) and the console
read the names from here, so a steward's correction reaches every new title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from urbanbrain.core.clock import utcnow
from urbanbrain.core.errors import NotFoundError, ValidationError
from urbanbrain.govern import access
from urbanbrain.govern.authz import acting, authorize
from urbanbrain.govern.classification import dataset_row, owner_of
from urbanbrain.govern.principals import Principal
from urbanbrain.meta.db import session_scope
from urbanbrain.meta.models import FieldLabel

DATASET = ""  # the column under which a dataset's own name is stored
MAX_LABEL = 200

# Common column names of government data and what a reader calls them: (zh-CN, English).
VOCABULARY: dict[str, tuple[str, str]] = {
    "id": ("编号", "ID"), "record_id": ("记录编号", "record ID"), "name": ("名称", "name"),
    "full_name": ("姓名", "full name"), "person_name": ("姓名", "name"), "sex": ("性别", "sex"),
    "gender": ("性别", "gender"), "birth_date": ("出生日期", "date of birth"), "age": ("年龄", "age"),
    "id_number": ("身份证号码", "ID number"), "mobile": ("手机号码", "mobile number"),
    "phone": ("联系电话", "phone number"), "email": ("电子邮箱", "email"), "address": ("地址", "address"),
    "district": ("区县", "district"), "district_code": ("区县代码", "district code"),
    "street": ("街道", "street"), "community": ("社区", "community"),
    "credit_code": ("统一社会信用代码", "unified social credit code"), "status": ("状态", "status"),
    "category": ("类别", "category"), "type": ("类型", "type"), "kind": ("种类", "kind"),
    "level": ("级别", "level"), "grade": ("等级", "grade"), "channel": ("渠道", "channel"),
    "created_at": ("创建时间", "created at"), "updated_at": ("更新时间", "updated at"),
    "reported_at": ("上报时间", "reported at"), "observed_at": ("观测时间", "observed at"),
    "opened_at": ("受理时间", "opened at"), "closed_at": ("办结时间", "closed at"), "ts": ("时间", "time"),
    "at": ("时间", "time"), "lon": ("经度", "longitude"), "lat": ("纬度", "latitude"),
    "longitude": ("经度", "longitude"), "latitude": ("纬度", "latitude"), "plate": ("号牌号码", "plate"),
    "permit_no": ("许可证编号", "permit number"), "licence_no": ("许可证编号", "licence number"),
    "contract_no": ("合同编号", "contract number"), "legal_rep": ("法定代表人", "legal representative"),
    "registered_capital": ("注册资本", "registered capital"), "industry": ("行业", "industry"),
    "title": ("标题", "title"), "content": ("内容", "content"), "description": ("描述", "description"),
    "amount": ("金额", "amount"), "area": ("面积", "area"), "price": ("价格", "price"),
}


@dataclass(frozen=True)
class Label:
    """What a field (or, with `column == ""`, the dataset) is called; `named` when a steward set it."""

    column: str
    label_zh: str
    label_en: str
    description_zh: str = ""
    description_en: str = ""
    named: bool = False

    def title(self, lang: str) -> str:
        return self.label_zh if lang.startswith("zh") else self.label_en

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def default_label(column: str) -> Label:
    """The vocabulary's name for a column, else its own words (`elder_id` → "elder id")."""
    key = column.lower()
    if key in VOCABULARY:
        zh, en = VOCABULARY[key]
        return Label(column, zh, en)
    spoken = re.sub(r"[_\s]+", " ", column).strip() or column
    return Label(column, spoken, spoken)


def labels_of(name: str) -> dict[str, Label]:
    """Every column of dataset `name`, and the dataset itself under `""`, with its display names."""
    with session_scope() as s:
        ds = dataset_row(s, name)
        stored = {r.column: r for r in s.scalars(select(FieldLabel).where(FieldLabel.dataset_id == ds.id))}
        columns = [str(c["name"]) for c in ds.schema_json if not str(c["name"]).startswith("_ub_")]
        tail = ds.name.split(".")[-1]
        fallback = {DATASET: Label(DATASET, tail, tail)}
        out: dict[str, Label] = {}
        for column in [DATASET, *columns]:
            row = stored.get(column)
            base = fallback.get(column) or default_label(column)
            if row is None:
                out[column] = base
                continue
            out[column] = Label(column, row.label_zh or base.label_zh, row.label_en or base.label_en,
                                row.description_zh, row.description_en, named=True)
        return out


def _clean(text: str | None, field: str, limit: int | None = MAX_LABEL) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if limit is not None and len(text) > limit:
        raise ValidationError(f"{field} is longer than {limit} characters", parameter=field)
    return text


def set_labels(name: str, labels: dict[str, dict[str, str | None]], by: Principal | None = None) -> list[Label]:
    """A steward names and describes fields of one dataset (key `""`: the dataset itself) in one change.

    Each value may hold `label_zh`, `label_en`, `description_zh`, `description_en`; a key left out (or
    None) keeps what was there. Recorded in the audit chain as one `classification.label` entry."""
    by = acting(by)
    fields = ("label_zh", "label_en", "description_zh", "description_en")
    with session_scope() as s:
        ds = dataset_row(s, name)
        authorize("classification.label", by, owner_of(ds))
        columns = {str(c["name"]) for c in ds.schema_json}
        stored = {r.column: r for r in s.scalars(select(FieldLabel).where(FieldLabel.dataset_id == ds.id))}
        changes: dict[str, dict[str, str]] = {}
        for column, values in labels.items():
            if column != DATASET and column not in columns:
                raise NotFoundError(f"{name} has no column {column!r}",
                                    hint=f"its columns: {', '.join(sorted(columns))}")
            unknown = set(values) - set(fields)
            if unknown:
                raise ValidationError(f"unknown label field {sorted(unknown)[0]!r}", hint=f"use {', '.join(fields)}")
            row = stored.get(column)
            if row is None:
                row = FieldLabel(dataset_id=ds.id, column=column)
                s.add(row)
                stored[column] = row
            for field in fields:
                value = _clean(values.get(field), field, MAX_LABEL if field.startswith("label") else 4000)
                if value is not None and value != (getattr(row, field) or ""):
                    setattr(row, field, value)
                    changes.setdefault(column or "(dataset)", {})[field] = value
            row.updated_at, row.updated_by = utcnow(), by.label
    if changes:
        access.on_change(by, "classification.label", name, {"changed": changes})
    current = labels_of(name)
    return [current[c] for c in labels]


def set_label(name: str, column: str, *, label_zh: str | None = None, label_en: str | None = None,
              description_zh: str | None = None, description_en: str | None = None,
              by: Principal | None = None) -> Label:
    """Name and describe one field (`column=""`: the dataset) — the CLI's and console's form."""
    values = {"label_zh": label_zh, "label_en": label_en, "description_zh": description_zh,
              "description_en": description_en}
    return set_labels(name, {column: {k: v for k, v in values.items() if v is not None}}, by=by)[0]

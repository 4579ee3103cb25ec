"""Entity kinds are configuration: a kind is a name, an ID prefix, fields with comparison types and a mode.

person, organisation and address ship as presets; a steward defines more (`urbanbrain link kind define
publication --field title=text --field authors=name --field year=number`) and they live in
`URBANBRAIN_HOME/link/kinds.json` beside the mappings. A field's comparison type decides how its values
are normalised, compared and blocked on (`generic`), so a new kind needs no code.

Presets keep their Chinese engine (resident ID numbers, credit codes, the address standardiser) when the
data carries the national identifier; without it they are linked like any configured kind, from whatever
fields their mappings fill (`engine_of`).

`mode` is `dedupe` (pairs within and across sources) or `link_only` (pairs across two sources only).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from urbanbrain.core.errors import AlreadyExistsError, NotFoundError, ValidationError
from urbanbrain.core.settings import get_settings
from urbanbrain.govern.authz import acting, authorize, record
from urbanbrain.govern.principals import Principal

REGISTRY = "registry"  # the base registries' department: its stewards define and change kinds

COMPARISON_TYPES = ("identifier", "name", "text", "address", "phone", "email", "date", "number", "geo",
                    "category")
MODES = ("dedupe", "link_only")
PRESETS = ("person", "organisation", "address")


@dataclass
class KindDef:
    """One entity kind: `fields` maps a field name to its comparison type (one of COMPARISON_TYPES)."""

    name: str
    prefix: str
    fields: dict[str, str]
    mode: str = "dedupe"
    threshold: float = 0.95  # configured kinds: pairs at or above are links (presets keep their own)
    description: str = ""
    preset: bool = False
    extra: dict[str, object] = field(default_factory=dict)


PRESET_KINDS: dict[str, KindDef] = {
    "person": KindDef("person", "PID", {
        "name": "name", "first_name": "name", "last_name": "name", "id_number": "identifier",
        "birth_date": "date", "phone": "phone", "email": "email", "address": "address", "city": "category",
        "postcode": "identifier", "sex": "category"}, description="people (resident ID number optional)",
        preset=True),
    "organisation": KindDef("organisation", "OID", {
        "name": "name", "credit_code": "identifier", "phone": "phone", "email": "email", "address": "address",
        "city": "category", "postcode": "identifier", "category": "category", "website": "identifier"},
        description="firms, shops, institutions (credit code optional)", preset=True),
    "address": KindDef("address", "AID", {"address": "address", "city": "category", "postcode": "identifier"},
                       description="dwellings and premises", preset=True),
}
# the fields the Chinese engine of a preset reads (the rest are ignored by it)
CN_FIELDS: dict[str, tuple[str, ...]] = {
    "person": ("name", "id_number", "birth_date", "phone", "address", "sex"),
    "organisation": ("name", "credit_code", "phone", "address"),
    "address": ("address",),
}
# a preset whose mappings fill this field is linked by its Chinese engine
CN_MARKER = {"person": "id_number", "organisation": "credit_code", "address": "address"}
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,30}$")
_FIELD = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def kinds_path() -> Path:
    return get_settings().home_dir / "link" / "kinds.json"


def _stored() -> dict[str, dict[str, object]]:
    path = kinds_path()
    data = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return data if isinstance(data, dict) else {}


def _save(data: dict[str, dict[str, object]]) -> None:
    path = kinds_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True), encoding="utf-8")


def all_kinds() -> dict[str, KindDef]:
    """Presets (with any stored mode/threshold override) and every steward-defined kind."""
    out = {n: KindDef(**asdict(k)) for n, k in PRESET_KINDS.items()}
    for name, row in _stored().items():
        if name in out:
            for key in ("mode", "threshold"):
                if key in row:
                    setattr(out[name], key, row[key])
        else:
            out[name] = KindDef(**{k: v for k, v in row.items() if k in KindDef.__dataclass_fields__})  # type: ignore[arg-type]
    return out


def get_kind(kind: str) -> KindDef:
    kinds = all_kinds()
    if kind not in kinds:
        raise ValidationError(f"unknown entity kind {kind!r}",
                              hint=f"use one of {', '.join(kinds)}, or define it with "
                                   f"`urbanbrain link kind define {kind} --field NAME=TYPE ...`")
    return kinds[kind]


def check_kind(kind: str) -> str:
    get_kind(kind)
    return kind


def _check_fields(fields: dict[str, str]) -> None:
    if not fields:
        raise ValidationError("a kind needs at least one field", hint="--field name=name --field address=address")
    for name, ctype in fields.items():
        if not _FIELD.match(name):
            raise ValidationError(f"field name {name!r} is not a lower-case identifier", hint="e.g. first_name")
        if ctype not in COMPARISON_TYPES:
            raise ValidationError(f"field {name!r} has unknown comparison type {ctype!r}",
                                  hint=f"use one of {', '.join(COMPARISON_TYPES)}")


def parse_fields(text: str) -> dict[str, str]:
    """`name=TYPE` items separated by commas or new lines (the console's form; the CLI's --field)."""
    out: dict[str, str] = {}
    for item in re.split(r"[,;\n]", text):
        if not item.strip():
            continue
        fld, eq, ctype = item.partition("=")
        if not eq:
            raise ValidationError(f"{item.strip()!r} is not name=TYPE",
                                  hint=f"e.g. title=text, authors=name; types: {', '.join(COMPARISON_TYPES)}")
        out[fld.strip()] = ctype.strip()
    return out


def define_kind(name: str, fields: dict[str, str], *, prefix: str | None = None, mode: str = "dedupe",
                threshold: float = 0.95, description: str = "", replace: bool = False,
                by: Principal | None = None) -> KindDef:
    """Add (or with `replace`, redefine) a steward's kind. Presets cannot be redefined, only set_mode."""
    by = acting(by)
    authorize("link.kind", by, REGISTRY)
    if not _NAME.match(name):
        raise ValidationError(f"kind name {name!r} is not a lower-case identifier", hint="e.g. publication")
    if name in PRESET_KINDS:
        raise AlreadyExistsError(f"{name} is a preset kind",
                                 hint=f"map its fields, or change its mode with `urbanbrain link kind mode {name}`")
    _check_fields(fields)
    if mode not in MODES:
        raise ValidationError(f"unknown mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
    if not 0.0 < threshold < 1.0:
        raise ValidationError(f"threshold {threshold} is not a probability", hint="e.g. 0.9")
    stored = _stored()
    if name in stored and not replace:
        raise AlreadyExistsError(f"kind {name!r} already exists", hint="add --replace to redefine it")
    prefix = (prefix or name[:3]).upper()
    taken = {k.prefix: n for n, k in all_kinds().items() if n != name}
    if not re.fullmatch(r"[A-Z]{3}", prefix) or prefix in taken:
        raise ValidationError(f"ID prefix {prefix!r} must be three letters not used by another kind"
                              + (f" ({taken[prefix]} uses it)" if prefix in taken else ""),
                              hint="choose one with --prefix, e.g. --prefix PUB")
    kind = KindDef(name, prefix, dict(fields), mode, threshold, description)
    stored[name] = asdict(kind)
    _save(stored)
    record(by, "link.kind", f"kind:{name}", {"fields": dict(fields), "mode": mode, "replace": replace})
    return kind


def set_mode(name: str, mode: str, *, by: Principal | None = None) -> KindDef:
    """dedupe or link_only for any kind (presets included); the next run retrains for it."""
    by = acting(by)
    authorize("link.kind", by, REGISTRY)
    get_kind(name)
    if mode not in MODES:
        raise ValidationError(f"unknown mode {mode!r}", hint=f"use one of {', '.join(MODES)}")
    stored = _stored()
    stored.setdefault(name, {})["mode"] = mode
    _save(stored)
    record(by, "link.kind", f"kind:{name}", {"mode": mode})
    return get_kind(name)


def remove_kind(name: str, *, by: Principal | None = None) -> None:
    by = acting(by)
    authorize("link.kind", by, REGISTRY)
    stored = _stored()
    if name in PRESET_KINDS or name not in stored:
        raise NotFoundError(f"no steward-defined kind {name!r}", hint="list kinds with `urbanbrain link kind list`")
    del stored[name]
    _save(stored)
    record(by, "link.kind", f"kind:{name}", {"removed": True})


def prefix_of(kind: str) -> str:
    return get_kind(kind).prefix


def engine_of(kind: str, mapped_fields: set[str]) -> str:
    """`cn` (the presets' Chinese engine) when a preset's mappings fill its national identifier (for the
    address kind: when the platform serves a Chinese city), else `generic`."""
    if kind not in PRESET_KINDS:
        return "generic"
    if kind == "address" or not mapped_fields:
        return "cn" if city_code() else "generic"
    return "cn" if CN_MARKER[kind] in mapped_fields else "generic"


def city_code() -> str:
    """The administrative code of the city the platform serves (GB/T 2260, e.g. 430100 Changsha), or ''
    for a city outside China (addresses are then compared by tokens)."""
    return str(getattr(get_settings(), "city_code", "430100") or "")

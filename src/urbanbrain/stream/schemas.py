"""FIWARE Smart Data Models: the schemas shipped in `stream/models/`, and NGSI forms to key-values.

Schemas reference shared definitions by URL; those resolve to `models/common.json` (our stand-in) and
any other remote reference to "anything", so validation never touches the network. Readings are
validated in key-values form: NGSI-LD normalized and NGSI v2 normalized entities are flattened first
(keeping each attribute's `unitCode` and `observedAt`).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from urbanbrain.core.errors import NotFoundError

MODELS_DIR = Path(__file__).with_name("models")
COMMON_URL = "https://smart-data-models.github.io/data-models/common-schema.json"
NGSI_KEYS = {"id", "type", "@context"}
_LOCK = threading.Lock()


def model_names() -> list[str]:
    return sorted(p.parent.name for p in MODELS_DIR.glob("*/schema.json"))


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("http") and not ref.startswith(COMMON_URL):
            return {}  # a definition we do not ship: accept any value rather than fetch it
        return {k: _rewrite_refs(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


@cache
def model_schema(model: str) -> dict[str, Any]:
    path = MODELS_DIR / model / "schema.json"
    if not path.is_file() or "/" in model or model.startswith("."):
        raise NotFoundError(f"unknown data model {model!r}", hint="models shipped: " + ", ".join(model_names()))
    return dict(_rewrite_refs(json.loads(path.read_text(encoding="utf-8"))))


def model_example(model: str, form: str = "keyvalues") -> dict[str, Any]:
    """A shipped example entity: `keyvalues`, `normalized` (NGSI v2) or `ld` (NGSI-LD normalized)."""
    name = {"keyvalues": "example.json", "normalized": "example-normalized.json",
            "ld": "example-normalized.jsonld"}[form]
    return dict(json.loads((MODELS_DIR / model / name).read_text(encoding="utf-8")))


@cache
def _validator(model: str) -> Any:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    common = json.loads((MODELS_DIR / "common.json").read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(COMMON_URL, Resource.from_contents(common))
    schema = model_schema(model)
    schema.pop("$id", None)
    return Draft202012Validator(schema, registry=registry)


_SIMPLE_KEYS = {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum", "description",
                "format"}
_PY_TYPES: dict[str, tuple[type, ...]] = {"number": (int, float), "integer": (int,), "string": (str,),
                                          "boolean": (bool,), "object": (dict,), "array": (list,)}


@dataclass
class _Compiled:
    """The model's schema as a per-attribute table: plain type/bound/enum checks run in Python; the
    attributes with anything richer (GeoJSON locations, nested objects) and any reading the table
    refuses go through the full JSON Schema validator, so the answer is always the validator's."""

    required: set[str]
    simple: dict[str, tuple[tuple[type, ...] | None, dict[str, Any], frozenset[Any] | None]]
    complex: set[str]
    exact: bool  # False when the schema has constructs the table does not cover at the top


@cache
def _compiled(model: str) -> _Compiled:
    schema = model_schema(model)
    common = json.loads((MODELS_DIR / "common.json").read_text(encoding="utf-8"))
    parts = [schema, *[p for p in schema.get("allOf", []) if isinstance(p, dict)]]
    exact = not any(k in schema for k in ("anyOf", "oneOf", "not", "if", "additionalProperties", "patternProperties"))
    required: set[str] = set(schema.get("required", []))
    props: dict[str, Any] = {}
    for part in parts:
        ref = part.get("$ref")
        if isinstance(ref, str) and ref.startswith(COMMON_URL):
            node: Any = common
            for step in ref.split("#/", 1)[1].split("/"):
                node = node.get(step, {})
            part = node
        if any(k in part for k in ("anyOf", "oneOf", "not", "if", "additionalProperties", "patternProperties")):
            exact = False
        required |= set(part.get("required", []))
        for name, spec in (part.get("properties") or {}).items():
            props.setdefault(name, [])
            props[name].append(spec)
    simple: dict[str, tuple[tuple[type, ...] | None, dict[str, Any], frozenset[Any] | None]] = {}
    complex_: set[str] = set()
    for name, specs in props.items():
        if len(specs) == 1 and isinstance(specs[0], dict) and set(specs[0]) <= _SIMPLE_KEYS and \
                isinstance(specs[0].get("type", "string"), str) and specs[0].get("type", "string") in _PY_TYPES:
            spec = specs[0]
            types = _PY_TYPES[spec["type"]] if "type" in spec else None
            bounds = {k: spec[k] for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum") if k in spec}
            enum = frozenset(spec["enum"]) if isinstance(spec.get("enum"), list) and all(
                isinstance(v, str | int | float) for v in spec["enum"]) else None
            if "enum" in spec and enum is None:
                complex_.add(name)
                continue
            simple[name] = (types, bounds, enum)
        else:
            complex_.add(name)
    return _Compiled(required, simple, complex_, exact)


_COMPLEX_OK: dict[tuple[str, str, str], bool] = {}


def _complex_ok(model: str, c: _Compiled, name: str, value: Any, entity: dict[str, Any]) -> bool:
    """A rich attribute (a device's location, its address) is checked once per distinct value."""
    key = (model, name, _canonical(value))
    ok = _COMPLEX_OK.get(key)
    if ok is None:
        with _LOCK:
            validator = _validator(model)
        probe = {k: entity[k] for k in c.required if k in entity} | {name: value}
        ok = next(iter(validator.iter_errors(probe)), None) is None
        if len(_COMPLEX_OK) > 100_000:
            _COMPLEX_OK.clear()
        _COMPLEX_OK[key] = ok
    return ok


def _fast_ok(model: str, c: _Compiled, entity: dict[str, Any]) -> bool:
    if not c.exact or not c.required <= entity.keys():
        return False
    for name, value in entity.items():
        if name in c.complex:
            if not _complex_ok(model, c, name, value, entity):
                return False
            continue
        rule = c.simple.get(name)
        if rule is None:
            continue
        types, bounds, enum = rule
        if types is not None and (not isinstance(value, types) or (isinstance(value, bool) and bool not in types)):
            return False
        if bounds and isinstance(value, int | float) and _out_of_bounds(float(value), bounds):
            return False
        if enum is not None and value not in enum:
            return False
    return True


def _out_of_bounds(v: float, b: dict[str, Any]) -> bool:
    return bool(("minimum" in b and v < b["minimum"]) or ("maximum" in b and v > b["maximum"])
                or ("exclusiveMinimum" in b and v <= b["exclusiveMinimum"])
                or ("exclusiveMaximum" in b and v >= b["exclusiveMaximum"]))


def _canonical(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        import orjson

        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except (ImportError, TypeError):
        return json.dumps(value, sort_keys=True, default=str)


_RuleT = tuple[tuple[type, ...] | None, dict[str, Any], frozenset[Any] | None]


def _column_ok(values: list[Any], rule: _RuleT) -> bool:
    """One attribute over a whole batch: the set of value types, the batch's min/max against the
    bounds and the set of values against the enum, so a batch that fits costs a few C-level passes."""
    types, bounds, enum = rule
    present = values
    if not present:
        return True
    seen = set(map(type, present))
    if types is not None and (not seen <= set(types) or (bool in seen and bool not in types)):
        return False
    if bounds:
        nums = present if seen <= {int, float} else [
            v for v in present if isinstance(v, int | float) and not isinstance(v, bool)]
        if nums and (_out_of_bounds(float(min(nums)), bounds) or _out_of_bounds(float(max(nums)), bounds)):
            return False
    if enum is not None:
        try:
            return set(present) <= enum
        except TypeError:  # an unhashable value: not in any enum
            return False
    return True


def validate_batch(model: str, entities: list[dict[str, Any]]) -> list[str | None]:
    """`validate` for many key-values entities at once, attribute by attribute (the model compiled
    once): only the entities a column check cannot clear go through the full JSON Schema validator,
    so a batch that fits never touches it and a refused reading gets the validator's own message."""
    c = _compiled(model)
    n = len(entities)
    if not c.exact:
        return [validate(model, e) for e in entities]
    suspect: set[int] = {i for i, e in enumerate(entities) if not c.required <= e.keys()}
    names: set[str] = set()
    for e in entities:
        names.update(e.keys())
    for name in names:
        if name in c.complex:
            for i, e in enumerate(entities):
                if name in e and i not in suspect and not _complex_ok(model, c, name, e[name], e):
                    suspect.add(i)
            continue
        rule = c.simple.get(name)
        if rule is None:
            continue
        column = [e[name] for e in entities if name in e]
        if not _column_ok(column, rule):
            suspect.update(i for i, e in enumerate(entities) if name in e and not _column_ok([e[name]], rule))
    return [validate(model, entities[i]) if i in suspect else None for i in range(n)]


def validate(model: str, entity: dict[str, Any]) -> str | None:
    """None when `entity` (key-values) fits the model; else the first problem, naming the field."""
    compiled = _compiled(model)
    if _fast_ok(model, compiled, entity):
        return None
    with _LOCK:
        validator = _validator(model)
    rich = {k: v for k, v in entity.items() if k in compiled.complex or k in compiled.simple or k in compiled.required}
    error = next(iter(validator.iter_errors(rich if compiled.exact else entity)), None)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(entity)"
    return f"does not fit {model}: {where}: {error.message[:200]}"


def numeric_attributes(model: str) -> set[str]:
    """Attributes the model types as numbers: rules and rollups aggregate these."""
    out: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                for name, spec in props.items():
                    if isinstance(spec, dict) and spec.get("type") in ("number", "integer"):
                        out.add(name)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(model_schema(model))
    return out


@dataclass
class Flattened:
    entity: dict[str, Any]
    units: dict[str, str] = field(default_factory=dict)
    observed: dict[str, str] = field(default_factory=dict)  # attribute -> its own observedAt


def _is_normalized(value: Any) -> bool:
    return isinstance(value, dict) and ("value" in value or "object" in value) and (
        value.get("type") in ("Property", "GeoProperty", "Relationship") or "metadata" in value
        or isinstance(value.get("type"), str))


def flatten(entity: dict[str, Any]) -> Flattened:
    """Key-values from any of the three NGSI forms (key-values pass through unchanged)."""
    attrs = {k: v for k, v in entity.items() if k not in NGSI_KEYS}
    if not attrs or not any(_is_normalized(v) for v in attrs.values()):
        return Flattened({k: v for k, v in entity.items() if k != "@context"})
    out: dict[str, Any] = {k: entity[k] for k in ("id", "type") if k in entity}
    units: dict[str, str] = {}
    observed: dict[str, str] = {}
    for name, value in attrs.items():
        if not _is_normalized(value):
            out[name] = value
            continue
        raw = value.get("value", value.get("object"))
        out[name] = raw.get("@value") if isinstance(raw, dict) and "@value" in raw else raw  # typed JSON-LD literal
        unit = value.get("unitCode") or ((value.get("metadata") or {}).get("unitCode") or {}).get("value")
        if unit:
            units[name] = str(unit)
        at = value.get("observedAt") or ((value.get("metadata") or {}).get("timestamp") or {}).get("value")
        if at:
            observed[name] = str(at)
    return Flattened(out, units, observed)

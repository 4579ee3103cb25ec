"""Parameters against a capability's input schema (JSON Schema 2020-12), before any kind runs.

Checking here, once, means no kind ever sees a wrongly typed value, and the caller learns which
parameter is wrong (the 422 body names it) instead of getting a failure from deep inside a query.
Validators are compiled once per capability definition (the catalog caches them), because compiling
a schema costs far more than checking a small object against it.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from jsonschema.exceptions import ValidationError as SchemaViolation

from urbanbrain.core.errors import ValidationError

OBJECT_SCHEMA: dict[str, Any] = {"type": "object"}


def compile_schema(schema: dict[str, Any], what: str = "input schema") -> Draft202012Validator:
    """A reusable validator; a malformed schema is refused when the capability is published.

    Memoised by the schema's text: the gateway's capability cache reloads every few seconds, and checking
    a schema against the meta-schema each time cost milliseconds of the serving process's GIL."""
    return _compiled(json.dumps(schema or OBJECT_SCHEMA, sort_keys=True), what)


@functools.lru_cache(maxsize=4096)
def _compiled(text: str, what: str) -> Draft202012Validator:
    schema = json.loads(text)
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise ValidationError(f"the {what} is not valid JSON Schema: {exc.message}",
                              hint="see https://json-schema.org/draft/2020-12") from None
    return Draft202012Validator(schema)


def _parameter(error: SchemaViolation) -> str:
    """The name a caller recognises: the property path, or the missing/extra property for object rules."""
    if error.path:
        return ".".join(str(p) for p in error.path)
    instance = error.instance if isinstance(error.instance, dict) else {}
    if error.validator == "required":
        missing = [str(r) for r in error.validator_value if r not in instance]
        return ", ".join(missing) or "(body)"
    if error.validator == "additionalProperties":
        props = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = [str(k) for k in instance if k not in props]
        return ", ".join(extra) or "(body)"
    return "(body)"


def validate_params(validator: Draft202012Validator, params: Any) -> dict[str, Any]:
    """Return `params` if they satisfy the schema, else raise a 422 naming the first bad parameter.

    >>> validate_params(compile_schema({"type": "object", "required": ["code"]}), {})
    Traceback (most recent call last):
    urbanbrain.core.errors.ValidationError: parameter code: 'code' is a required property ...
    """
    if not isinstance(params, dict):
        raise ValidationError("parameters must be a JSON object", parameter="(body)",
                              hint='send e.g. {"code": "..."} as the request body')
    if validator.is_valid(params):  # the common case, without collecting and sorting errors
        return params
    error = next(iter(sorted(validator.iter_errors(params), key=lambda e: list(e.path))), None)
    if error is None:
        return params
    name = _parameter(error)
    raise ValidationError(f"parameter {name}: {error.message}", parameter=name,
                          hint="see the capability's input schema in /capabilities/openapi.json")

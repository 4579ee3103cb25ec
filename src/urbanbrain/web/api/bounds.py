"""Bounded types for every request field, query and path parameter of the API.

Why: a value nobody bounded reaches a service and fails there -- a date 3,000,000 days away, a number
past the database's integer, a string longer than its column -- as a 500. With these types the request
is refused first, 422 naming the field, and the bounds are in the OpenAPI document for clients (and
for the contract test, which fuzzes right up to them). Sizes follow the metadata columns
(`urbanbrain.meta.models`); NUL characters, which PostgreSQL cannot store, are refused in every string.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

INT32_MAX = 2**31 - 1  # the metadata database's INTEGER columns (versions, quotas)
MAX_VERSION = 1_000_000
MAX_PER_MINUTE = 1_000_000
MAX_PER_DAY = 100_000_000
MAX_EXPIRES_DAYS = 3650  # ten years: anything longer is "never", which is `null`
MAX_LIST = 1000
MAX_KEYS = 200  # keys in a free-form JSON object (connection options, schemas)


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    return value


def _sane_time(value: datetime | None) -> datetime | None:
    """Offsets that push a time past year 1 or 9999 cannot be compared with stored UTC times."""
    if value is None:
        return None
    if value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise ValueError("the time is out of range once converted to UTC") from None
    if not 1900 <= value.year <= 9998:
        raise ValueError("the year must be between 1900 and 9998")
    return value


# what `since`-style parameters take: a date and a time, optionally an offset; never a bare number,
# which pydantic would read as seconds since 1970
ISO_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?([Zz]|[+-][0-9]{2}:[0-9]{2})?$"


def _iso_time(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(ISO_TIME, value):
        raise ValueError("use an ISO 8601 date and time, e.g. 2026-01-31T08:00:00+08:00")
    return value


NoNul = AfterValidator(_no_nul)

# names a request creates: the services' rule (`core.naming.validate_code`), stated in the schema too
CODE_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,62}$"
NewCode = Annotated[str, Field(min_length=1, max_length=63, pattern=CODE_PATTERN)]

# request-body strings (pydantic models)
Code = Annotated[str, Field(min_length=1, max_length=63), NoNul]  # department codes, system names
Name = Annotated[str, Field(min_length=1, max_length=120), NoNul]  # consumers, capabilities, users
LongName = Annotated[str, Field(min_length=1, max_length=255), NoNul]  # datasets, objects, columns
Title = Annotated[str, Field(max_length=200), NoNul]  # titles, owners, labels, approvers
Note = Annotated[str, Field(max_length=4000), NoNul]  # descriptions, purposes, reasons
Schedule = Annotated[str, Field(max_length=100), NoNul]

# query and path parameters
PathName = Annotated[str, Path(min_length=1, max_length=255), NoNul]
PathId = Annotated[str, Path(min_length=1, max_length=64), NoNul]
Filter = Annotated[str | None, Query(max_length=255), NoNul]
Search = Annotated[str | None, Query(max_length=200), NoNul]
VersionQuery = Annotated[int | None, Query(ge=1, le=MAX_VERSION, description="the version; latest if omitted")]
Since = Annotated[datetime | None, Query(description="ISO 8601 date and time, e.g. 2026-01-31T08:00:00+08:00"),
                  BeforeValidator(_iso_time), AfterValidator(_sane_time),
                  WithJsonSchema({"anyOf": [{"type": "string", "pattern": ISO_TIME}, {"type": "null"}]})]

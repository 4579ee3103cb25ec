"""A test-only echo built-in, used when the package's own `echo` is not installed."""

from __future__ import annotations

from typing import Any

from urbanbrain.capability.base import BuiltinSpec


def _echo(params: dict[str, Any]) -> dict[str, Any]:
    return {"echo": params}


SPEC = BuiltinSpec(name="echo", title_zh="回声", title_en="Echo", description_zh="", description_en="",
                   category="utility", input_schema={"type": "object"}, output_schema={"type": "object"},
                   func=_echo)

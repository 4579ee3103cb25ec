"""`echo`: returns its parameters unchanged.

It exists so the gateway can be measured and smoke-tested with everything around a call switched on
(key, grant, quota, metering, audit) and nothing inside it: the benchmark's built-in "(b)" is this one.
"""

from __future__ import annotations

from typing import Any

from urbanbrain.capability.base import BuiltinSpec


def echo(params: dict[str, Any]) -> dict[str, Any]:
    return {"echo": params}


SPEC = BuiltinSpec(
    name="echo",
    title_zh="回声测试",
    title_en="Echo",
    description_zh="原样返回调用参数，用于网关连通性测试和性能基准。",
    description_en="Returns the call's parameters unchanged; for gateway smoke tests and the gateway benchmark.",
    category="utility",
    input_schema={"type": "object", "additionalProperties": True},
    output_schema={"type": "object", "properties": {"echo": {"type": "object"}}, "required": ["echo"]},
    func=echo,
    owner="bigdata",
    examples=[{"params": {"message": "你好"}, "result": {"echo": {"message": "你好"}}}],
    inline=True,
)

"""Built-in capabilities: a Python callable found by name in the `BUILTINS` registry.

`implementation = {"builtin": "echo"}` (the registry name; the capability's own name when absent).
The callable is looked up on every call, which is a dict lookup once loaded, so a plugin upgraded in
place answers with its new code after a restart without touching the catalog.
"""

from __future__ import annotations

from typing import Any, ClassVar

from urbanbrain.capability.base import BUILTINS, BuiltinSpec, CapabilityDefinition, InvokeResult
from urbanbrain.core.errors import ConfigurationError


def builtin_name(definition: CapabilityDefinition) -> str:
    return str(definition.implementation.get("builtin") or definition.name)


def builtin_spec(name: str) -> BuiltinSpec:
    spec = BUILTINS.get(name)
    if not isinstance(spec, BuiltinSpec):
        raise ConfigurationError(f"the built-in {name!r} is registered but is not a BuiltinSpec",
                                 hint="its entry point must name a BuiltinSpec object")
    return spec


class BuiltinKind:
    """Calls `spec.func(params)`; rows are counted when the answer is a list (for metering)."""

    kind: ClassVar[str] = "builtin"

    def validate(self, definition: CapabilityDefinition) -> None:
        builtin_spec(builtin_name(definition))

    def inline(self, definition: CapabilityDefinition) -> bool:
        return builtin_spec(builtin_name(definition)).inline

    def invoke(self, definition: CapabilityDefinition, params: dict[str, Any]) -> InvokeResult:
        data = builtin_spec(builtin_name(definition)).func(params)
        return InvokeResult(data=data, rows=len(data) if isinstance(data, list) else None)

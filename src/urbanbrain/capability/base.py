"""The plug-in points of the capability center: implementation kinds and built-in capabilities.

A kind (data API, built-in, HTTP proxy, ...) turns a stored capability into a call; a built-in is a
Python callable shipped by urbanbrain or a plugin. Both register by entry point, like connectors, so a
new kind or built-in is one new module plus one line of packaging metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from urbanbrain.core.registry import Registry


@dataclass(frozen=True)
class CapabilityDefinition:
    """What a kind needs to run a capability (read from the catalog; secrets already decrypted)."""

    name: str
    version: int
    kind: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    implementation: dict[str, Any]
    secrets: dict[str, Any] = field(default_factory=dict)
    owner: str = ""  # code of the owning department (a data API exposes at most what it may share)


@dataclass
class InvokeResult:
    """A capability's answer: JSON-able `data`, plus row counts for data APIs (metering, paging)."""

    data: Any
    rows: int | None = None
    truncated: bool = False


@runtime_checkable
class CapabilityKind(Protocol):
    """`validate` runs at publish time (bad templates fail then, not on the first call);
    `invoke` runs a call whose parameters already passed the input schema."""

    kind: ClassVar[str]

    def validate(self, definition: CapabilityDefinition) -> None: ...

    def invoke(self, definition: CapabilityDefinition, params: dict[str, Any]) -> InvokeResult: ...

    def inline(self, definition: CapabilityDefinition) -> bool:
        """True when a call only computes in memory for microseconds and never waits on I/O, so the HTTP
        gateway may answer it on its event loop; everything else runs on the gateway's thread pool."""
        ...


KINDS: Registry[Any] = Registry("urbanbrain.capability_kinds", "capability kind")


@dataclass(frozen=True)
class BuiltinSpec:
    """A built-in capability: metadata for the catalog plus the function that answers calls.

    `func(params)` receives parameters validated against `input_schema` and returns JSON-able data
    matching `output_schema`. Raise `urbanbrain.core.errors.ValidationError` for bad input it can
    only detect while working (e.g. an unknown sensor series).
    """

    name: str
    title_zh: str
    title_en: str
    description_zh: str
    description_en: str
    category: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    func: Callable[[dict[str, Any]], Any]
    version: int = 1
    owner: str = "bigdata"  # code of the department that owns it (the data bureau by default)
    examples: list[dict[str, Any]] = field(default_factory=list)
    # True only for pure functions of the parameters that answer in microseconds (no lake, no network,
    # no model loading): the gateway then skips the hop to a worker thread, which costs more than them.
    inline: bool = False


BUILTINS: Registry[Any] = Registry("urbanbrain.builtins", "built-in capability")

"""The plugin registry: connectors, capability kinds and storage backends register by entry point.

Built-ins are registered through the same entry points plugins use (see `pyproject.toml`), so adding
a connector is one new module plus one line of packaging metadata, with no edits elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from urbanbrain.core.errors import ConfigurationError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> plugin, loaded lazily from the entry-point group on first use."""

    def __init__(self, group: str, what: str) -> None:
        self.group = group
        self.what = what
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator for plugins defined in code (tests, notebooks) rather than packaging."""

        def deco(item: T) -> T:
            self._items[name] = item
            return item

        return deco

    def add(self, name: str, item: T) -> None:
        self._items[name] = item

    def _load(self) -> None:
        if self._loaded:
            return
        for ep in entry_points(group=self.group):
            if ep.name not in self._items:
                self._items[ep.name] = ep.load()
        self._loaded = True

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "none"
            raise ConfigurationError(
                f"unknown {self.what} {name!r}", hint=f"choose one of: {known}"
            ) from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

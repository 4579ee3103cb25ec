"""The plugin registry: connectors, capability kinds and storage backends register by entry point.

Built-ins are registered through the same entry points plugins use (see `pyproject.toml`), so adding
a connector is one new module plus one line of packaging metadata, with no edits elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from urbanbrain.core.errors import ConfigurationError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> plugin, loaded lazily from the entry-point group on first use."""

    def __init__(self, group: str, what: str) -> None:
        self.group = group
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator for plugins defined in code (tests, notebooks) rather than packaging."""

        def deco(item: T) -> T:
            self._items[name] = item
            return item

        return deco

    def add(self, name: str, item: T) -> None:
        self._items[name] = item

    def snapshot(self) -> dict[str, T]:
        """What is registered now, for `restore`: a test that adds a plugin in code must not leave it
        behind for the next test (the demo publishes every registered built-in)."""
        return dict(self._items)

    def restore(self, snapshot: dict[str, T]) -> None:
        self._items = dict(snapshot)

    def _entry_points(self) -> dict[str, EntryPoint]:
        return {ep.name: ep for ep in entry_points(group=self.group)}

    def get(self, name: str) -> T:
        """Load just the plugin asked for, so one broken plugin cannot break the others."""
        if name in self._items:
            return self._items[name]
        ep = self._entry_points().get(name)
        if ep is None:
            known = ", ".join(self.names()) or "none"
            raise ConfigurationError(f"unknown {self.what} {name!r}", hint=f"choose one of: {known}")
        try:
            item: T = ep.load()
        except Exception as exc:
            raise ConfigurationError(
                f"the {self.what} plugin {name!r} ({ep.value}) failed to load: {exc}",
                hint="reinstall the package that provides it",
            ) from exc
        self._items[name] = item
        return item

    def names(self) -> list[str]:
        return sorted(set(self._items) | set(self._entry_points()))

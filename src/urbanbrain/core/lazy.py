"""Import a module on first use, so `urbanbrain --help` does not pay for what only commands need.

CLI modules bind their service modules with `svc = lazy_module("urbanbrain.meta.departments")`
(under `if TYPE_CHECKING:` the real import, so mypy still checks every call). The first attribute
read imports the module; later reads go straight to it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any


class LazyModule(ModuleType):
    """Stands in for a module until an attribute is read."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_ub_target"] = None

    def _ub_load(self) -> ModuleType:
        target = self.__dict__["_ub_target"]
        if target is None:
            target = importlib.import_module(self.__name__)
            self.__dict__["_ub_target"] = target
        return target

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._ub_load(), attr)


def lazy_module(name: str) -> Any:
    """A stand-in for module `name`, imported when first used."""
    return LazyModule(name)


def lazy_function(module: str, name: str) -> Callable[..., Any]:
    """A stand-in for function `module.name`, imported when first called."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = name
    call.__qualname__ = name
    return call

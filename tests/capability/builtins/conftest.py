"""Built-ins read as their caller: these tests call them directly, as a platform administrator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from urbanbrain.govern.context import acting_as
from urbanbrain.govern.principals import PLATFORM_ADMIN, Principal

ADMIN = Principal("user", "builtin-tester", roles=frozenset({PLATFORM_ADMIN}))


@pytest.fixture(autouse=True)
def _caller() -> Iterator[None]:
    with acting_as(ADMIN):
        yield

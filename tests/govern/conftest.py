"""The governance tests share one synced, classified lake per module (syncing per test is slow)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.govern.city import City, build_city, home


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    root = tmp_path_factory.mktemp("city")
    with home(root / "ubhome"):
        built = build_city(root)
    yield built
    from urbanbrain.meta.db import dispose_engines

    dispose_engines()


@pytest.fixture
def in_city(city: City) -> Iterator[City]:
    """Point URBANBRAIN_HOME at the shared city for one test (the autouse home is a fresh empty one)."""
    with home(city.home / "ubhome"):
        yield city

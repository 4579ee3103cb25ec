"""The demo city's capabilities: what its departments release to the whole city, and who reuses them.

Every capability here is real and goes through the same catalog a department would use: the shipped
built-ins and a curated catalog of data APIs (`demo/catalog.py`: proposals of `capability suggest` its
stewards picked, plus a few hand-written ones), each owned by the dataset's department, approved by
it, granted to other departments' applications, and metered when those call it. Field display names
(`demo/labels.py`) come first, so every title reads as the service it is.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from urbanbrain.capability.base import BUILTINS
from urbanbrain.capability.batch import GrantWish, grant_many, publish_capabilities
from urbanbrain.capability.catalog import (
    CapabilityPublic,
    list_capabilities,
    publish_builtins,
)
from urbanbrain.capability.consumers import add_consumer, create_key
from urbanbrain.capability.gateway import invoke
from urbanbrain.capability.metering import flush_all
from urbanbrain.core.errors import AlreadyExistsError, UrbanBrainError
from urbanbrain.demo.catalog import curated_specs
from urbanbrain.demo.labels import seed_labels
from urbanbrain.lake.datasets import list_datasets

PLUMBING = ("echo",)  # a gateway test, not a service a city official would recognise


@dataclass
class PublishSummary:
    published: int = 0
    builtins: int = 0
    consumers: int = 0
    grants: int = 0
    calls: int = 0
    labelled: int = 0
    skipped: list[str] = field(default_factory=list)


def publish_city_capabilities(on_step: Callable[[str], None] | None = None, seed: int = 7) -> PublishSummary:
    """Name the datasets' fields, publish the built-ins and the curated catalog, then let departments'
    applications reuse them."""
    step = on_step or (lambda _label: None)
    summary = PublishSummary()
    summary.labelled = seed_labels()
    step("labels")
    result = publish_builtins([n for n in BUILTINS.names() if n not in PLUMBING])
    summary.builtins = len(result["published"])
    summary.skipped.extend(result["skipped"])
    step("built-ins")
    existing = {c.name for c in list_capabilities()}
    datasets = {ds.name: ds for ds in list_datasets(include_quarantine=False)}
    specs, skipped = curated_specs(datasets)
    summary.skipped.extend(skipped)
    # one transaction for the whole catalog, each entry approved by its owning department
    summary.skipped.extend(publish_capabilities([s for s in specs if s.name not in existing]).skipped)
    step("catalog")
    published = [c for c in list_capabilities(status="published")]
    summary.published = len(published)
    _reuse(published, summary, seed)
    step("reuse")
    return summary


def _reuse(published: list[CapabilityPublic], summary: PublishSummary, seed: int) -> None:
    """Each department's application asks for a few other departments' capabilities; owners approve;
    the application calls them — so the catalog shows real, metered reuse. The calls run a few at a
    time (each waits on DuckDB, which releases the GIL)."""
    rng = random.Random(seed)
    departments = sorted({c.owner for c in published})
    keys: dict[str, str] = {}
    wishes: list[GrantWish] = []
    for dept in departments:
        app = f"{dept}-app"
        with contextlib.suppress(AlreadyExistsError):
            add_consumer(app, dept, description=f"{dept} 部门业务应用")
            summary.consumers += 1
        keys[app] = create_key(app, expires_days=365, label="demo").key
        others = [c for c in published if c.owner != dept and not c.input_schema.get("required")]
        wishes.extend(GrantWish(app, cap.name, cap.version, per_minute=120, per_day=5000,
                                purpose="demo: cross-department reuse")
                      for cap in rng.sample(others, k=min(4, len(others))))
    # requested and approved by each owner in one transaction (one commit each made this phase slow)
    granted, skipped = grant_many(wishes)
    summary.grants += len(granted)
    summary.skipped.extend(skipped)
    by_name = {(c.name, c.version): c for c in published}
    calls = [(g.consumer, by_name[(g.capability, g.version)], keys[g.consumer]) for g in granted]

    def call(item: tuple[str, CapabilityPublic, str]) -> str | None:
        app, cap, key = item
        try:
            invoke(cap.name, cap.version, {"limit": 5} if cap.kind == "data_api" else {}, key)
            return None
        except UrbanBrainError as exc:
            return f"{app} -> {cap.name}: {exc.message}"

    with ThreadPoolExecutor(max_workers=4) as pool:
        for problem in pool.map(call, calls):
            if problem is None:
                summary.calls += 1
            else:
                summary.skipped.append(problem)
    flush_all()

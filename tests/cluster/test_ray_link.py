"""Linking partitioned by blocking key as Ray tasks on a real local Ray cluster (a head and two worker
nodes, each its own `ray start`): the same pairs, probabilities and clusters as the one-piece run in
this process."""

from __future__ import annotations

import pytest

from tests.link.test_partitioned import clusters_of, febrl3, pairs_of
from urbanbrain.core.ray_local import LocalRayCluster
from urbanbrain.core.settings import get_settings
from urbanbrain.link import febrl, model, partitioned

pytest.importorskip("ray")


@pytest.mark.slow
def test_linking_partitioned_on_a_ray_cluster_gives_the_same_clusters(monkeypatch: pytest.MonkeyPatch) -> None:
    fitted, records = febrl3(1_500)
    whole = model.link_all(fitted, records, threshold=0.3)
    with LocalRayCluster(workers=2) as cluster:
        for key, value in cluster.driver_env().items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        assert partitioned.partitions_wanted() == 2  # the cluster's CPUs
        parts = partitioned.link_all(fitted, febrl.FEBRL.blocking, records, threshold=0.3, partitions=4)
    assert pairs_of(parts) == pairs_of(whole)
    ids = records.column("unique_id").to_pylist()
    assert clusters_of(parts, ids, febrl.FEBRL.threshold) == clusters_of(whole, ids, febrl.FEBRL.threshold)

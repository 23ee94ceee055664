"""Cluster fixtures: real gunicorn instances behind a real nginx, on the test's fresh database."""
import pytest

from tests.support.cluster import Cluster

# Short leases keep failover fast; the setting is documented in the README.
CLUSTER_ENV = {"GREENROW_LEASE_TTL_MS": "2000"}


@pytest.fixture
def make_cluster(database_url, tmp_path):
    """make_cluster(instances=2, workers=2, env={...}): a started Cluster, stopped after the test."""
    clusters = []

    def make(instances=2, workers=2, env=None):
        cluster = Cluster(database_url, tmp_path, env={**CLUSTER_ENV, **(env or {})})
        clusters.append(cluster)
        return cluster.start(instances, workers)

    yield make
    for cluster in clusters:
        cluster.close()

"""Live nodes converge to an even share of the shards (within one) when nodes join and when they leave."""
from tests.support.cluster import lease_owners

SHARDS = 256


def test_shards_rebalance_within_one_of_even_when_nodes_join_and_leave(make_cluster, db):
    cluster = make_cluster(instances=2, workers=2)
    first = cluster.wait_balanced(4)
    assert sorted(node["shards"] for node in first) == [64] * 4

    joined = cluster.add_instance(workers=2)
    six = cluster.wait_balanced(6)
    assert sorted(node["shards"] for node in six) == [42, 42, 43, 43, 43, 43]
    assert len(lease_owners(db)) == SHARDS and set(lease_owners(db).values()) == {node["id"] for node in six}

    cluster.terminate(cluster.instances[0])
    four = cluster.wait_balanced(4)
    assert sorted(node["shards"] for node in four) == [64] * 4
    left_pids = {node["pid"] for node in six} - {node["pid"] for node in four}
    assert len(left_pids) == 2 and not left_pids & set(joined.worker_pids())
    assert set(lease_owners(db).values()) == {node["id"] for node in four}

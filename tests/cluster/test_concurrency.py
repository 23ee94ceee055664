"""max_concurrency holds cluster-wide: the run's active rows, all nodes together, never exceed it."""
from tests.support.sampling import ActiveRowsSampler
from tests.support.service import start_run, wait_for_run
from tests.support.wait import wait_until

ROWS = 600
MAX_CONCURRENCY = 50


# The node that claimed an active row: the lease whose epoch the claim wrote on the row (an epoch is one
# node's tenure of one shard, so shard and epoch name the node).
NODES_WITH_ACTIVE_ROWS = ("SELECT DISTINCT l.node_id FROM rows r JOIN shard_leases l"
                          " ON l.shard = r.shard AND l.epoch = r.epoch WHERE r.run_id = %s AND r.state = 'active'")


def test_max_concurrency_caps_the_active_rows_of_all_nodes_together_while_the_run_runs(make_service, db):
    service = make_service(workers=2)  # ready means both nodes are up and hold their shares
    run = start_run(service, rows=ROWS, start_value=3, tick_ms=50, scan_ms=200, max_concurrency=MAX_CONCURRENCY)
    active_query = "SELECT count(*) FROM rows WHERE run_id = %s AND state = 'active'"
    seen, claimed_by = [], set()

    def finished_while_counting():
        seen.append(db.fetch_value(active_query, (run["id"],)))
        seen.append(service.json(f"/runs/{run['id']}")["active"])
        claimed_by.update(node_id for (node_id,) in db.fetch_all(NODES_WITH_ACTIVE_ROWS, (run["id"],)))
        return service.json(f"/runs/{run['id']}")["status"] == "done"

    wait_until(finished_while_counting, timeout=60, interval=0.02)

    assert max(seen) <= MAX_CONCURRENCY, max(seen)
    assert max(seen) == MAX_CONCURRENCY  # the cap was reached, so it was tested
    assert wait_for_run(service, run["id"])["done"] == ROWS
    assert len(claimed_by) == 2, claimed_by  # both nodes claimed rows of the run: the cap held across them


# --- at the seed's scale ------------------------------------------------------------------------------
# The claim counted the active rows in a snapshot taken before it waited for the run row's lock, so it
# missed what a peer's claim had just made active: with two nodes a cap of 10,000 let 15,000 run.

SEED_ROWS = 20_000
SEED_CAP = 10_000


def assert_capped_and_reached(sampler, caps):
    assert sampler.samples >= 100, f"only {sampler.samples} samples: the cap was not watched"
    for run_id, cap in caps.items():
        assert sampler.peak[run_id] <= cap, f"run {run_id}: {sampler.peak[run_id]} active at once, cap {cap}"
        assert sampler.peak[run_id] >= cap * 0.9, f"run {run_id} never came near its cap {cap}: not tested"


def test_max_concurrency_holds_at_the_seeds_scale_on_two_nodes(make_service, db, database_url):
    service = make_service(workers=2)  # ready means both nodes are up and hold their shares
    run = start_run(service, rows=SEED_ROWS, start_value=3, tick_ms=1000, max_concurrency=SEED_CAP)
    with ActiveRowsSampler(database_url, [run["id"]]) as sampler:
        done = wait_for_run(service, run["id"], timeout=90)
    assert_capped_and_reached(sampler, {run["id"]: SEED_CAP})
    assert done["done"] == SEED_ROWS and done["ticks"] == SEED_ROWS * 3 and done["restarts"] == 0


def test_max_concurrency_holds_for_overlapping_runs_on_four_nodes_while_nodes_join_and_leave(make_cluster, db,
                                                                                             database_url):
    cluster = make_cluster(instances=2, workers=2)
    cluster.wait_balanced(4)
    big = start_run(cluster, rows=SEED_ROWS, start_value=3, tick_ms=1000, max_concurrency=SEED_CAP)
    small = start_run(cluster, rows=4_000, start_value=3, tick_ms=500, max_concurrency=1_000)
    caps = {big["id"]: SEED_CAP, small["id"]: 1_000}
    with ActiveRowsSampler(database_url, caps) as sampler:
        wait_until(lambda: db.fetch_value("SELECT count(*) FROM rows WHERE run_id = %s AND state = 'done'",
                                          (big["id"],)) > 0, 30, message="the big run never got going")
        cluster.add_instance(workers=2)  # two nodes join: shards move to them mid-run
        cluster.terminate(cluster.instances[0])  # two nodes leave gracefully: their shards move again
        finished = [cluster.wait_for_run(run_id, timeout=120) for run_id in caps]
    assert_capped_and_reached(sampler, caps)
    assert [run["done"] for run in finished] == [SEED_ROWS, 4_000]
    assert [run["ticks"] for run in finished] == [SEED_ROWS * 3, 4_000 * 3]
    assert [run["failed"] for run in finished] == [0, 0]

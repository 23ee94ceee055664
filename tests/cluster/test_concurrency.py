"""max_concurrency holds cluster-wide: the run's active rows, all nodes together, never exceed it."""
from tests.support.service import start_run, wait_for_run
from tests.support.wait import wait_until

ROWS = 600
MAX_CONCURRENCY = 50


def test_max_concurrency_caps_the_active_rows_of_all_nodes_together_while_the_run_runs(make_service, db):
    service = make_service(workers=2)
    wait_until(lambda: len(service.json("/nodes")["nodes"]) == 2 and
               all(node["shards"] > 0 for node in service.json("/nodes")["nodes"]), 20)
    run = start_run(service, rows=ROWS, start_value=3, tick_ms=50, scan_ms=200, max_concurrency=MAX_CONCURRENCY)
    active_query = "SELECT count(*) FROM rows WHERE run_id = %s AND state = 'active'"
    seen = []

    def finished_while_counting():
        seen.append(db.fetch_value(active_query, (run["id"],)))
        seen.append(service.json(f"/runs/{run['id']}")["active"])
        return service.json(f"/runs/{run['id']}")["status"] == "done"

    wait_until(finished_while_counting, timeout=60, interval=0.02)

    assert max(seen) <= MAX_CONCURRENCY, max(seen)
    assert max(seen) == MAX_CONCURRENCY  # the cap was reached, so it was tested
    assert wait_for_run(service, run["id"])["done"] == ROWS
    launched_by = db.fetch_all("SELECT DISTINCT node_id FROM shard_leases WHERE node_id IS NOT NULL")
    assert len(launched_by) == 2  # both nodes owned rows of the run

"""Runs through the HTTP API: rows tick down to 0 and the run ends, freeing its row servers."""
from tests.support.service import start_run, wait_for_run
from tests.support.stats import node_stats


def test_run_ticks_every_row_down_to_zero_and_frees_its_row_servers(service, db):
    run = start_run(service, rows=200, tick_ms=50, start_value=3)
    assert run["status"] == "running" and run["pending"] == 200

    done = wait_for_run(service, run["id"], timeout=30)

    assert done["done"] == 200 and done["ticks"] == 600 and done["finished_at"] is not None
    assert db.fetch_all("SELECT DISTINCT value, ticks FROM rows WHERE run_id = %s", (run["id"],)) == [(0, 3)]
    metrics = node_stats(service)
    assert metrics["row_servers"] == 0 and metrics["monitors"] == {}

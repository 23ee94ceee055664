"""Stopping a run ends its row servers on every node at once, not at their next tick."""
from tests.support.service import start_run
from tests.support.wait import wait_until

HOUR_MS = 3_600_000
ROWS = 20_000


def live_servers_by_node(service):
    return {node["id"]: node["row_servers"] for node in service.json("/nodes")["nodes"]}


def test_stopping_a_run_ends_its_row_servers_on_every_node_long_before_their_next_tick(make_service, db):
    service = make_service(workers=2)
    run = start_run(service, rows=ROWS, start_value=3, tick_ms=HOUR_MS, max_concurrency=ROWS)
    wait_until(lambda: service.json(f"/runs/{run['id']}")["active"] == ROWS, 60, interval=0.2,
               message="the run's rows never all became active")
    wait_until(lambda: sum(live_servers_by_node(service).values()) == ROWS, 15, interval=0.2,
               message="the nodes never reported every row server live")

    response = service.post(f"/runs/{run['id']}/stop")

    assert response.status_code == 200 and response.json()["status"] == "stopped", response.text
    # Every node's heartbeat (a third of the lease TTL apart) reports its live row servers.
    wait_until(lambda: set(live_servers_by_node(service).values()) == {0}, 10, interval=0.2,
               message="row servers outlived the stopped run")
    assert db.fetch_value("SELECT count(*) FROM rows WHERE run_id = %s AND state = 'idle'", (run["id"],)) == ROWS

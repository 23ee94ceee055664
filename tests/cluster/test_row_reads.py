"""GET /rows/<id> answers from every node with the owning node's live state."""
import time

import requests

from tests.support.cluster import lease_owners
from tests.support.events import EventStream
from tests.support.service import start_run
from tests.support.wait import wait_until

HOUR_MS = 3_600_000
READS_PER_ROW = 2
ROWS = 256  # one per shard: row ids are consecutive and shards are claimed in contiguous ranges


def test_every_node_answers_a_row_read_with_the_owners_live_state(make_cluster, db):
    cluster = make_cluster(instances=2, workers=2)
    cluster.wait_balanced(4)
    # Rows that stay active and still: their first tick is an hour away.
    run = start_run(cluster, rows=ROWS, start_value=500, tick_ms=HOUR_MS)
    wait_until(lambda: cluster.json(f"/runs/{run['id']}")["active"] == ROWS, 30, interval=0.1,
               message="the run's rows never all became active")
    rows = {row_id: (shard, value) for row_id, shard, value in db.fetch_all(
        "SELECT id, shard, value FROM rows WHERE run_id = %s", (run["id"],))}
    owners = lease_owners(db)
    pids = dict(db.fetch_all("SELECT id, pid FROM nodes"))
    assert len({owners[shard] for shard, _ in rows.values()}) == 4

    for instance in cluster.instances:
        # Reads of rows owned by the other instance's nodes can only be answered by forwarding them.
        assert any(pids[owners[shard]] not in instance.worker_pids() for shard, _ in rows.values())
        for row_id, (shard, value) in rows.items():
            for _ in range(READS_PER_ROW):
                # A new connection each time, so any worker of the instance may take the request.
                response = requests.get(instance.url(f"/rows/{row_id}"), headers={"Connection": "close"}, timeout=10)
                assert response.status_code == 200, response.text
                row = response.json()
                assert (row["id"], row["status"], row["value"]) == (row_id, "running", value)
                assert row["node"] == owners[shard], (row, owners[shard])

    assert lease_owners(db) == owners  # nothing moved while we read


def test_a_rows_event_stream_comes_through_nginx_as_it_happens(make_cluster):
    cluster = make_cluster(instances=2, workers=2)
    run = start_run(cluster, rows=1, start_value=100_000, tick_ms=300)
    stream = EventStream(cluster, run["first_row_id"])
    try:
        assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        # Each event as it happens (the service also tells nginx not to buffer: X-Accel-Buffering: no).
        began = time.monotonic()
        _, first = stream.wait_for(lambda name, data: name == "row", 10, "the first row event")
        stream.wait_for(lambda name, data: name == "row" and data["value"] < first["value"], 10, "a tick later")
        assert time.monotonic() - began < 5
    finally:
        stream.close()

"""The lease keeper renews on a connection of its own: requests that hold every pool connection (here,
casts waiting on a locked row) cannot make a node miss its renewals and lose its shards."""
import threading

import psycopg2
import requests

from tests.support.service import start_run
from tests.support.wait import assert_holds, wait_until
from tests.support.stats import node_stats

TTL_MS = 1500
POOL = 2


def test_leases_stay_renewed_while_requests_hold_every_pool_connection(make_service, db, database_url):
    service = make_service(env={"GREENROW_POOL_SIZE": str(POOL), "GREENROW_LEASE_TTL_MS": str(TTL_MS)})
    run = start_run(service, rows=1, start_value=5, tick_ms=3_600_000)
    row_id = run["first_row_id"]
    lock = psycopg2.connect(database_url)
    lock.cursor().execute("SELECT id FROM rows WHERE id = %s FOR UPDATE", (row_id,))  # casts' key checks wait
    casts = [threading.Thread(target=lambda: requests.post(service.url(f"/rows/{row_id}/messages"),
                                                           json={"type": "ping"}, timeout=60))
             for _ in range(POOL * 3)]
    try:
        for cast in casts:
            cast.start()
        wait_until(lambda: db.fetch_value("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                          " AND application_name LIKE 'greenrow %%'") >= POOL, 10,
                   message="the casts never held the pool's connections")
        expired = "SELECT count(*) FROM shard_leases WHERE expires_at <= now()"
        assert_holds(lambda: db.fetch_value(expired) == 0, seconds=TTL_MS * 3 / 1000.0, interval=0.1)
    finally:
        lock.rollback()
        lock.close()
        for cast in casts:
            cast.join(60)
    assert node_stats(service)["shards_held"] == 256

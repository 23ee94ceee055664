"""The inbox sweep (every 2 s, catching up on messages nobody was woken for) starts at most 2,000 row
servers at a time: 5,000 rows with a message each, queued behind the service's back, are served over a
few sweeps instead of 5,000 servers at once (what an unbounded sweep did after an outage)."""
from greenlets.node import INBOX_SWEEP_MAX_ROWS
from tests.support.service import start_run, wait_for_run
from tests.support.stats import node_stats
from tests.support.wait import wait_until

ROWS = 5_000
QUEUE_WITHOUT_WAKING = ("INSERT INTO messages (row_id, shard, type, body)"
                        " SELECT id, shard, 'ping', '{}' FROM rows WHERE run_id = %s")


def test_the_inbox_sweep_starts_at_most_its_bound_of_row_servers_at_a_time(service, db):
    run = wait_for_run(service, start_run(service, rows=ROWS, start_value=1, tick_ms=50)["id"], timeout=60)
    assert node_stats(service)["row_servers"] == 0  # every row done, no server left
    db.fetch_all(QUEUE_WITHOUT_WAKING, (run["id"],))  # no notification: only the sweep finds them
    live = []

    def inboxes_empty_while_counting_servers():
        live.append(node_stats(service)["row_servers"])
        return db.fetch_value("SELECT count(*) FROM messages WHERE row_id BETWEEN %s AND %s",
                              (run["first_row_id"], run["last_row_id"])) == 0
    wait_until(inboxes_empty_while_counting_servers, 60, interval=0.01,
               message="the sweeps never emptied the inboxes")

    assert max(live) <= INBOX_SWEEP_MAX_ROWS, f"{max(live)} row servers at once"
    assert max(live) >= INBOX_SWEEP_MAX_ROWS // 2, f"at most {max(live)} row servers seen: the sweep was not watched"
    assert node_stats(service)["counters"]["messages_applied"] >= ROWS

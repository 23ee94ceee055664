"""Durability: what the database holds survives a SIGKILLed worker, and a graceful stop hands rows over.

A cast answered 202 is committed to the row's inbox and applied exactly once, even when the worker
dies while applying it; a run in progress finishes after its worker is killed, without a tick lost
or doubled; SIGTERM releases the node's shard leases so the next node takes over at once.
"""

from tests.support.database import row_locked
from tests.support.service import start_run, wait_for_run
from tests.support.wait import wait_until
from tests.support.stats import node_stats

SHORT_LEASE = {"GREENROW_LEASE_TTL_MS": "1000"}
SHARDS = 256  # the default GREENROW_SHARDS
CASTS = 50


# --- helpers ------------------------------------------------------------------------------------------

def send(service, row_id, message, wait=False):
    response = service.post(f"/rows/{row_id}/messages" + ("?wait=true" if wait else ""), json=message)
    assert response.status_code == (200 if wait else 202), response.text
    return response.json()


def paused_row(service, start_value):
    """The only row of a fresh run, paused (so no tick changes it), and its value."""
    run = start_run(service, rows=1, start_value=start_value, tick_ms=60_000)
    row_id = run["first_row_id"]
    reply = send(service, row_id, {"type": "pause"}, wait=True)["reply"]
    assert reply["paused"] is True and reply["value"] == start_value
    return row_id


def sessions_waiting_for_a_lock(db):
    return db.fetch_value(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")


def wait_for_new_worker(service, killed_pid):
    wait_until(lambda: [pid for pid in service.worker_pids() if pid != killed_pid], 15,
               message="gunicorn did not start a new worker")
    service.wait_ready(15)


def wait_for_empty_inbox(service, db, row_id, timeout=15):
    wait_until(lambda: service.json(f"/rows/{row_id}")["inbox"] == 0, timeout, interval=0.1,
               message=f"row {row_id}'s inbox was not drained within {timeout} s")
    assert db.fetch_value("SELECT count(*) FROM messages WHERE row_id = %s", (row_id,)) == 0


def assert_every_row_ticked_down_once_per_unit(db, run_id, rows, start_value):
    assert db.fetch_all(
        "SELECT value, ticks, state, count(*) FROM rows WHERE run_id = %s GROUP BY 1, 2, 3", (run_id,)
    ) == [(0, start_value, "done", rows)]


def run_counts(db, run_id):
    return dict(db.fetch_all("SELECT state, count(*) FROM rows WHERE run_id = %s GROUP BY state", (run_id,)))


# --- exactly once across a SIGKILL ------------------------------------------------------------------

def test_casts_accepted_before_a_worker_is_killed_mid_apply_are_applied_exactly_once_by_its_successor(
        make_service, db, database_url):
    service = make_service(env=SHORT_LEASE)
    row_id = paused_row(service, start_value=10)

    with row_locked(database_url, row_id):
        for _ in range(CASTS):
            send(service, row_id, {"type": "incr", "by": 1})
        # The row server has taken the first message (its DELETE is not committed) and waits for our lock.
        wait_until(lambda: sessions_waiting_for_a_lock(db) >= 1, 10,
                   message="the row server never started applying a message")
        assert db.fetch_value("SELECT value FROM rows WHERE id = %s", (row_id,)) == 10
        assert db.fetch_value("SELECT count(*) FROM messages WHERE row_id = %s", (row_id,)) == CASTS, \
            "a message left the inbox before its effect was committed"
        killed = service.kill_worker()

    wait_for_new_worker(service, killed)
    wait_for_empty_inbox(service, db, row_id)

    row = service.json(f"/rows/{row_id}")
    assert row["value"] == 10 + CASTS and row["inbox"] == 0 and row["paused"] is True
    assert db.fetch_value("SELECT value FROM rows WHERE id = %s", (row_id,)) == 10 + CASTS


def test_casts_accepted_while_no_live_node_owns_the_row_are_applied_once_its_lease_is_taken_over(
        make_service, db):
    ttl = {"GREENROW_LEASE_TTL_MS": "6000"}  # long enough to start the peer and send every cast before it expires
    owner = make_service(env=ttl)
    row_id = paused_row(owner, start_value=10)
    owner.kill()  # SIGKILL master and worker: nobody serves the row until its lease expires
    # The peer runs but is not ready (/readyz waits for balanced shards, and the dead owner's leases
    # have not expired): it takes requests all the same.
    peer = make_service(env=ttl, start=False).start(wait_ready=False)
    wait_until(lambda: (node_stats(peer) or {}).get("running"), 10, message="the peer's node never ran")
    assert node_stats(peer)["shards_held"] == 0  # the owner holds every shard
    for _ in range(CASTS):
        send(peer, row_id, {"type": "incr", "by": 1})
    assert node_stats(peer)["shards_held"] == 0, "the casts must arrive while no live node owns the row"
    assert peer.json(f"/rows/{row_id}")["inbox"] == CASTS

    wait_until(lambda: node_stats(peer)["shards_held"] == SHARDS, 10,
               message="the peer never took over the dead owner's shards")
    wait_for_empty_inbox(peer, db, row_id)
    assert peer.json(f"/rows/{row_id}")["value"] == 10 + CASTS


def test_run_in_progress_finishes_after_its_worker_is_killed_without_a_tick_lost_or_doubled(make_service, db):
    service = make_service(env=SHORT_LEASE)
    run = start_run(service, rows=300, tick_ms=50, start_value=10, max_concurrency=100)
    wait_until(lambda: service.json(f"/runs/{run['id']}")["ticks"] >= 300, 15, interval=0.02,
               message="the run never got going")

    killed = service.kill_worker()
    counts = run_counts(db, run["id"])
    assert counts.get("done", 0) < 300, f"the worker was killed too late to be mid-run: {counts}"

    wait_for_new_worker(service, killed)
    done = wait_for_run(service, run["id"], timeout=30)

    assert done["done"] == 300 and done["ticks"] == 300 * 10 and done["failed"] == 0
    assert_every_row_ticked_down_once_per_unit(db, run["id"], rows=300, start_value=10)


# --- graceful stop ------------------------------------------------------------------------------------

def test_sigterm_releases_the_nodes_leases_so_a_new_node_finishes_the_run_without_waiting_for_expiry(
        make_service, db):
    service = make_service()  # the default 5,000 ms lease TTL: a new node must not have to wait it out
    run = start_run(service, rows=300, tick_ms=50, start_value=10, max_concurrency=100)
    wait_until(lambda: service.json(f"/runs/{run['id']}")["ticks"] >= 300, 15, interval=0.02,
               message="the run never got going")

    service.http.close()  # no idle keep-alive connection for the worker to wait out (gunicorn's keepalive)
    assert service.stop(timeout=10) == 0

    assert db.fetch_value("SELECT count(*) FROM shard_leases WHERE node_id IS NOT NULL") == 0
    assert db.fetch_value("SELECT count(*) FROM nodes") == 0
    counts = run_counts(db, run["id"])
    assert "active" not in counts, f"rows left active by a graceful stop: {counts}"
    assert counts.get("pending", 0) > 0, f"the service was stopped too late to be mid-run: {counts}"

    # Ready means holding its share: with the leases released (not left to expire) the new node
    # claims every shard at its first lease round, before the first epoch of any lease could expire.
    successor = make_service()
    assert node_stats(successor)["shards_held"] == SHARDS
    assert db.fetch_value("SELECT count(*) FROM shard_leases WHERE node_id = %s AND expires_at > now()",
                          (node_stats(successor)["node"],)) == SHARDS

    done = wait_for_run(successor, run["id"], timeout=15)
    assert done["done"] == 300 and done["ticks"] == 300 * 10 and done["failed"] == 0
    assert_every_row_ticked_down_once_per_unit(db, run["id"], rows=300, start_value=10)

"""A node whose shard lease was taken away cannot commit a tick or a message for that shard's rows."""
from tests.support.cluster import wait_for_inbox_empty
from tests.support.service import start_run
from tests.support.wait import wait_until

TICKS_OTHERS_MUST_MAKE = 4  # time passing, measured in ticks of the rows that keep their lease


def rows_state(db, row_ids):
    return dict((row_id, (value, ticks)) for row_id, value, ticks in db.fetch_all(
        "SELECT id, value, ticks FROM rows WHERE id = ANY(%s)", (list(row_ids),)))


def inbox(db, row_id):
    return db.fetch_value("SELECT count(*) FROM messages WHERE row_id = %s", (row_id,))


def test_a_node_whose_lease_was_stolen_cannot_commit_ticks_or_messages_for_its_rows(make_cluster, db):
    cluster = make_cluster(instances=1, workers=2)
    cluster.wait_balanced(2)
    run = start_run(cluster, rows=64, start_value=100_000, tick_ms=50)
    run_rows = [row_id for (row_id,) in db.fetch_all("SELECT id FROM rows WHERE run_id = %s ORDER BY id", (run["id"],))]
    wait_until(lambda: db.fetch_value("SELECT min(ticks) FROM rows WHERE run_id = %s", (run["id"],)) >= 1, 30,
               interval=0.05, message="not every row ticked")
    victim = run_rows[0]
    shard = db.fetch_value("SELECT shard FROM rows WHERE id = %s", (victim,))
    stolen = [row_id for (row_id,) in db.fetch_all(
        "SELECT id FROM rows WHERE run_id = %s AND shard = %s", (run["id"], shard))]
    others = [row_id for row_id in run_rows if row_id not in stolen]
    # A message queued before the theft, and so applied: the row's inbox works.
    assert cluster.post(f"/rows/{victim}/messages?wait=true", json={"type": "get"}).status_code == 200

    db.fetch_all("UPDATE shard_leases SET node_id = 'thief', expires_at = now() + interval '1 hour' WHERE shard = %s",
                 (shard,))
    # A statement that started before the theft committed may still commit one tick; wait for those to end.
    stolen_at = db.fetch_value("SELECT clock_timestamp()")
    wait_until(lambda: db.fetch_value(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state <> 'idle'"
        " AND xact_start < %s", (stolen_at,)) == 0, 10, interval=0.05, message="old transactions never ended")
    frozen = rows_state(db, stolen)
    cast = cluster.post(f"/rows/{victim}/messages", json={"type": "incr", "by": 7})
    assert cast.status_code == 202, cast.text
    call = cluster.post(f"/rows/{victim}/messages?wait=true&timeout_ms=500", json={"type": "get"})
    assert call.status_code == 504 and call.json()["error"]["code"] == "timeout", call.text

    baseline = rows_state(db, others)
    neighbour = others[0]
    reply = cluster.post(f"/rows/{neighbour}/messages?wait=true", json={"type": "incr", "by": 3})
    assert reply.status_code == 200, reply.text

    def others_moved_on_while_stolen_rows_stood_still():
        assert rows_state(db, stolen) == frozen, "a row of the stolen shard changed"
        assert inbox(db, victim) == 2, "a message for a row of the stolen shard was taken"
        now = rows_state(db, others)
        return all(now[row_id][1] >= baseline[row_id][1] + TICKS_OTHERS_MUST_MAKE for row_id in others)
    wait_until(others_moved_on_while_stolen_rows_stood_still, 30, interval=0.05,
               message="rows of the other shards stopped ticking")
    assert inbox(db, neighbour) == 0

    # The lease expires: a live node takes the shard, applies the queued messages, and ticking resumes.
    db.fetch_all("UPDATE shard_leases SET expires_at = now() WHERE shard = %s", (shard,))
    wait_for_inbox_empty(db, [victim], timeout=20)
    value_before, ticks_before = frozen[victim]
    wait_until(lambda: rows_state(db, stolen)[victim][1] > ticks_before, 20, interval=0.05,
               message="the row never ticked again after its shard was taken over")
    value, ticks = rows_state(db, stolen)[victim]
    assert value == value_before + 7 - (ticks - ticks_before)


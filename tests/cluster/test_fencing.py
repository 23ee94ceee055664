"""A node whose shard lease was taken away cannot commit a tick or a message for that shard's rows, even
while it still believes it holds the lease.

The lease is taken as a takeover takes it (new owner, new epoch) right after the owner renewed it, with
leases renewed only every 4 s: for seconds the old owner goes on ticking the shard's rows and is woken
for a message to one of them, and every one of those writes must be refused by the fence (the lease
row, locked FOR SHARE by each write and compared by node and epoch). Its counters show it tried."""
from tests.support.cluster import lease_owners, node_pid, wait_for_inbox_empty
from tests.support.service import start_run
from tests.support.stats import node_stats
from tests.support.wait import WaitTimeout, wait_until

LEASES_RENEWED_EVERY_4_S = {"GREENROW_LEASE_TTL_MS": "12000"}
TICKS_OTHERS_MUST_MAKE = 4  # time passing, measured in ticks of the rows that keep their lease
LEASE_ROW = "SELECT node_id, epoch, expires_at FROM shard_leases WHERE shard = %s"


def rows_state(db, row_ids):
    return dict((row_id, (value, ticks)) for row_id, value, ticks in db.fetch_all(
        "SELECT id, value, ticks FROM rows WHERE id = ANY(%s)", (list(row_ids),)))


def inbox(db, row_id):
    return db.fetch_value("SELECT count(*) FROM messages WHERE row_id = %s", (row_id,))


def steal_right_after_a_renewal(db, shard):
    """Wait for the owner to renew the shard's lease, then take it as a takeover would: the owner only
    notices at its next renewal, a third of the lease's life later."""
    renewed_at = db.fetch_all(LEASE_ROW, (shard,))[0][2]
    wait_until(lambda: db.fetch_all(LEASE_ROW, (shard,))[0][2] != renewed_at, 10, interval=0.005,
               message="the owner never renewed its lease")
    db.fetch_all("UPDATE shard_leases SET node_id = 'thief', epoch = epoch + 1,"
                 " expires_at = now() + interval '1 hour' WHERE shard = %s", (shard,))


def refused_by_the_fence(check, counter, before, owner):
    """Wait, briefly (the old owner notices the theft at its next renewal), until it counted a write of the
    given kind refused by the fence; `check(counter)` also checks that nothing changed meanwhile."""
    try:
        wait_until(lambda: check(counter), 3, interval=0.02)
    except WaitTimeout:
        raise AssertionError(f"the old owner never tried a write counted in {counter} for the stolen shard:"
                             f" counters before {before}, after {node_stats(owner)['counters']}") from None


def test_a_node_whose_lease_was_stolen_cannot_commit_ticks_or_messages_for_its_rows(make_cluster, db):
    cluster = make_cluster(instances=2, workers=1, env=LEASES_RENEWED_EVERY_4_S)  # a node per instance
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
    owner_pid = node_pid(db, lease_owners(db)[shard])
    owner = next(instance for instance in cluster.instances if owner_pid in instance.worker_pids())
    before = node_stats(owner)["counters"]

    steal_right_after_a_renewal(db, shard)
    # The takeover waited for any write holding the lease; none can commit for the old owner after it.
    frozen = rows_state(db, stolen)

    def stolen_rows_frozen_and_the_old_owner_refused(counter):
        assert rows_state(db, stolen) == frozen, "a row of the stolen shard changed"
        return node_stats(owner)["counters"][counter] > before[counter]
    # Its row servers tick on, every 50 ms: each tick is refused by the fence, and the server leaves.
    refused_by_the_fence(stolen_rows_frozen_and_the_old_owner_refused, "ticks_not_applied", before, owner)

    # A message to one of the rows: the old owner, woken, starts a server for it and tries to apply it.
    cast = owner.post(f"/rows/{victim}/messages", json={"type": "incr", "by": 7})
    assert cast.status_code == 202, cast.text
    call = owner.post(f"/rows/{victim}/messages?wait=true&timeout_ms=500", json={"type": "get"})
    assert call.status_code == 504 and call.json()["error"]["code"] == "timeout", call.text
    refused_by_the_fence(stolen_rows_frozen_and_the_old_owner_refused, "messages_fenced", before, owner)
    assert inbox(db, victim) == 2, "a message for a row of the stolen shard was taken"
    assert db.fetch_all(LEASE_ROW, (shard,))[0][0] == "thief"

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

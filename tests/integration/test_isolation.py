"""Statements that race each other across nodes, interleaved by hand on a real PostgreSQL: one
transaction is held open at the worst moment while the other runs, then both finish."""
import threading

from greenlets.db.queries import run_query
from greenlets.rows.messages import effect
from tests.support.database import execute, waiting_for_a_lock
from tests.support.wait import wait_until

NODE, EPOCH = "node-a", 7


def named(conn, name, params):
    """Run a named query of queries.sql (as plain text: a plain connection prepares nothing)."""
    with conn.cursor() as cur:
        run_query(cur, name, params)
        return cur.fetchall()


def a_run_whose_rows_are_all_done(conn):
    run_id = execute(conn, "INSERT INTO runs (rows, first_row_id, last_row_id, start_value, step, tick_ms, scan_ms,"
                           " max_concurrency) VALUES (2, 1, 2, 3, 1, 1000, 2000, 10) RETURNING id")[0][0]
    execute(conn, "INSERT INTO rows (id, run_id, shard, value, state) VALUES (1, %s, 1, 0, 'done'), (2, %s, 2, 0, 'done')",
            (run_id, run_id))
    execute(conn, "INSERT INTO shard_leases (shard, node_id, epoch, expires_at) VALUES (1, %s, %s, now() + interval '1 hour')",
            (NODE, EPOCH))
    return run_id


def test_a_set_reviving_a_row_while_its_run_finishes_never_leaves_a_pending_row_in_a_done_run(connect):
    setup, reviver, finisher = connect(), connect(autocommit=False), connect()
    run_id = a_run_whose_rows_are_all_done(setup)
    finisher_pid = execute(finisher, "SELECT pg_backend_pid()")[0][0]
    params = dict(effect("set", {"value": 5}), row_id=1, node_id=NODE, epoch=EPOCH)
    with reviver.cursor() as cur:
        run_query(cur, "apply_message", params)  # the revive, not committed yet
        assert cur.fetchone()[3] == "pending"
    finished = []
    finishing = threading.Thread(target=lambda: finished.append(named(finisher, "finish_run", {"run_id": run_id})))
    finishing.start()
    # finish_run either waits for the revive (the fix) or decides at once without seeing it (the race)
    wait_until(lambda: finished or waiting_for_a_lock(setup, finisher_pid), 10, interval=0.01)
    reviver.commit()
    finishing.join(10)

    status = execute(setup, "SELECT status FROM runs WHERE id = %s", (run_id,))[0][0]
    row_state = execute(setup, "SELECT state FROM rows WHERE id = 1")[0][0]
    assert (status, row_state) == ("running", "pending"), "a pending row was left in a finished run"


def an_active_row_of_node_a(conn, expires="now() + interval '1 hour'"):
    """Row 1 (shard 1, value 5) of a running run, active on node A under lease epoch EPOCH."""
    return a_run_with_rows(conn, (1, "active"), expires=expires)


def a_run_with_rows(conn, *rows, expires="now() + interval '1 hour'"):
    """A running run of the given (id, state) rows, value 5, shard id % 256, all under node A's leases
    (epoch EPOCH), which expire at ``expires`` (SQL)."""
    run_id = execute(conn, "INSERT INTO runs (rows, first_row_id, last_row_id, start_value, step, tick_ms, scan_ms,"
                           " max_concurrency) VALUES (%s, %s, %s, 5, 1, 1000, 2000, 10) RETURNING id",
                     (len(rows), min(row_id for row_id, _ in rows), max(row_id for row_id, _ in rows)))[0][0]
    for row_id, state in rows:
        execute(conn, "INSERT INTO rows (id, run_id, shard, value, state, epoch) VALUES (%s, %s, %s, 5, %s, %s)",
                (row_id, run_id, row_id % 256, state, EPOCH))
    execute(conn, "INSERT INTO shard_leases (shard, node_id, epoch, expires_at)"
                  f" SELECT DISTINCT shard, %s, %s, {expires} FROM rows", (NODE, EPOCH))
    return run_id


def tick(conn, node=NODE, epoch=EPOCH):
    """commit_ticks for row 1 as `node` under `epoch`; returns the refused ids."""
    return named(conn, "commit_ticks", {"ids": "{1}", "epochs": "{%d}" % epoch, "shard_count": 256, "step": 1,
                                        "node_id": node})[0][0]


def test_a_tick_waiting_on_its_row_keeps_the_shard_until_it_commits_so_no_other_node_ticks_meanwhile(connect):
    setup, blocker, ticker, thief = connect(), connect(autocommit=False), connect(), connect()
    an_active_row_of_node_a(setup, expires="now() - interval '1 second'")  # expired: up for grabs
    execute(blocker, "SELECT id FROM rows WHERE id = 1 FOR NO KEY UPDATE")  # e.g. a message being applied
    ticker_pid = execute(ticker, "SELECT pg_backend_pid()")[0][0]
    refused = []
    ticking = threading.Thread(target=lambda: refused.append(tick(ticker)))
    ticking.start()
    wait_until(lambda: waiting_for_a_lock(setup, ticker_pid), 10, interval=0.01,
               message="the tick did not wait for the row")

    taken = named(thief, "claim_free_shards", {"node_id": "node-b", "ttl_ms": 5000, "limit": 256})

    blocker.rollback()
    ticking.join(10)
    assert 1 not in dict(taken), "another node took the shard while a tick for it was committing"
    assert refused == [[]]  # the tick committed, under a lease nobody else held meanwhile
    assert execute(setup, "SELECT ticks FROM rows WHERE id = 1")[0][0] == 1


def test_a_tick_of_an_earlier_lease_term_is_refused_even_from_the_same_node(connect):
    setup, ticker = connect(), connect()
    an_active_row_of_node_a(setup)
    execute(setup, "UPDATE shard_leases SET epoch = epoch + 2 WHERE shard = 1")  # lost, then taken back

    assert tick(ticker) == [1]
    assert tick(ticker, epoch=EPOCH + 2) == []
    assert execute(setup, "SELECT ticks, epoch FROM rows WHERE id = 1")[0] == (1, EPOCH + 2)


def test_a_lease_that_expired_but_that_nobody_took_still_fences_in_its_holder(connect):
    setup, ticker = connect(), connect()
    an_active_row_of_node_a(setup, expires="now() - interval '1 second'")

    assert tick(ticker) == []  # a renewal that came late must not have cost the row its tick
    renewed = named(setup, "renew_leases", {"node_id": NODE, "ttl_ms": 5000})
    assert renewed == [(1, EPOCH)]


def test_a_message_held_by_an_earlier_owner_is_waited_for_so_the_next_one_is_not_applied_first(connect):
    setup, old_owner, new_owner = connect(), connect(autocommit=False), connect(autocommit=False)
    an_active_row_of_node_a(setup)
    first, second = (execute(setup, "INSERT INTO messages (row_id, shard, type) VALUES (1, 1, 'ping') RETURNING id")[0][0]
                     for _ in range(2))
    assert named(old_owner, "take_next_message", {"row_id": 1})[0][0] == first  # then fenced: it will roll back
    new_owner_pid = execute(new_owner, "SELECT pg_backend_pid()")[0][0]
    taken = []
    taking = threading.Thread(target=lambda: taken.append(named(new_owner, "take_next_message", {"row_id": 1})))
    taking.start()
    wait_until(lambda: taken or waiting_for_a_lock(setup, new_owner_pid), 10, interval=0.01)

    old_owner.rollback()
    taking.join(10)
    new_owner.rollback()
    assert taken[0][0][0] == first, f"message {taken[0][0][0]} was taken before message {first}"
    assert second > first


def refusing_to_wait(conn):
    """The connection, which now fails (LockNotAvailable) rather than wait more than a second for a lock."""
    execute(conn, "SET lock_timeout = '1s'")
    return conn


def test_a_cast_to_a_row_being_claimed_does_not_wait_for_the_claim_to_commit(connect):
    setup, claimer, sender = connect(), connect(autocommit=False), refusing_to_wait(connect())
    run_id = a_run_with_rows(setup, (1, "pending"))
    claimed = named(claimer, "claim_pending_rows", {"run_id": run_id, "node_id": NODE, "limit": 10})
    assert [row[0] for row in claimed] == [1]  # the claim holds row 1 until it commits

    inserted = named(sender, "insert_message", {"row_id": 1, "inbox_max": 10, "type": "ping", "body": "{}",
                                                "reply_to": None, "node_id": NODE, "channel": "greenrow",
                                                "wake": "{}"})
    claimer.commit()
    assert inserted[0][0] is not None, "the message was not stored"
    assert execute(setup, "SELECT state FROM rows WHERE id = 1")[0][0] == "active"


def a_connection_of_another_stripe(connect, other):
    """A connection whose session counts into another run_counts stripe than ``other``'s (backend pid % 64):
    two sessions of one stripe take turns on its counter rows, by design."""
    stripe = execute(other, "SELECT pg_backend_pid() % 64")[0][0]
    for _ in range(10):  # each new session is a new backend process: the first one almost always differs
        conn = connect()
        if execute(conn, "SELECT pg_backend_pid() % 64")[0][0] != stripe:
            return conn
    raise AssertionError(f"10 new sessions all counted into stripe {stripe}")


def test_two_tick_writers_do_not_wait_for_each_others_run_counts_even_in_one_shard(connect):
    setup, first = connect(), connect(autocommit=False)
    second = refusing_to_wait(a_connection_of_another_stripe(connect, first))
    run_id = a_run_with_rows(setup, (1, "active"), (257, "active"))  # both in shard 1
    params = {"epochs": "{%d}" % EPOCH, "shard_count": 256, "step": 1, "node_id": NODE}
    assert named(first, "commit_ticks", {**params, "ids": "{1}"}) == [([],)]  # its counter row is locked till commit

    assert named(second, "commit_ticks", {**params, "ids": "{257}"}) == [([],)]
    first.commit()
    counted = execute(setup, "SELECT sum(ticks), sum(active), count(*) FILTER (WHERE ticks > 0) FROM run_counts"
                             " WHERE run_id = %s", (run_id,))
    assert counted == [(2, 2, 2)]  # both rows still active, one tick each, counted in each writer's own row

"""Each audit check catches the violation it targets, planted by hand in a real database, and stays quiet
on a clean history: a check that cannot fail proves nothing."""
import psycopg2
import psycopg2.extras

from chaos import audit


def invariants(violations):
    return sorted({violation.invariant for violation in violations})


def finish_cleanly(planted, run_id, rows=2, ticks=3):
    for _ in range(ticks):
        for row_id in range(1, rows + 1):
            planted.tick(row_id)
    planted.backdate_ticks(seconds_apart=1.0)
    planted.execute("UPDATE runs SET status = 'done' WHERE id = %s", (run_id,))


def test_a_run_ticked_on_schedule_by_its_lease_holder_passes_every_tick_check(planted):
    run_id = planted.run()
    finish_cleanly(planted, run_id)
    assert audit.check_ticks(planted.conn, [run_id], tick_ms=1000) == []


def test_every_committed_tick_is_audited_with_its_node_and_the_lease_it_read(planted):
    planted.run(rows=1)
    planted.tick(1, node_id="a")
    assert planted.value("SELECT row(row_id, tick, value, node_id, lease_node_id, lease_epoch)::text FROM tick_audit") \
        == "(1,1,2,a,a,1)"


def test_a_second_tick_well_within_tick_ms_is_reported_with_both_nodes(planted):
    run_id = planted.run(rows=1)
    finish_cleanly(planted, run_id, rows=1, ticks=2)
    planted.execute("UPDATE shard_leases SET node_id = 'b', epoch = 2 WHERE shard = 1")
    planted.tick(1, node_id="b")  # at once after tick 2: a doubled tick
    violations = audit.check_tick_spacing(planted.conn, [run_id], tick_ms=1000)
    assert invariants(violations) == ["tick_spacing"]
    assert "row_id=1 tick=3" in violations[0].detail and "node_id=b prev_node_id=a" in violations[0].detail


def test_a_tick_committed_at_90_percent_of_tick_ms_is_within_the_tolerance(planted):
    run_id = planted.run(rows=1)
    finish_cleanly(planted, run_id, rows=1, ticks=3)
    planted.backdate_ticks(seconds_apart=0.91)
    assert audit.check_tick_spacing(planted.conn, [run_id], tick_ms=1000) == []
    planted.backdate_ticks(seconds_apart=0.89)
    assert invariants(audit.check_tick_spacing(planted.conn, [run_id], tick_ms=1000)) == ["tick_spacing"]


def test_a_tick_by_a_node_that_does_not_hold_the_lease_is_reported(planted):
    run_id = planted.run(rows=1)
    planted.tick(1, node_id="intruder")
    violations = audit.check_tick_fencing(planted.conn, [run_id])
    assert invariants(violations) == ["tick_unfenced"]
    assert "node_id=intruder" in violations[0].detail and "lease_node_id=a" in violations[0].detail


def test_a_tick_in_its_epoch_on_an_expired_lease_nobody_took_is_counted_not_reported(planted):
    run_id = planted.run(rows=1)
    planted.execute("UPDATE shard_leases SET expires_at = now() - interval '1 second'")
    planted.tick(1, node_id="a")
    assert audit.check_tick_fencing(planted.conn, [run_id]) == []
    assert audit.ticks_on_expired_lease(planted.conn, [run_id]) == 1


def test_without_an_epoch_a_tick_on_an_expired_lease_is_reported(planted):
    run_id = planted.run(rows=1)
    planted.execute("UPDATE shard_leases SET expires_at = now() - interval '1 second'")
    planted.tick(1, node_id="a")
    planted.execute("UPDATE tick_audit SET writer_epoch = NULL")  # a product fenced by expiry alone
    assert invariants(audit.check_tick_fencing(planted.conn, [run_id])) == ["tick_unfenced"]


def test_recovery_is_the_time_until_every_row_ticking_at_a_faults_start_ticked_again(planted):
    run_id = planted.run(rows=2)
    finish_cleanly(planted, run_id, rows=2, ticks=2)  # both rows one tick short of 0, their last tick now
    started, ended = planted.value("SELECT clock_timestamp()"), planted.value("SELECT clock_timestamp()")
    planted.tick(1)
    planted.execute("UPDATE tick_audit SET committed_at = %s + interval '3 seconds' WHERE row_id = 1 AND tick = 3",
                    (ended,))
    resume_s, never_resumed = audit.tick_recovery(planted.conn, started, ended, tick_ms=1000)
    assert round(resume_s, 3) == 3.0 and never_resumed == 1  # row 2 never ticked again


def test_a_tick_written_in_another_epoch_than_the_lease_is_reported(planted):
    run_id = planted.run(rows=1)
    planted.tick(1, node_id="a", epoch=7)
    violations = audit.check_tick_fencing(planted.conn, [run_id])
    assert invariants(violations) == ["tick_unfenced"] and "writer_epoch=7" in violations[0].detail


def test_a_tick_number_committed_twice_is_reported(planted):
    run_id = planted.run(rows=1)
    planted.tick(1, node_id="a")
    planted.execute("INSERT INTO tick_audit (row_id, shard, tick, value, committed_at, statement_now, txid, node_id)"
                    " SELECT row_id, shard, tick, value, committed_at, statement_now, txid, 'b' FROM tick_audit")
    violations = audit.check_tick_numbers(planted.conn, [run_id])
    assert invariants(violations) == ["tick_doubled"] and "commits=2" in violations[0].detail


def test_a_finished_row_above_0_or_with_the_wrong_tick_count_is_reported(planted):
    run_id = planted.run(rows=2)
    finish_cleanly(planted, run_id, rows=2, ticks=3)
    planted.execute("UPDATE rows SET value = 1, state = 'active' WHERE id = 1")
    planted.execute("DELETE FROM tick_audit WHERE row_id = 2 AND tick = 1")  # a tick with no trace
    assert invariants(audit.check_finished_rows(planted.conn, [run_id])) == ["row_not_done", "tick_count"]


def insert_messages(planted, row_id, count):
    return [planted.value("INSERT INTO messages (row_id, shard, type, body) VALUES (%s, 1, 'incr', %s) RETURNING id",
                          (row_id, psycopg2.extras.Json({"by": 2 << n}))) for n in range(count)]


def test_messages_applied_oldest_first_pass_the_order_and_once_checks(planted):
    planted.run(rows=1)
    message_ids = insert_messages(planted, 1, 3)
    for message_id in message_ids:
        planted.as_node("a").cursor().execute("DELETE FROM messages WHERE id = %s", (message_id,))
    assert audit.check_message_order(planted.conn, [1]) == []
    assert audit.check_messages_once(planted.conn, [1]) == []
    assert [m["message_id"] for m in audit.applied_messages(planted.conn, [1])[1]] == message_ids


def test_an_older_message_committed_after_a_newer_one_is_reported_even_if_deleted_first(planted):
    planted.run(rows=1)
    older, newer = insert_messages(planted, 1, 2)
    old_owner = psycopg2.connect(planted.database_url, application_name="greenrow a")
    try:
        with old_owner.cursor() as cur:  # the old owner takes the oldest message and has not committed yet
            cur.execute("DELETE FROM messages WHERE id = %s", (older,))
        planted.as_node("b").cursor().execute("DELETE FROM messages WHERE id = %s", (newer,))
        old_owner.commit()
    finally:
        old_owner.close()
    violations = audit.check_message_order(planted.conn, [1])
    assert invariants(violations) == ["message_reordered"]
    assert f"message_id={older} prev_message_id={newer}" in violations[0].detail


def test_a_message_removed_by_two_transactions_is_reported(planted):
    planted.run(rows=1)
    (message_id,) = insert_messages(planted, 1, 1)
    planted.as_node("a").cursor().execute("DELETE FROM messages WHERE id = %s", (message_id,))
    planted.execute("INSERT INTO message_audit (commit_order, row_id, message_id, type, body, deleted_at, node_id)"
                    " SELECT commit_order + 1, row_id, message_id, type, body, deleted_at, 'b' FROM message_audit")
    assert invariants(audit.check_messages_once(planted.conn, [1])) == ["message_duplicated"]


def test_a_lease_changing_hands_is_audited_and_a_renewal_is_not(planted):
    planted.run(rows=1)
    planted.execute("UPDATE shard_leases SET expires_at = now() + interval '2 hours'")
    planted.as_node("b").cursor().execute("UPDATE shard_leases SET node_id = 'b', epoch = epoch + 1")
    assert planted.value("SELECT array_agg(row(shard, old_node_id, new_node_id, new_epoch, by_node_id)::text)"
                         " FROM lease_audit") == ["(1,a,b,2,b)"]


def test_restarts_counted_on_the_runs_rows_are_a_figure_of_the_run(planted):
    run_id = planted.run(rows=3)
    planted.execute("UPDATE rows SET restarts = 2 WHERE id = 1")
    assert audit.row_restarts(planted.conn, [run_id]) == (2, 1)

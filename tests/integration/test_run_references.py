"""A row's run must exist, and never changes: migrations/011_rows_run_check_per_statement.sql checks it once
per statement (it was a foreign key, checked once per row). The same SQLSTATE as the foreign key, and the
same outcome when an insert races the delete of its run, in both orders, on a real PostgreSQL."""
import threading

import psycopg2
import pytest

from greenlets.db.queries import run_query
from tests.support.database import execute, waiting_for_a_lock
from tests.support.wait import wait_until


def a_run(conn, first_row_id=1, rows=2):
    return execute(conn, "INSERT INTO runs (rows, first_row_id, last_row_id, start_value, step, tick_ms, scan_ms,"
                         " max_concurrency) VALUES (%s, %s, %s, 3, 1, 1000, 2000, 10) RETURNING id",
                   (rows, first_row_id, first_row_id + rows - 1))[0][0]


def insert_rows(conn, run_ids, first_id=1):
    values = ", ".join(f"({first_id + i}, {run_id}, 1, 3)" for i, run_id in enumerate(run_ids))
    execute(conn, f"INSERT INTO rows (id, run_id, shard, value) VALUES {values}")


def in_thread(work):
    """Run work() in a thread; returns the thread and a list that gets its result or its exception."""
    outcome = []

    def target():
        try:
            outcome.append(work())
        except Exception as exc:  # the assertion is on the outcome, in the test's thread
            outcome.append(exc)
    thread = threading.Thread(target=target)
    thread.start()
    return thread, outcome


def test_create_run_inserts_its_rows_and_names_its_run(connect):
    conn = connect()
    with conn.cursor() as cur:
        run_query(cur, "create_run", {"rows": 500, "start_value": 3, "step": 1, "tick_ms": 1000, "scan_ms": 2000,
                                      "max_concurrency": 100, "shards": 256})
        run_id = cur.fetchone()[0]
    assert execute(conn, "SELECT count(*), min(run_id), max(run_id) FROM rows") == [(500, run_id, run_id)]


def test_rows_naming_a_run_that_does_not_exist_are_refused_with_the_foreign_key_error(connect):
    conn = connect()
    run_id = a_run(conn)
    with pytest.raises(psycopg2.errors.ForeignKeyViolation, match=f"Key \\(run_id\\)=\\({run_id + 1}\\)"):
        insert_rows(conn, [run_id, run_id + 1])  # one good row, one bad: the whole statement is refused
    assert execute(conn, "SELECT count(*) FROM rows") == [(0,)]
    insert_rows(conn, [run_id, run_id])
    assert execute(conn, "SELECT count(*) FROM rows") == [(2,)]


def test_a_rows_run_never_changes_but_its_other_columns_do(connect):
    conn = connect()
    run_id, other = a_run(conn), a_run(conn, first_row_id=3)
    insert_rows(conn, [run_id])
    for new_run in (other, other + 100):  # another run, or one that does not exist
        with pytest.raises(psycopg2.errors.RestrictViolation, match="run never changes"):
            execute(conn, "UPDATE rows SET run_id = %s WHERE id = 1", (new_run,))
    execute(conn, "UPDATE rows SET value = value - 1, ticks = ticks + 1 WHERE id = 1")
    assert execute(conn, "SELECT run_id, value, ticks FROM rows WHERE id = 1") == [(run_id, 2, 1)]


def test_a_run_that_still_has_rows_cannot_be_deleted(connect):
    conn = connect()
    run_id, empty = a_run(conn), a_run(conn, first_row_id=3)
    insert_rows(conn, [run_id])
    with pytest.raises(psycopg2.errors.ForeignKeyViolation, match=f"Key \\(id\\)=\\({run_id}\\)"):
        execute(conn, "DELETE FROM runs WHERE id IN (%s, %s)", (run_id, empty))
    execute(conn, "DELETE FROM runs WHERE id = %s", (empty,))
    execute(conn, "DELETE FROM rows WHERE run_id = %s", (run_id,))
    execute(conn, "DELETE FROM run_counts WHERE run_id = %s", (run_id,))  # as delete_run_record does
    execute(conn, "DELETE FROM runs WHERE id = %s", (run_id,))
    assert execute(conn, "SELECT count(*) FROM runs") == [(0,)]


def test_a_run_deleted_while_rows_are_being_inserted_for_it_waits_and_is_refused(connect):
    setup, inserter, deleter = connect(), connect(autocommit=False), connect()
    run_id = a_run(setup)
    insert_rows(inserter, [run_id, run_id])  # checked, the run locked; not committed yet
    deleter_pid = execute(deleter, "SELECT pg_backend_pid()")[0][0]
    deleting, outcome = in_thread(lambda: execute(deleter, "DELETE FROM runs WHERE id = %s", (run_id,)))
    wait_until(lambda: outcome or waiting_for_a_lock(setup, deleter_pid), 10, interval=0.01)
    assert not outcome, "the delete did not wait for the insert that had checked its run"

    inserter.commit()
    deleting.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], psycopg2.errors.ForeignKeyViolation), outcome
    assert execute(setup, "SELECT count(*) FROM rows WHERE run_id = %s", (run_id,)) == [(2,)]
    assert execute(setup, "SELECT count(*) FROM runs WHERE id = %s", (run_id,)) == [(1,)]


def test_rows_inserted_while_their_run_is_being_deleted_wait_and_are_refused(connect):
    setup, deleter, inserter = connect(), connect(autocommit=False), connect()
    run_id = a_run(setup)
    execute(deleter, "DELETE FROM runs WHERE id = %s", (run_id,))  # checked (no rows yet); not committed
    inserter_pid = execute(inserter, "SELECT pg_backend_pid()")[0][0]
    inserting, outcome = in_thread(lambda: insert_rows(inserter, [run_id]))
    wait_until(lambda: outcome or waiting_for_a_lock(setup, inserter_pid), 10, interval=0.01)
    assert not outcome, "the insert did not wait for the delete of its run"

    deleter.commit()
    inserting.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], psycopg2.errors.ForeignKeyViolation), outcome
    assert execute(setup, "SELECT count(*) FROM rows") == [(0,)]


def test_rows_inserted_while_the_delete_of_their_run_rolls_back_are_kept(connect):
    setup, deleter, inserter = connect(), connect(autocommit=False), connect()
    run_id = a_run(setup)
    execute(deleter, "DELETE FROM runs WHERE id = %s", (run_id,))
    inserter_pid = execute(inserter, "SELECT pg_backend_pid()")[0][0]
    inserting, outcome = in_thread(lambda: insert_rows(inserter, [run_id]))
    wait_until(lambda: outcome or waiting_for_a_lock(setup, inserter_pid), 10, interval=0.01)

    deleter.rollback()
    inserting.join(10)
    assert outcome == [None]
    assert execute(setup, "SELECT count(*) FROM rows WHERE run_id = %s", (run_id,)) == [(1,)]

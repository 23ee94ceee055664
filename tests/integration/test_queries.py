"""Every named query prepares on a real PostgreSQL; a pool connection prepares each one once."""
import psycopg2
import pytest

from greenlets.db.queries import PLANNED_EACH_CALL, PREPARED, PreparingConnection, run_query


@pytest.fixture
def conn(database_url):
    connection = psycopg2.connect(database_url, connection_factory=PreparingConnection)
    connection.autocommit = True
    yield connection
    connection.close()


def prepared_names(conn):
    with conn.cursor() as cur:
        cur.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cur.fetchall()}


@pytest.mark.parametrize("name", sorted(PREPARED))
def test_every_named_query_prepares_with_types_postgresql_can_infer(conn, name):
    with conn.cursor() as cur:
        cur.execute(PREPARED[name].prepare)  # fails when a parameter's type cannot be determined
    assert f"greenrow_{name}" in prepared_names(conn)


def test_a_query_is_prepared_on_its_first_run_and_reused_after(conn):
    with conn.cursor() as cur:
        run_query(cur, "database_now")
        first = cur.fetchone()[0]
        run_query(cur, "database_now")  # a second PREPARE of the same name would fail
        assert cur.fetchone()[0] >= first
    assert "greenrow_database_now" in prepared_names(conn)
    assert conn.prepared == {"database_now"}


def test_batch_statements_are_planned_for_each_call(conn):
    with conn.cursor() as cur:
        run_query(cur, "commit_ticks", {"ids": "{1,2}", "epochs": "{1,1}", "shard_count": 256, "step": 1,
                                        "node_id": "nobody"})
        assert sorted(cur.fetchone()[0]) == [1, 2]  # no such rows: both refused
    assert not {f"greenrow_{name}" for name in PLANNED_EACH_CALL} & prepared_names(conn)


def test_a_plain_connection_runs_the_query_text(database_url):
    connection = psycopg2.connect(database_url)
    try:
        with connection.cursor() as cur:
            run_query(cur, "database_now")
            assert cur.fetchone()[0] is not None
        assert prepared_names(connection) == set()
    finally:
        connection.close()


def test_a_statement_prepared_in_a_rolled_back_transaction_stays_prepared(database_url):
    connection = psycopg2.connect(database_url, connection_factory=PreparingConnection)
    try:
        with connection.cursor() as cur:
            run_query(cur, "database_now")  # PREPARE runs in this transaction...
        connection.rollback()  # ...which is rolled back
        with connection.cursor() as cur:
            run_query(cur, "database_now")  # EXECUTE only: it must still exist
            assert cur.fetchone()[0] is not None
    finally:
        connection.close()

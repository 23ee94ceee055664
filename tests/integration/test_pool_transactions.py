"""greenlets/db/pool.py: Pool.transaction sends its BEGIN with its first statement (one round trip less
than psycopg2's own BEGIN) and ends with an explicit COMMIT or ROLLBACK; the connection goes back to
the pool idle, in its usual mode, whatever happened.

In a process of its own (psycogreen patched, gevent's hub), on the test's real PostgreSQL, with a pool
of one connection (so every transaction below reuses the same one). Round trips are counted at the
wait callback psycogreen installs: psycopg2 calls it once per exchange with the server."""
from tests.support.scripts import run_script

SCRIPT = """
import json, sys
import psycopg2, psycopg2.extensions
import psycogreen.gevent
from psycogreen.gevent import gevent_wait_callback
from greenlets.db.pool import Pool

exchanges = []
psycopg2.extensions.set_wait_callback(lambda conn: (exchanges.append(1), gevent_wait_callback(conn)))
pool = Pool(sys.argv[1], size=1, timeout_s=10)
out = {}

def state():
    conn = pool.acquire()
    try:
        return {"status": conn.info.transaction_status, "autocommit": conn.autocommit}
    finally:
        pool.release(conn)

with pool.statement() as cur:
    cur.execute("CREATE TABLE IF NOT EXISTS pool_tx_test (n integer)")
    cur.execute("TRUNCATE pool_tx_test")

del exchanges[:]
with pool.transaction() as cur:
    cur.execute("SELECT txid_current()")
    out["one_statement_exchanges"] = len(exchanges)
del exchanges[:]

with pool.transaction(dicts=True) as cur:
    cur.execute("INSERT INTO pool_tx_test VALUES (1) RETURNING txid_current() AS tx")
    first = cur.fetchone()["tx"]
    cur.execute("INSERT INTO pool_tx_test VALUES (2) RETURNING txid_current() AS tx")
    out["same_transaction"] = cur.fetchone()["tx"] == first
out["after_commit"] = state()

try:
    with pool.transaction() as cur:
        cur.execute("INSERT INTO pool_tx_test VALUES (3)")
        cur.execute("INSERT INTO pool_tx_test VALUES (1 / 0)")
except psycopg2.errors.DivisionByZero:
    out["error_raised"] = True
out["after_error"] = state()

try:
    with pool.transaction() as cur:
        cur.execute("INSERT INTO pool_tx_test VALUES (4)")
        raise KeyError("not the database's")
except KeyError:
    pass
out["after_exception"] = state()

with pool.statement() as cur:
    cur.execute("SELECT array_agg(n ORDER BY n) FROM pool_tx_test")
    out["committed"] = cur.fetchone()[0]
    cur.execute("DROP TABLE pool_tx_test")
print(json.dumps(out))
"""


def test_a_transaction_sends_its_begin_with_its_first_statement_and_commits_or_rolls_back_as_a_whole(database_url):
    out = run_script(SCRIPT, database_url)
    assert out["one_statement_exchanges"] == 1  # BEGIN and the statement together (psycopg2 alone: 2)
    assert out["same_transaction"] is True
    assert out["error_raised"] is True
    assert out["committed"] == [1, 2]  # 3 went with the failed statement, 4 with the exception
    idle = {"status": 0, "autocommit": False}  # TRANSACTION_STATUS_IDLE, as the pool hands connections out
    assert out["after_commit"] == idle
    assert out["after_error"] == idle
    assert out["after_exception"] == idle

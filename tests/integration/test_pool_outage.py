"""greenlets/db/pool.py and database_health.py: when an outage begins, everyone waiting for a pool
connection is refused at once (PoolTimeout, a 503 for a request) rather than left waiting behind
connections stuck until their network timeout; the pool serves as before once a connection is free.

In a process of its own (psycogreen patched, gevent's hub), on the test's real PostgreSQL: a pool of one
connection, held while three greenlets queue for it with a 10 s checkout timeout, then a failure
reported to the node's DatabaseHealth, wired as the node wires it."""
from tests.support.scripts import run_script

SCRIPT = """
import json, sys, time
import gevent
import psycogreen.gevent
psycogreen.gevent.patch_psycopg()
import psycopg2
from greenlets.database_health import DatabaseHealth
from greenlets.db.pool import Pool, PoolTimeout
from greenlets.telemetry.recorder import Telemetry

pool = Pool(sys.argv[1], size=1, timeout_s=10)
health = DatabaseHealth(Telemetry())
health.on_outage = pool.refuse_waiters
outcomes = {}

def use(name, priority):
    started = time.monotonic()
    try:
        with pool.statement(priority=priority) as cur:
            cur.execute("SELECT 1")
        outcomes[name] = "served"
    except PoolTimeout:
        outcomes[name] = f"refused after {time.monotonic() - started:.2f} s"

held = pool.acquire()
waiters = [gevent.spawn(use, "request-1", False), gevent.spawn(use, "monitor", True),
           gevent.spawn(use, "request-2", False)]
gevent.sleep(0.05)
waiting = pool.stats()["waiting"]
health.failed("a tick batch", psycopg2.OperationalError("server closed the connection unexpectedly"))
health.failed("a request", psycopg2.OperationalError("server closed the connection unexpectedly"))
gevent.joinall(waiters, timeout=10)
pool.release(held)
gevent.spawn(use, "after", False).join(10)
print(json.dumps({"waiting": waiting, "outcomes": outcomes, "left": pool.stats()["waiting"]}))
"""


def test_waiters_for_a_connection_are_refused_at_once_when_an_outage_begins(database_url):
    result = run_script(SCRIPT, database_url)
    assert result["waiting"] == 3
    outcomes = result["outcomes"]
    for name in ("request-1", "monitor", "request-2"):
        assert outcomes[name].startswith("refused after "), outcomes
        assert float(outcomes[name].split()[2]) < 1.0, outcomes  # not the 10 s checkout timeout
    assert outcomes["after"] == "served"
    assert result["left"] == 0

"""greenlets/db/pool.py: a priority waiter (a run monitor's claim, a row restart) gets the next free
connection ahead of the requests queued before it; among each kind, first come, first served.

In a process of its own (psycogreen patched, gevent's hub), on the test's real PostgreSQL: a pool of
one connection, held while six greenlets queue for it, then handed round."""
from tests.support.scripts import run_script

SCRIPT = """
import json, sys
import gevent
import psycogreen.gevent
psycogreen.gevent.patch_psycopg()
from greenlets.db.pool import Pool

pool = Pool(sys.argv[1], size=1, timeout_s=10)
order = []

def use(name, priority):
    with pool.statement(priority=priority) as cur:
        cur.execute("SELECT 1")
        order.append(name)
        gevent.sleep(0.01)

held = pool.acquire()
waiters = [gevent.spawn(use, "request-1", False), gevent.spawn(use, "request-2", False),
           gevent.spawn(use, "monitor-1", True), gevent.spawn(use, "request-3", False),
           gevent.spawn(use, "monitor-2", True), gevent.spawn(use, "request-4", False)]
for waiter in waiters:
    gevent.sleep(0.01)  # queued in this order
waiting = pool.stats()["waiting"]
pool.release(held)
gevent.joinall(waiters, timeout=10)
print(json.dumps({"order": order, "waiting": waiting, "after": pool.stats()["waiting"]}))
"""


def test_priority_waiters_get_the_next_free_connection_first(database_url):
    result = run_script(SCRIPT, database_url)
    assert result["waiting"] == 6
    assert result["order"] == ["monitor-1", "monitor-2", "request-1", "request-2", "request-3", "request-4"]
    assert result["after"] == 0

"""A run through the load balancer survives a worker's SIGKILL and another instance's SIGTERM mid-run:
it completes, every row ends at exactly 0 and no tick is lost or doubled."""
from tests.support.service import start_run
from tests.support.wait import wait_until

ROWS = 5000
START_VALUE = 20
TICK_MS = 100
MAX_CONCURRENCY = 1000  # 10,000 ticks/s over the cluster: a steady load for 2 cores, about 10 s of run


def ticks_so_far(db, run_id):
    return db.fetch_value("SELECT coalesce(sum(ticks), 0) FROM rows WHERE run_id = %s", (run_id,))


def test_a_run_completes_exactly_through_a_worker_kill_and_an_instance_stop(make_cluster, db):
    cluster = make_cluster(instances=2, workers=2)
    cluster.wait_balanced(4)
    survivor, leaver = cluster.instances
    total = ROWS * START_VALUE

    run = start_run(cluster, rows=ROWS, start_value=START_VALUE, tick_ms=TICK_MS, max_concurrency=MAX_CONCURRENCY)
    wait_until(lambda: ticks_so_far(db, run["id"]) >= total // 5, 30, interval=0.05, message="the run did not start")
    killed = cluster.kill_worker(survivor)
    at_kill = ticks_so_far(db, run["id"])
    cluster.wait_until(lambda: ticks_so_far(db, run["id"]) >= at_kill + total // 10, 30,
                       "the run did not go on after a worker was killed", interval=0.05)
    cluster.terminate(leaver)  # returns once its nodes have handed their rows back and exited
    assert cluster.wait_until(lambda: cluster.answer(f"/runs/{run['id']}"), 10, "no answer")["status"] == "running"

    done = cluster.wait_for_run(run["id"], timeout=60)

    assert killed not in survivor.worker_pids()
    assert (done["done"], done["ticks"], done["failed"], done["pending"], done["active"]) == (ROWS, total, 0, 0, 0)
    assert db.fetch_all("SELECT value, ticks, state, count(*) FROM rows WHERE run_id = %s GROUP BY 1, 2, 3",
                        (run["id"],)) == [(0, START_VALUE, "done", ROWS)]

"""The runner's faults: each kind of the schedule mapped to a fault injector, and the cluster made whole after it.

    inject(kind, target, rng, duration_s) -> Fault    returns once the fault is over (a kill: done)
    restore(kind, target)                            after a fault that took an instance down, a new one

A Fault is (kind, detail, started_at, ended_at) on time.time(), the database's clock on this machine.
`target` is a ChaosTarget: the Cluster (tests/support/cluster.py), the service's database URL and, for
the PostgreSQL restart, a server the harness controls (stop(), start()). Choices (which instance,
which worker) come from `rng`, so a seed replays the same schedule.

The injectors proper are chaos/faults.py's (the fault tests' branch), with the same names and
signatures as the interim ones below; until it is merged these stand in for it, built from the
Cluster's own process handles, and `restart_postgres` is left out of schedules.
"""
import os
import signal
import time
from dataclasses import dataclass

import psycopg2
import requests

REPLACE_TIMEOUT_S = 60.0
FAILOVER_GAP_S = 0.7        # "every connection cut twice, 0.7 s apart" (what a failover looks like)


@dataclass
class ChaosTarget:
    cluster: object
    database_url: str
    postgres: object = None          # .stop() / .start(), or None
    workers: int = 2
    shards: int = 256


@dataclass
class Fault:
    kind: str
    detail: str
    started_at: float
    ended_at: float


# --- interim injectors (chaos/faults.py's interface) -------------------------------------------------

def _fault(kind, detail, started_at):
    return Fault(kind, detail, started_at, time.time())


def kill_worker(instance, pid=None):
    started = time.time()
    return _fault("kill_worker", f"worker {instance.kill_worker(pid)}", started)


def kill_instance(instance):
    started = time.time()
    instance.kill()  # the whole process group
    return _fault("kill_instance", f"master {instance.process.pid}", started)


def terminate_instance(instance, timeout=45.0):
    started = time.time()
    code = instance.stop(timeout)
    return _fault("terminate_instance", f"master {instance.process.pid} exited with {code}", started)


def pause_node(pid, seconds):
    started = time.time()
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)  # holding the fault for its stated duration, not waiting for anything
    finally:
        os.kill(pid, signal.SIGCONT)
    return _fault("pause_node", f"worker {pid} stopped for {seconds} s", started)


def _terminate(database_url, listen_only):
    sql = ("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
           " WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name LIKE 'greenrow %%'"
           + (" AND query = 'LISTEN greenrow'" if listen_only else ""))
    conn = psycopg2.connect(database_url, application_name="chaos injector")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0]
    finally:
        conn.close()


def kill_listen_connections(database_url):
    started = time.time()
    return _fault("kill_listen_connections", f"{_terminate(database_url, True)} LISTEN connections", started)


def kill_service_connections(database_url, times=1, gap_s=FAILOVER_GAP_S):
    started = time.time()
    killed = []
    for attempt in range(times):
        if attempt:
            time.sleep(gap_s)  # the gap between the two cuts is the fault's own shape
        killed.append(_terminate(database_url, False))
    return _fault("kill_service_connections", f"connections terminated per cut: {killed}", started)


# --- the schedule's kinds ---------------------------------------------------------------------------

def _live_instances(target):
    return [i for i in target.cluster.instances if i.process is not None and i.process.poll() is None]


def _worker(target, rng):
    instance = rng.choice(_live_instances(target))
    pids = instance.worker_pids()
    return instance, pids[rng.randrange(len(pids))]


INJECTORS = {
    "kill_worker": lambda target, rng, seconds: kill_worker(*_worker(target, rng)),
    "kill_instance": lambda target, rng, seconds: kill_instance(rng.choice(_live_instances(target))),
    "term_instance": lambda target, rng, seconds: terminate_instance(rng.choice(_live_instances(target))),
    "stop_node": lambda target, rng, seconds: pause_node(_worker(target, rng)[1], seconds),
    "kill_listen": lambda target, rng, seconds: kill_listen_connections(target.database_url),
    "kill_connections": lambda target, rng, seconds: kill_service_connections(target.database_url, times=2),
    "restart_postgres": lambda target, rng, seconds: _stop_postgres_for(target.postgres, seconds),
}
# Faults that can cut a request off mid-way: the load balancer's 502/504 during them is an unknown outcome.
DROPS_REQUESTS = frozenset({"kill_worker", "kill_instance", "stop_node"})
TAKES_AN_INSTANCE = frozenset({"kill_instance", "term_instance"})


def _stop_postgres_for(postgres, seconds):
    started = time.time()
    postgres.stop()
    try:
        time.sleep(seconds)  # holding the outage for its duration
    finally:
        postgres.start()
    return _fault("restart_postgres", f"PostgreSQL down for {seconds} s", started)


def available_kinds(target):
    return [kind for kind in INJECTORS if kind != "restart_postgres" or target.postgres is not None]


def inject(kind, target, rng, duration_s):
    fault = INJECTORS[kind](target, rng, duration_s)
    fault.kind = kind  # the schedule's name for it
    return fault


def restore(kind, target):
    """Start a new instance behind nginx after one was taken down (the dead one stays in nginx's list, as a
    container that died would, and in the cluster's, so its log is read at the end)."""
    if kind in TAKES_AN_INSTANCE:
        target.cluster.add_instance(workers=target.workers, timeout=REPLACE_TIMEOUT_S)


def wait_until_whole(target, nodes, timeout):
    """Every node live again and every shard held: the cluster is back before the next fault."""
    target.cluster.wait_until(lambda: _whole(target, nodes), timeout, f"{nodes} live nodes holding every shard")


def _whole(target, nodes):
    try:
        live = (target.cluster.answer("/nodes") or {}).get("nodes", [])
    except (AssertionError, ValueError, requests.RequestException):  # nginx's 502 while an instance starts
        return None
    return len(live) == nodes and sum(node["shards"] for node in live) == target.shards or None

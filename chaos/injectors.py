"""The faults the runner injects, behind one small interface, on the cluster it started.

    inject(kind, target, rng) -> Injected       the fault is in effect (or, for a kill, done)
    Injected.heal()                             ends it (SIGCONT, PostgreSQL started, the instance replaced)

`target` is a ChaosTarget: the Cluster (tests/support/cluster.py), the database URL the service uses,
an admin URL on the same server and, for the PostgreSQL restart, a controller with stop() and
start(). Choices (which instance, which worker) come from `rng`, so a seed replays the same schedule.

The fault injectors proper belong to chaos/faults.py (the fault tests' branch). Until it lands, the
few injectors here are thin and built from the Cluster's own methods; `restart_postgres` needs a
server the harness controls and is left out of the schedule without one.
"""
import os
import signal
import time
from dataclasses import dataclass, field

import psycopg2
import requests

from tests.support.wait import wait_until

TERMINATE_GAP_S = 0.7       # "every connection cut twice, 0.7 s apart" (what a failover looks like)
REPLACE_TIMEOUT_S = 60.0


@dataclass
class ChaosTarget:
    cluster: object
    database_url: str
    postgres: object = None          # .stop() / .start(), or None
    lease_ttl_ms: int = 5000
    workers: int = 2
    shards: int = 256


@dataclass
class Injected:
    kind: str
    detail: str
    injected_at: float
    healed_at: float = None
    _heal: object = field(default=None, repr=False)

    def heal(self):
        if self._heal is not None:
            self._heal()
        self.healed_at = time.time()


# --- processes ---------------------------------------------------------------------------------------

def _live_instances(target):
    return [i for i in target.cluster.instances if i.process is not None and i.process.poll() is None]


def _pick_worker(target, rng):
    instance = rng.choice(_live_instances(target))
    pids = instance.worker_pids()
    return instance, pids[rng.randrange(len(pids))]


def kill_worker(target, rng):
    instance, pid = _pick_worker(target, rng)
    os.kill(pid, signal.SIGKILL)
    return Injected("kill_worker", f"SIGKILL worker {pid} of {instance.name}", time.time())


def stop_node(target, rng):
    """SIGSTOP a worker past its lease; heal sends SIGCONT (it must notice it lost its shards)."""
    instance, pid = _pick_worker(target, rng)
    os.kill(pid, signal.SIGSTOP)
    return Injected("stop_node", f"SIGSTOP worker {pid} of {instance.name}", time.time(),
                    _heal=lambda: os.kill(pid, signal.SIGCONT))


def kill_instance(target, rng):
    victim = rng.choice(_live_instances(target))
    os.killpg(victim.process.pid, signal.SIGKILL)
    victim.process.wait(10)
    return Injected("kill_instance", f"SIGKILL instance {victim.name}", time.time(),
                    _heal=lambda: _replace(target, victim))


def term_instance(target, rng):
    """SIGTERM an instance with calls in flight: its nodes hand their shards back within the graceful timeout."""
    victim = rng.choice(_live_instances(target))
    victim.process.send_signal(signal.SIGTERM)
    return Injected("term_instance", f"SIGTERM instance {victim.name}", time.time(),
                    _heal=lambda: _replace(target, victim))


def _replace(target, victim):
    """Wait for the instance to be gone, then start a new one behind nginx.

    The dead one stays in the upstream list, as a container that died would (nginx fails over on the
    refused connection), and in the cluster's list, so its log is read at the end.
    """
    victim.process.wait(REPLACE_TIMEOUT_S)
    target.cluster.add_instance(workers=target.workers, timeout=REPLACE_TIMEOUT_S)


# --- database connections -------------------------------------------------------------------------

SERVICE_BACKENDS = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE datname = current_database() AND application_name LIKE 'greenrow %%' AND pid <> pg_backend_pid()
   AND (%(listen_only)s = false OR query LIKE 'LISTEN%%')
"""


def _terminate(target, listen_only):
    conn = psycopg2.connect(target.database_url, application_name="chaos injector")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(SERVICE_BACKENDS, {"listen_only": listen_only})
            return cur.rowcount
    finally:
        conn.close()


def kill_listen(target, rng):
    count = _terminate(target, listen_only=True)
    return Injected("kill_listen", f"pg_terminate_backend on {count} LISTEN connections", time.time())


def kill_connections(target, rng):
    first = _terminate(target, listen_only=False)
    time.sleep(TERMINATE_GAP_S)  # the fault's own shape (two cuts 0.7 s apart), not a synchronisation
    second = _terminate(target, listen_only=False)
    return Injected("kill_connections", f"pg_terminate_backend on every service connection, twice "
                                        f"({first} then {second})", time.time())


def restart_postgres(target, rng):
    target.postgres.stop()
    return Injected("restart_postgres", "PostgreSQL stopped (pg_ctl stop -m fast)", time.time(),
                    _heal=target.postgres.start)


INJECTORS = {
    "kill_worker": kill_worker,
    "kill_instance": kill_instance,
    "term_instance": term_instance,
    "stop_node": stop_node,
    "kill_listen": kill_listen,
    "kill_connections": kill_connections,
    "restart_postgres": restart_postgres,
}
# Faults that can cut a request off mid-way: the load balancer's 502/504 during them is an unknown outcome.
DROPS_REQUESTS = frozenset({"kill_worker", "kill_instance", "stop_node"})


def available_kinds(target):
    return [kind for kind in INJECTORS if kind != "restart_postgres" or target.postgres is not None]


def inject(kind, target, rng):
    return INJECTORS[kind](target, rng)


def wait_until_whole(target, nodes, timeout):
    """Every node live again and every shard held: the cluster is back before the next fault."""
    target.cluster.wait_until(lambda: _whole(target, nodes), timeout, f"{nodes} live nodes holding every shard")


def _whole(target, nodes):
    try:
        live = (target.cluster.answer("/nodes") or {}).get("nodes", [])
    except (AssertionError, ValueError, requests.RequestException):  # nginx's 502 while an instance starts
        return None
    return len(live) == nodes and sum(node["shards"] for node in live) == target.shards or None
